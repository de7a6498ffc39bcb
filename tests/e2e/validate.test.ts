/**
 * `cert-renew validate` as operators and CI run it: the built binary, spawned with a stripped environment and
 * NO_COLOR=1. Exit codes 0/1/2, stdout per format, never a stack trace. Build first (npx tsc -p tsconfig.json).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TempDir, tempDir } from '../harness/process.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin', 'cert-renew');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd, env: { PATH: process.env.PATH, NO_COLOR: '1' }, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function noStack(run: Run): void {
  assert.ok(!/^\s+at /m.test(run.stderr), `stack trace on stderr:\n${run.stderr}`);
  assert.ok(!/^\s+at /m.test(run.stdout), `stack trace on stdout:\n${run.stdout}`);
  assert.ok(!/internal error/.test(run.stderr + run.stdout), run.stderr + run.stdout);
}

const example = (name: string) => readFileSync(join(root, 'examples', name), 'utf8');

describe('cert-renew validate (built CLI)', () => {
  let dir: TempDir;
  const cases: [name: string, content: string | Buffer, exit: number][] = [];
  before(async () => {
    dir = await tempDir();
    const quick = example('quickstart.json');
    const bad = JSON.parse(quick);
    bad.certificates[0].domains = ['*.example.test'];
    bad.issuers.local = {
      type: 'acme',
      directory: 'letsencrypt',
      challenge: { type: 'http-01', webroot: '/srv/acme' },
    };
    const stepShort = JSON.parse(example('nginx-step-ca.json'));
    stepShort.issuers['internal-ca'].lifetime = '24h';
    cases.push(
      ['truncated-1.json', quick.slice(0, 1), 1],
      ['truncated-2.json', quick.slice(0, quick.length / 2), 1],
      ['truncated-3.json', quick.slice(0, -2), 1],
      ['bom.json', `\ufeff${quick}`, 0],
      ['crlf.json', quick.replace(/\n/g, '\r\n'), 0],
      ['array.json', '[1, 2, 3]', 1],
      ['string.json', '"manifest"', 1],
      ['empty.json', '', 1],
      ['deep.json', `{"version": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`, 1],
      ['odd-unicode.json', quick.replace('app.example.test', 'app\u202e\u200b.example.test'), 1],
      ['lone-surrogate.json', quick.replace('"app"', '"app\\ud800"'), 1],
      ['nul.json', quick.replace('"app"', '"a\u0000pp"'), 1],
      ['invalid.json', JSON.stringify(bad, null, 2), 1],
      ['step-24h.json', JSON.stringify(stepShort, null, 2), 0],
      ['binary.json', Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]), 2],
      ['huge.json', `{"version": 1, "x": "${'x'.repeat(6 * 1024 * 1024)}"}`, 2],
      ['duplicate.json', quick.replace('"version": 1,', '"version": 1,\n  "version": 1,'), 1],
    );
    for (const [name, content] of cases) await writeFile(join(dir.path, name), content);
  });
  after(async () => {
    await dir.remove();
  });

  test('every example is valid (exit 0)', async () => {
    for (const name of [
      'quickstart.json',
      'nginx-step-ca.json',
      'redis-fleet.json',
      'wildcard-dns01.json',
      'wildcard-rfc2136.json',
    ]) {
      const run = await cli(['validate', join('examples', name)], root);
      noStack(run);
      assert.equal(run.code, 0, `${name}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /valid \(\d+ certificates?\)\n$/);
    }
  });

  test('malformed files: the right exit code, one clear line, no stack', async () => {
    const runs = await Promise.all(cases.map(([name]) => cli(['validate', name], dir.path)));
    cases.forEach(([name, , exit], i) => {
      const run = runs[i] as Run;
      noStack(run);
      assert.equal(run.code, exit, `${name}: ${run.stdout}${run.stderr}`);
      if (exit === 2) assert.match(run.stdout, new RegExp(`^${name}: error: .+\n$`));
      if (exit === 1)
        assert.match(run.stdout, new RegExp(`^${name.replace('.', '\\.')}:\\d+:\\d+: error: `, 'm'));
    });
  });

  test('the wildcard message names the pointer, the line and the challenge', async () => {
    const run = await cli(['validate', 'invalid.json'], dir.path);
    assert.match(
      run.stdout,
      /^invalid\.json:\d+:\d+: error: certificates\/0\/domains\/0: '\*\.example\.test' is a wildcard; wildcards need a dns-01 challenge/m,
    );
  });

  test('--strict fails on warnings; --interval changes them', async () => {
    const warn = await cli(['validate', '--strict', 'step-24h.json'], dir.path);
    assert.equal(warn.code, 1);
    assert.match(warn.stdout, /warning: issuers\/internal-ca\/lifetime: the renewal window is 12h/);
    assert.match(warn.stdout, /step-24h\.json: invalid under --strict \(2 certificates, 1 warning\)/);
    assert.doesNotMatch(warn.stdout, /: valid/);
    const hourly = await cli(['validate', '--strict', '--interval', '1h', 'step-24h.json'], dir.path);
    assert.equal(hourly.code, 0, hourly.stdout);
  });

  test('several files: the worst exit code wins', async () => {
    const run = await cli(['validate', 'bom.json', 'invalid.json', 'missing.json'], dir.path);
    noStack(run);
    assert.equal(run.code, 2);
    assert.match(run.stdout, /^missing\.json: error: no such file \(ENOENT\)$/m);
  });

  test('--format json', async () => {
    const run = await cli(
      ['validate', '--format', 'json', 'invalid.json', 'bom.json', 'missing.json'],
      dir.path,
    );
    assert.equal(run.code, 2);
    const report = JSON.parse(run.stdout);
    assert.equal(report.version, 1);
    assert.deepEqual(
      report.files.map((f: { file: string; valid: boolean }) => [f.file, f.valid]),
      [
        ['invalid.json', false],
        ['bom.json', true],
        ['missing.json', false],
      ],
    );
    const error = report.files[0].errors[0];
    assert.deepEqual(Object.keys(error), ['pointer', 'line', 'column', 'message']);
  });

  test('--format github', async () => {
    const run = await cli(['validate', '--format', 'github', 'invalid.json'], dir.path);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /^::error file=invalid\.json,line=\d+,col=\d+,title=cert-renew::certificates\/0\/domains\/0: /m,
    );
  });

  test('capped output still counts every problem: the summary and the github totals', async () => {
    const many = JSON.parse(example('quickstart.json'));
    // 1,500 certificates whose 2-day window leaves fewer than three daily runs: a warning each.
    many.certificates = Array.from({ length: 1500 }, (_, i) => ({
      name: `c${i}`,
      domains: [`c${i}.example.test`],
      renewBefore: '2d',
    }));
    await writeFile(join(dir.path, 'many.json'), JSON.stringify(many));
    const human = await cli(['validate', 'many.json'], dir.path);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /501 more problems not shown\n/);
    assert.match(human.stdout, /^many\.json: valid \(1500 certificates, 1500 warnings\)$/m);
    const github = await cli(['validate', '--format', 'github', 'many.json'], dir.path);
    assert.match(github.stdout, /^cert-renew validate: 1 file, 0 errors, 1500 warnings$/m);
  });

  test('usage errors exit 2 without a stack', async () => {
    for (const args of [
      ['validate', '--interval', 'daily', 'bom.json'],
      ['validate', '--interval', '0s', 'bom.json'],
      ['validate', '--format', 'xml', 'bom.json'],
    ]) {
      const run = await cli(args, dir.path);
      noStack(run);
      assert.equal(run.code, 2, args.join(' '));
      assert.ok(run.stderr.trim().length > 0);
    }
  });
});
