/**
 * `cert-renew run` against a Pebble that misbehaves: rejecting 30 % of nonces, killed in the middle of a
 * run, and requiring external account binding (right and wrong keys).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Plan } from '../../src/plan/build-plan.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify, standalone, startCli } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport, readStored } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';
import { errorLines } from './redis-fixtures.js';

function certificates(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    domains: [`${prefix}-${i}.example.test`, `www.${prefix}-${i}.example.test`],
  }));
}

/** Every certificate directory in the store holds a key that matches its certificate. */
async function assertStoreConsistent(store: string): Promise<string[]> {
  const names = (await readdir(store).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  const complete: string[] = [];
  for (const name of names) {
    const files = await readdir(join(store, name));
    if (!files.includes('cert.pem')) {
      assert.ok(!files.includes('privkey.pem'), `${name}: a key without a certificate`);
      continue;
    }
    const stored = await readStored(store, name);
    assert.ok(stored.keyMatches, `${name}: the stored key matches the stored certificate`);
    complete.push(name);
  }
  return complete.sort();
}

describe('Pebble rejecting 30 % of nonces', () => {
  let pebble: Pebble;
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-acme-nonce-');
    pebble = await startPebble({ nonceRejectPercent: 30 });
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('every certificate is still issued (badNonce retried), exit 0', async () => {
    const store = join(tmp.path, 'certs');
    const certs = certificates('nonce', 4);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, standalone(pebble)), store, certs),
    );
    const r = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      parseReport(r.stdout).certificates.map((c) => c.outcome),
      ['renewed', 'renewed', 'renewed', 'renewed'],
    );
    const root = await pebble.roots();
    for (const c of certs) assert.ok((await readAndVerify(store, c.name, root)).keyMatches);
    assert.ok(/Configured to reject 30% of good nonces/.test(pebble.output()));
  });
});

describe('Pebble killed in the middle of a run', () => {
  let pebble: Pebble;
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-acme-kill-');
    pebble = await startPebble();
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('the affected certificates fail with one line each, exit 1, nothing damaged; Pebble back, the next run completes', async () => {
    const store = join(tmp.path, 'certs');
    const certs = certificates('kill', 5);
    const names = certs.map((c) => c.name);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, standalone(pebble)), store, certs),
    );

    // Kill Pebble as soon as the first certificate is stored. A generous timeout: on a busy machine a
    // short one turns "unreachable" into ISSUER_TIMEOUT; the issuer's breaker makes the rest fail fast.
    const running = startCli(
      ['-m', manifest, 'run', '--json', '--concurrency', '3', '--timeout', '10m'],
      {},
      300_000,
    );
    await running.waitForStderr(/^cert-renew info: kill-\d: renewed, valid until/);
    await pebble.kill();
    const r = await running.done;
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    const renewed = report.certificates.filter((c) => c.outcome === 'renewed').map((c) => c.name);
    const failed = report.certificates.filter((c) => c.outcome === 'failed');
    assert.ok(renewed.length >= 1, 'the first certificate was stored before the kill');
    assert.ok(failed.length >= 1, 'some certificates were still to do when Pebble went away');
    assert.equal(renewed.length + failed.length, certs.length, JSON.stringify(report.summary));
    for (const c of failed) {
      assert.ok(c.error?.code === 'ISSUER_UNAVAILABLE', `${c.name}: ${c.error?.code} ${c.error?.message}`);
      const lines = errorLines(r.stderr, c.name);
      assert.equal(lines.length, 1, `${c.name}: one error line:\n${r.stderr}`);
      assert.ok(!(lines[0] as string).includes('\n'));
      assert.match(lines[0] as string, /cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/, lines[0]);
    }

    // Nothing stored is damaged: the renewed ones are complete and consistent, the failed ones absent.
    assert.deepEqual(await assertStoreConsistent(store), [...renewed].sort());

    // A run while Pebble is still down does not hammer it: the failed ones back off (exit 1).
    const failedNames = failed.map((c) => c.name);
    const plan = JSON.parse((await runCli(['-m', manifest, 'plan', '--json'])).stdout) as Plan;
    for (const item of plan.items) {
      if (failedNames.includes(item.name)) {
        assert.equal(item.action, 'backoff', `${item.name}: ${item.message}`);
        assert.equal(item.failures?.count, 1);
      } else {
        assert.equal(item.action, 'keep', `${item.name}: ${item.message}`);
      }
    }

    // Pebble back (a new one: new roots, the stored account unknown to it): --force skips the backoff.
    await pebble.restart();
    const next = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '4', '--force']);
    assert.equal(next.code, 0, next.stderr);
    const nextReport = parseReport(next.stdout);
    assert.deepEqual(
      nextReport.certificates.map((c) => c.outcome),
      names.map(() => 'renewed'),
    );
    const root = await pebble.roots();
    for (const name of names) assert.ok((await readAndVerify(store, name, root)).keyMatches, name);
    assert.deepEqual(await assertStoreConsistent(store), [...names].sort());
    // The failure records are cleared by the success.
    const after = JSON.parse((await runCli(['-m', manifest, 'plan', '--json'])).stdout) as Plan;
    assert.deepEqual(
      after.items.map((i) => [i.action, i.failures]),
      names.map(() => ['keep', undefined]),
    );
  });
});

describe('Pebble requiring external account binding', () => {
  const kid = 'kid-ops';
  const hmacKey = randomBytes(32).toString('base64url');
  let pebble: Pebble;
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-acme-eab-');
    pebble = await startPebble({ eabRequired: true, eabKeys: { [kid]: hmacKey } });
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  async function eabManifest(label: string): Promise<{ manifest: string; store: string }> {
    const store = join(tmp.path, `${label}-certs`);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(
        pebbleIssuer(pebble, standalone(pebble), { eab: { kid, hmacKey: { env: 'EAB_KEY' } } }),
        store,
        [{ name: `eab-${label}`, domains: [`${label}.eab.example.test`] }],
      ),
      `${label}-manifest.json`,
    );
    return { manifest, store };
  }

  /** newAccount requests Pebble has logged so far. */
  const newAccountPosts = () =>
    pebble
      .output()
      .split('\n')
      .filter((l) => /POST \/sign-me-up\b/.test(l)).length;

  test('the right key: the account is bound and the certificate issued', async () => {
    const { manifest, store } = await eabManifest('right');
    const r = await runCli(['-m', manifest, 'run', '--json'], { env: { EAB_KEY: hmacKey } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseReport(r.stdout).certificates[0]?.outcome, 'renewed');
    assert.ok((await readAndVerify(store, 'eab-right', await pebble.roots())).keyMatches);
    assert.ok(!r.stderr.includes(hmacKey) && !r.stdout.includes(hmacKey), 'the HMAC key is never printed');
  });

  test('a wrong key: exit 1, the CA detail and an EAB hint, one newAccount request, nothing stored', async () => {
    const { manifest, store } = await eabManifest('wrong');
    const wrongKey = randomBytes(32).toString('base64url');
    const before = newAccountPosts();
    const r = await runCli(['-m', manifest, 'run', '--json'], { env: { EAB_KEY: wrongKey } });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const c = parseReport(r.stdout).certificates[0];
    assert.equal(c?.outcome, 'failed');
    assert.equal(c?.error?.code, 'ISSUER_REJECTED');
    assert.match(c?.error?.message ?? '', /external account binding/, 'the CA detail');
    assert.match(c?.error?.message ?? '', /eab kid and hmacKey/, 'what to do');
    const lines = errorLines(r.stderr, 'eab-wrong');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(!r.stderr.includes(wrongKey) && !r.stdout.includes(wrongKey), 'the HMAC key is never printed');

    // Not retried: Pebble saw exactly one newAccount request, and one failed attempt is recorded.
    // Pebble's log reaches us through a pipe, maybe late on a busy machine: a hang guard of a minute.
    for (let i = 0; i < 600 && newAccountPosts() === before; i++) await sleep(100);
    assert.equal(newAccountPosts() - before, 1, 'one newAccount request');
    const attempts = JSON.parse(await readFile(join(store, 'eab-wrong', 'attempts.json'), 'utf8')) as {
      failureCount: number;
      lastErrorCode: string;
    };
    assert.equal(attempts.failureCount, 1);
    assert.equal(attempts.lastErrorCode, 'ISSUER_REJECTED');
    assert.deepEqual(
      (await readdir(join(store, 'eab-wrong'))).filter((f) => f.endsWith('.pem')),
      [],
      'no certificate or key stored',
    );
  });
});
