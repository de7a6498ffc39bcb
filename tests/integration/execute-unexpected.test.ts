/**
 * An unexpected error after the renewals (a bug in a later phase, simulated by a logger that throws once
 * the hooks run) never loses what was stored: `executeRun` still returns the report, with every renewed
 * certificate, a top-level INTERNAL error and exit code 1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { executeRun } from '../../src/execute/run.js';
import { makePlan } from '../../src/plan/plan.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { createLogger } from '../../src/runtime/logger.js';
import { Session } from '../../src/runtime/session.js';
import { localManifest, writeManifest } from '../e2e/fixtures.js';

test('a failure after the renewals still reports what was stored, exit 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-unexpected-'));
  try {
    const clock = fixedClock('2030-01-01T00:00:00Z');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const logger = createLogger((line) => {
      if (line.includes(') succeeded for')) throw new Error('simulated bug while logging a hook');
    }, 'debug');
    const path = await writeManifest(
      dir,
      localManifest(join(dir, 'store'), {
        defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: ['true'] }] } },
      }),
    );
    const session = await Session.open(path, 86_400_000, {
      clock,
      logger,
      env,
      hostname: 'h',
      pid: process.pid,
    });
    try {
      const planned = await makePlan(session, session.certificates, {
        logger,
        plan: { now: clock.now(), runIntervalMs: 86_400_000 },
      });
      const report = await executeRun(
        planned,
        {
          dryRun: false,
          force: false,
          concurrency: 2,
          runIntervalMs: 86_400_000,
          lockWaitMs: 60_000,
          deadlineMs: 300_000,
          hostId: 'h',
        },
        { session, clock, logger, env },
      );
      assert.equal(report.exitCode, 1);
      assert.equal(report.error?.code, 'INTERNAL');
      assert.match(report.error?.message ?? '', /simulated bug/);
      assert.deepEqual(
        report.certificates.map((c) => [c.name, c.outcome, Boolean(c.serial)]),
        [
          ['web', 'renewed', true],
          ['api', 'renewed', true],
        ],
      );
    } finally {
      await session.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
