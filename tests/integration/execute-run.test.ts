/**
 * `executeRun` in process, through the real pieces: a manifest on disk, the real Session (registry
 * factories), the local CA, a filesystem store in a temporary directory, real hooks, and a fixed clock that
 * travels. The specification of the middle: gather → plan → execute → report, certificate by certificate.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { executeRun, type RunOptions } from '../../src/execute/run.js';
import type { Manifest } from '../../src/manifest/types.js';
import type { PlannedRun } from '../../src/plan/model.js';
import { makePlan } from '../../src/plan/plan.js';
import { Reason } from '../../src/policy/reasons.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/logger.js';
import { Session } from '../../src/runtime/session.js';
import { localManifest, writeManifest } from '../e2e/fixtures.js';

const DAY = 86_400_000;
const INTERVAL = DAY;

/** A hook that appends its CERT_RENEW_EVENT and CERT_RENEW_NAMES to `file`, or fails with exit code 3. */
function hook(file: string, fail = false) {
  const script = `require('node:fs').appendFileSync(process.env.OUT, process.env.CERT_RENEW_EVENT + ' ' + process.env.CERT_RENEW_NAMES + '\\n');${fail ? 'process.exit(3)' : ''}`;
  return { run: [process.execPath, '-e', script], env: { OUT: file }, timeout: '5m' };
}

describe('executeRun through the real Deps (local CA, filesystem store)', () => {
  let dir: string;
  const clock = fixedClock('2030-01-01T00:00:00Z');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const logLines: string[] = [];
  const logger = createLogger((line) => logLines.push(line), 'debug');
  const options: RunOptions = {
    dryRun: false,
    force: false,
    concurrency: 2,
    runIntervalMs: INTERVAL,
    lockWaitMs: 60_000,
    hostId: 'test-host',
    deadlineMs: 5 * 60_000,
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cert-renew-execute-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens a session on `manifest`, plans at the clock's now, executes, closes. */
  async function cycle(manifest: Manifest, run: Partial<RunOptions> = {}) {
    const path = await writeManifest(dir, manifest);
    const session = await Session.open(path, INTERVAL, {
      clock,
      logger,
      env,
      hostname: 'test-host',
      pid: process.pid,
    });
    try {
      const planned: PlannedRun = await makePlan(session, session.certificates, {
        logger,
        plan: { now: clock.now(), runIntervalMs: INTERVAL, force: run.force ?? false },
      });
      const report = await executeRun(planned, { ...options, ...run }, { session, clock, logger, env });
      return { planned, report };
    } finally {
      await session.close();
    }
  }

  test('one record per certificate: plan items and report lines are in manifest order', async () => {
    const hooks = join(dir, 'hooks.log');
    const manifest = localManifest(join(dir, 'store'), {
      defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [hook(hooks)] } },
    });
    const { planned, report } = await cycle(manifest);
    assert.deepEqual(
      planned.records.map((r) => [r.entry.name, r.item.action, r.item.reason]),
      [
        ['web', 'renew', Reason.missing],
        ['api', 'renew', Reason.missing],
      ],
    );
    assert.ok(
      planned.records.every((r, i) => planned.plan.items[i] === r.item),
      'plan.items are the records',
    );
    assert.equal(planned.plan.summary.renew, 2);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome, c.reason]),
      [
        ['web', 'renewed', 'missing'],
        ['api', 'renewed', 'missing'],
      ],
    );
    assert.equal(report.exitCode, 0);
    assert.equal(report.summary.renewed, 2);
    // One shared hook, run once for both, names in manifest order whatever finished first.
    assert.deepEqual(
      report.hooks.map((h) => [h.event, h.ok, h.certificates]),
      [['post-renew', true, ['web', 'api']]],
    );
    assert.equal(await readFile(hooks, 'utf8'), 'post-renew web api\n');
    assert.ok(
      report.certificates.every((c) => c.fingerprint && c.serial && c.notAfter && c.via === 'local-ca'),
    );
  });

  test('not due: every record is kept, nothing runs', async () => {
    clock.advance(DAY);
    const { planned, report } = await cycle(localManifest(join(dir, 'store')));
    assert.deepEqual(
      planned.records.map((r) => r.item.action),
      ['keep', 'keep'],
    );
    assert.ok(
      planned.records.every((r) => r.meta?.fingerprint),
      'gathered metadata travels with the record',
    );
    assert.deepEqual(
      report.certificates.map((c) => c.outcome),
      ['ok', 'ok'],
    );
    assert.deepEqual(report.hooks, []);
  });

  test('within the safety floor but outside the window: reason safety-floor, renewed', async () => {
    // 30-day certificates issued 1 day ago; renewBefore 1d, floor max(30d/20, 2 × 24h) = 2d: at 1.5d left
    // the window has not started, the floor has.
    clock.advance(27.5 * DAY);
    const manifest = localManifest(join(dir, 'store'), {
      defaults: { issuer: 'local', store: 'files', renewBefore: '1d' },
    });
    const { planned, report } = await cycle(manifest);
    assert.deepEqual(
      planned.records.map((r) => r.item.reason),
      [Reason.safetyFloor, Reason.safetyFloor],
    );
    assert.deepEqual(
      report.certificates.map((c) => [c.outcome, c.reason]),
      [
        ['renewed', 'safety-floor'],
        ['renewed', 'safety-floor'],
      ],
    );
    assert.ok(report.certificates.every((c) => c.previousNotAfter !== undefined));
  });

  test('a failed hook is recorded; the next run runs it again and clears the record', async () => {
    const hooks = join(dir, 'hooks-fail.log');
    const failing = localManifest(join(dir, 'store'), {
      defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [hook(hooks, true)] } },
    });
    const first = await cycle(failing, { force: true });
    assert.deepEqual(
      first.report.certificates.map((c) => [c.outcome, c.reason, c.error?.code]),
      [
        ['failed', 'forced', 'HOOK_FAILED'],
        ['failed', 'forced', 'HOOK_FAILED'],
      ],
    );
    assert.equal(first.report.exitCode, 1);

    clock.advance(60_000);
    const healed = localManifest(join(dir, 'store'), {
      defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [hook(hooks)] } },
    });
    const second = await cycle(healed);
    assert.deepEqual(
      second.planned.records.map((r) => [r.item.action, r.item.hooksPending, r.item.failures?.count]),
      [
        ['keep', true, 1],
        ['keep', true, 1],
      ],
    );
    assert.deepEqual(
      second.report.certificates.map((c) => [c.outcome, c.message]),
      [
        ['ok', 'post-renew hooks ran again and succeeded (an earlier run did not finish them)'],
        ['ok', 'post-renew hooks ran again and succeeded (an earlier run did not finish them)'],
      ],
    );
    assert.equal(second.report.exitCode, 0);
    assert.equal(await readFile(hooks, 'utf8'), 'post-renew web api\npost-renew web api\n');

    const third = await cycle(healed);
    assert.deepEqual(
      third.planned.records.map((r) => [r.item.action, r.item.failures]),
      [
        ['keep', undefined],
        ['keep', undefined],
      ],
    );
  });

  test('dry run: due certificates would renew, checks are reported, nothing changes', async () => {
    const manifest = localManifest(join(dir, 'store'));
    const { report } = await cycle(manifest, { dryRun: true, force: true });
    assert.equal(report.dryRun, true);
    assert.deepEqual(
      report.certificates.map((c) => c.outcome),
      ['would-renew', 'would-renew'],
    );
    assert.ok(report.checks?.every((c) => c.ok));
    const after = await cycle(manifest);
    assert.deepEqual(
      after.report.certificates.map((c) => c.outcome),
      ['ok', 'ok'],
    );
  });
});
