/**
 * A daily command takes the verdict kept for a manifest checked before (src/manifest/verdicts.ts) instead of
 * checking it again, and only for the very same text, interval, bundle and schema. Observed on a copy of the
 * built install (as tests/e2e/code-cache.test.ts): a verdict file planted with another warning's text shows
 * which runs took it — `plan`, `status` and `run` do; `validate` never does; a manifest changed by one
 * character, another `--interval`, a reinstalled bundle, an edited schema or a file others may write do not.
 * Warnings and reports are the same with and without the verdict; an invalid manifest never gets one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TempDir, tempDir } from '../harness/process.js';
import { cliEnv, REPO } from './cli.js';

let tmp: TempDir;
let install: string;
let bundleDir: string;
let work: string;
const manifest = {
  version: 1,
  defaults: { issuer: 'ca', store: 'files' },
  issuers: { ca: { type: 'local-ca' } },
  stores: { files: { type: 'filesystem', path: 'certs' } },
  // A renewal window of 2 days leaves fewer than three daily runs: a warning, which a 12h interval has not.
  certificates: [{ name: 'www', domains: ['www.example.test'], renewBefore: '2d' }],
};
const WINDOW_WARNING = /certificates\/0\/renewBefore: the renewal window is 2d .* at an interval of 24h/;

before(async () => {
  tmp = await tempDir('cert-renew-verdicts-e2e-');
  install = join(tmp.path, 'install');
  bundleDir = join(install, 'dist', 'bundle');
  await mkdir(bundleDir, { recursive: true });
  for (const entry of ['bin', 'package.json', 'schemas']) {
    await cp(join(REPO, entry), join(install, entry), { recursive: true });
  }
  for (const file of ['cli.cjs', 'checks.cjs'])
    await cp(join(REPO, 'dist', 'bundle', file), join(bundleDir, file));
  await symlink(join(REPO, 'node_modules'), join(install, 'node_modules'), 'dir');
  work = join(tmp.path, 'work');
  await mkdir(work);
  await writeFile(join(work, 'manifest.json'), JSON.stringify(manifest, null, 2));
});
after(() => tmp?.remove());

/** The copied CLI with these arguments in the work directory: exit code, stdout, stderr. */
function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    [join(install, 'bin', 'cert-renew'), '-m', 'manifest.json', ...args],
    {
      cwd: work,
      env: cliEnv(),
      encoding: 'utf8',
      timeout: 120_000, // a hang guard, not a measure
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The plan as JSON, without its time. */
function planJson(...args: string[]): unknown {
  const result = cli('plan', '--json', ...args);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  delete report.generatedAt;
  return report;
}

/** The verdict files kept (cli.cjs.verdict.<hash>-<interval>.json beside the bundle). */
async function verdictFiles(): Promise<string[]> {
  return (await readdir(bundleDir))
    .filter((name) => name.startsWith('cli.cjs.verdict.') && name.endsWith('.json'))
    .map((name) => join(bundleDir, name));
}

/** Every kept verdict's warnings replaced by one saying `text`: a run that shows it took a verdict. */
async function plantVerdictWarning(text: string): Promise<void> {
  for (const file of await verdictFiles()) {
    const data = JSON.parse(await readFile(file, 'utf8')) as { warnings: unknown[] };
    data.warnings = [{ severity: 'warning', pointer: '/certificates/0', message: text }];
    await writeFile(file, JSON.stringify(data), { mode: 0o600 });
  }
}

test('the first daily run checks and keeps the verdict; the next ones take it, with the same warnings and report', async () => {
  const first = cli('plan', '--json');
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, WINDOW_WARNING);
  const [kept, ...more] = await verdictFiles();
  assert.equal(more.length, 0);
  assert.equal((await stat(kept as string)).mode & 0o777, 0o600, 'it holds the manifest: its owner’s alone');
  assert.equal(
    JSON.parse(await readFile(kept as string, 'utf8')).text,
    await readFile(join(work, 'manifest.json'), 'utf8'),
  );
  const expected = planJson();
  const second = cli('plan', '--json');
  assert.equal(second.stderr, first.stderr, 'the same warning, from the verdict');
  assert.deepEqual(planJson(), expected);

  await plantVerdictWarning('KEPT VERDICT');
  for (const command of [['plan'], ['status'], ['run']]) {
    const result = cli(...command);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /manifest\.json: certificates\/0: KEPT VERDICT/,
      `${command[0]} took the verdict`,
    );
    assert.doesNotMatch(result.stderr, WINDOW_WARNING, command[0]);
  }
  // validate (CI) always checks in full.
  const validate = cli('validate');
  assert.equal(validate.code, 0, validate.stderr);
  assert.match(validate.stdout, WINDOW_WARNING);
  assert.doesNotMatch(validate.stdout + validate.stderr, /KEPT VERDICT/);
});

test('another text, another interval, a reinstalled bundle, an edited schema: checked again', async () => {
  await plantVerdictWarning('KEPT VERDICT');
  // One character changed, the length kept: `"version": 2` is invalid, whatever was kept for `1`.
  const text = await readFile(join(work, 'manifest.json'), 'utf8');
  await writeFile(join(work, 'manifest.json'), text.replace('"version": 1', '"version": 2'));
  const invalid = cli('plan');
  assert.equal(invalid.code, 2, invalid.stderr);
  assert.match(invalid.stderr, /manifest\.json:2:\d+: version: /);
  await writeFile(join(work, 'manifest.json'), text);
  assert.match(cli('plan').stderr, /KEPT VERDICT/, 'the verdict of the text back is still there');

  // The renewal-window warning depends on the interval: none at 12h, and the 24h verdict stays as it was.
  const half = cli('plan', '--interval', '12h');
  assert.equal(half.code, 0, half.stderr);
  assert.equal(half.stderr, '');
  assert.match(cli('plan').stderr, /KEPT VERDICT/);

  // A reinstall (the bundle's mtime) or an edited schema: verdicts of another bundle or schema.
  const bundle = join(install, 'dist', 'bundle', 'cli.cjs');
  await utimes(bundle, new Date('2031-02-03T04:05:06Z'), new Date('2031-02-03T04:05:06Z'));
  const reinstalled = cli('plan');
  assert.match(reinstalled.stderr, WINDOW_WARNING);
  assert.doesNotMatch(reinstalled.stderr, /KEPT VERDICT/);
  await plantVerdictWarning('KEPT VERDICT');
  const schema = join(install, 'schemas', 'certificate-manifest.schema.json');
  const shipped = await readFile(schema, 'utf8');
  await writeFile(schema, shipped);
  await utimes(schema, new Date('2031-02-03T04:05:06Z'), new Date('2031-02-03T04:05:07Z'));
  const edited = cli('plan');
  assert.match(edited.stderr, WINDOW_WARNING);
  assert.doesNotMatch(edited.stderr, /KEPT VERDICT/);
});

test('a verdict file others may write is never taken, and is replaced', async () => {
  await plantVerdictWarning('KEPT VERDICT');
  assert.match(cli('plan').stderr, /KEPT VERDICT/);
  const files = await verdictFiles();
  for (const file of files) await chmod(file, 0o622);
  const result = cli('plan');
  assert.match(result.stderr, WINDOW_WARNING);
  assert.doesNotMatch(result.stderr, /KEPT VERDICT/);
  const modes = await Promise.all(files.map(async (file) => (await stat(file)).mode & 0o777));
  assert.ok(modes.includes(0o600), 'the one this run used is replaced by a file of its own');
  assert.match(cli('plan').stderr, WINDOW_WARNING, 'the replacement holds the real warning');
});

test('an invalid manifest gets no verdict: every run says what is wrong', async () => {
  await writeFile(join(work, 'bad.json'), JSON.stringify({ ...manifest, certificates: 'none' }));
  for (let i = 0; i < 2; i++) {
    const result = spawnSync(
      process.execPath,
      [join(install, 'bin', 'cert-renew'), '-m', 'bad.json', 'plan'],
      {
        cwd: work,
        env: cliEnv(),
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /bad\.json:1:\d+: certificates: /);
  }
});
