/**
 * The renewal policy on real short-lived ACME certificates: Pebble issues certificates of a chosen
 * lifetime (`certificateValidityPeriod`), and in-process runs of the CLI with a fixed clock show when
 * `plan` starts calling them due — a fraction of the certificate's real lifetime (one half at ten days or
 * less, one third above), not a fixed number of days — and `run` renews at that moment.
 *
 * The clock only moves inside the real certificate's lifetime: the engine checks a new certificate's
 * notBefore against the clock, and Pebble issues with the real time.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli.js';
import type { Plan, PlanItem } from '../../src/plan/build-plan.js';
import type { RunReport } from '../../src/report/model.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify, standalone } from './acme-e2e-fixtures.js';
import { memoryIO, writeManifest } from './fixtures.js';

const DAY = 86_400_000;
/** A frequent timer, so the safety floor (max(lifetime/20, 2 × interval)) stays below the window. */
const INTERVAL = ['--interval', '1m'];

interface Scenario {
  validitySeconds: number;
  /** The expected fraction of the lifetime left when the certificate becomes due. */
  fraction: 2 | 3;
}

async function cycle(tmp: TempDir, pebble: Pebble, scenario: Scenario): Promise<void> {
  const store = join(tmp.path, 'certs');
  const manifest = await writeManifest(
    tmp.path,
    acmeManifest(pebbleIssuer(pebble, standalone(pebble)), store, [
      { name: 'short', domains: ['short.example.test'] },
    ]),
  );
  const clock = fixedClock(Date.now());
  const cli = async (...args: string[]) => {
    const io = memoryIO(clock);
    const code = await main(['-m', manifest, ...args], io.env, io);
    return { code, out: io.out, err: io.err };
  };
  const plan = async (): Promise<PlanItem> => {
    const r = await cli('plan', '--json', ...INTERVAL);
    assert.equal(r.code, 0, r.err);
    return (JSON.parse(r.out) as Plan).items[0] as PlanItem;
  };
  const stored = async () => new X509Certificate(await readFile(join(store, 'short', 'cert.pem'), 'utf8'));

  const first = await cli('run', '--json', ...INTERVAL);
  assert.equal(first.code, 0, first.err);
  assert.equal((JSON.parse(first.out) as RunReport).certificates[0]?.outcome, 'renewed');
  const cert = await stored();
  const notBefore = new Date(cert.validFrom).getTime();
  const notAfter = new Date(cert.validTo).getTime();
  const lifetime = notAfter - notBefore;
  assert.ok(
    Math.abs(lifetime - scenario.validitySeconds * 1000) <= 60_000,
    `Pebble issued a ${lifetime / 1000}s certificate (asked for ${scenario.validitySeconds}s)`,
  );

  // Fresh: kept, and due at a fraction of the real lifetime.
  const fresh = await plan();
  assert.equal(fresh.action, 'keep', fresh.message);
  assert.equal(fresh.reason, 'ok');
  // (Pebble's lifetimes are one second short of the period: notAfter is inclusive.)
  const renewAt = notAfter - Math.floor(lifetime / scenario.fraction);
  assert.equal(fresh.renewAt, new Date(renewAt).toISOString(), fresh.message);
  if (scenario.fraction === 2) {
    assert.equal(fresh.renewAt, new Date(notBefore + lifetime / 2).toISOString(), 'notBefore + lifetime/2');
  } else {
    const offBy = Math.abs(renewAt - (notAfter - 10 * DAY));
    assert.ok(offBy <= 1000, `renewAt ${fresh.renewAt} is notAfter − 10 days (within Pebble's second)`);
  }

  // Just before that point: still kept. Just after: due, because it is within the window.
  clock.set(renewAt - 1000);
  const before = await plan();
  assert.equal(before.action, 'keep', before.message);
  clock.set(renewAt + 1000);
  const due = await plan();
  assert.equal(due.action, 'renew', due.message);
  assert.equal(due.reason, 'within-renew-window', due.message);

  // Renewed at that moment, for real: a new certificate from Pebble, verifying against its root.
  const run = await cli('run', '--json', ...INTERVAL);
  assert.equal(run.code, 0, run.err);
  const report = JSON.parse(run.out) as RunReport;
  assert.deepEqual(
    report.certificates.map((c) => [c.outcome, c.reason]),
    [['renewed', 'within-renew-window']],
  );
  const renewed = await readAndVerify(store, 'short', await pebble.roots());
  assert.notEqual(renewed.cert.serialNumber, cert.serialNumber, 'a new certificate is stored');
  assert.ok(renewed.keyMatches);

  // The new certificate (issued at the real time, behind the advanced clock) is due at the same fraction
  // of its own lifetime.
  clock.set(Date.now());
  const next = await plan();
  assert.equal(next.action, 'keep', next.message);
  const newBefore = new Date(renewed.cert.validFrom).getTime();
  const newAfter = new Date(renewed.cert.validTo).getTime();
  assert.equal(
    next.renewAt,
    new Date(newAfter - Math.floor((newAfter - newBefore) / scenario.fraction)).toISOString(),
  );
}

function pebbleWithValidity(validityPeriodSeconds: number) {
  let pebble: Pebble;
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-acme-lifetime-');
    pebble = await startPebble({ validityPeriodSeconds });
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });
  return { get: () => ({ pebble, tmp }) };
}

describe('short-lifetime rule (≤ 10 days: renew when one half remains): 1-hour Pebble certificates', () => {
  const env = pebbleWithValidity(3600);
  test('plan keeps it until notBefore + lifetime/2 (30 minutes, not a fixed number of days), run renews just after', async () => {
    const { pebble, tmp } = env.get();
    await cycle(tmp, pebble, { validitySeconds: 3600, fraction: 2 });
  });
});

describe('short-lifetime rule (≤ 10 days: renew when one half remains): 2-day Pebble certificates', () => {
  const env = pebbleWithValidity(172_800);
  test('plan keeps it until notBefore + lifetime/2 (one day), run renews just after', async () => {
    const { pebble, tmp } = env.get();
    await cycle(tmp, pebble, { validitySeconds: 172_800, fraction: 2 });
  });
});

describe('default rule (> 10 days: renew when one third remains): 30-day Pebble certificates', () => {
  const env = pebbleWithValidity(30 * 86_400);
  test('plan keeps it until notAfter − 10 days (a third), run renews just after', async () => {
    const { pebble, tmp } = env.get();
    await cycle(tmp, pebble, { validitySeconds: 30 * 86_400, fraction: 3 });
  });
});
