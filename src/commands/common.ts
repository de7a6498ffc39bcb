/** What every command that reads the manifest shares: logger, interval, session, selection. */
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { PlannedRun } from '../plan/model.js';
import { findOrphans } from '../plan/orphans.js';
import { makePlan } from '../plan/plan.js';
import { parseShard, selectCertificates } from '../plan/select.js';
import { DEFAULT_RUN_INTERVAL } from '../policy/time.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { Session } from '../runtime/session.js';
import { parseDuration } from '../util/duration.js';
import type { CliIO, GlobalOptions } from './io.js';

export function commandLogger(globals: GlobalOptions, io: CliIO): Logger {
  const level = globals.verbose ? 'debug' : globals.quiet ? 'warn' : 'info';
  return createLogger((line) => io.stderr(line), level);
}

export function parseInterval(text: string | undefined): number {
  const ms = parseDuration(text ?? DEFAULT_RUN_INTERVAL);
  if (ms === undefined || ms <= 0) {
    throw new UsageError(`--interval expects a duration such as 24h, 6h or 30m, got '${text}'`);
  }
  return ms;
}

/** A duration option (`--timeout 10m`): a usage error, not a crash, when it is not one. */
export function parseDurationOption(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`${flag} expects a duration such as 30s, 10m or 2h, got '${text}'`);
  return ms;
}

export interface SelectionOptions {
  only?: string[];
  shard?: string;
  interval?: string;
  /** `--host-id`: this host's id in the deployment state. */
  hostId?: string;
  /** `--grace`: how long a host may stay behind before `status --check` warns. */
  grace?: string;
}

/** This host's id (`--host-id`, `deployment.hostId`, the hostname): see Session.hostId. */
export function hostIdOf(option: string | undefined, session: Session): string {
  return session.hostId(option);
}

export async function openSession(
  globals: GlobalOptions,
  io: CliIO,
  logger: Logger,
  intervalMs: number,
  options: { adopting?: boolean; newLocalCa?: boolean; keepLoadCache?: boolean } = {},
): Promise<Session> {
  return Session.open(
    resolve(io.cwd, globals.manifest),
    intervalMs,
    {
      clock: io.clock,
      logger,
      env: io.env,
      hostname: io.hostname,
      pid: io.pid,
      ...(io.fitHeap ? { fitHeap: io.fitHeap } : {}),
    },
    options,
  );
}

/**
 * Opens the manifest, selects certificates, gathers their stored state and decides (`makePlan`); with
 * `orphans` (and no selection), also lists what the stores hold that the manifest no longer names; with
 * `keepRenewalInfo` (`run`, not its dry run), the CA's new renewal-information answers are kept in the
 * stores until their Retry-After (plan/renewal-info-cache.ts). The caller closes the session.
 */
export async function openAndPlan(
  globals: GlobalOptions,
  options: SelectionOptions & {
    force?: boolean;
    orphans?: boolean;
    keepRenewalInfo?: boolean;
    newLocalCa?: boolean;
  },
  io: CliIO,
  logger: Logger,
): Promise<{ session: Session; run: PlannedRun; intervalMs: number }> {
  const intervalMs = parseInterval(options.interval);
  const shard = options.shard ? parseShard(options.shard) : undefined;
  const session = await openSession(globals, io, logger, intervalMs, {
    ...(options.newLocalCa ? { newLocalCa: true } : {}),
    // What the reads learned is written by a run that may change the store, as its renewal information.
    ...(options.keepRenewalInfo ? { keepLoadCache: true } : {}),
  });
  try {
    const entries = selectCertificates(session.certificates, {
      ...(options.only ? { only: options.only } : {}),
      ...(shard ? { shard } : {}),
    });
    const graceText = options.grace ?? session.loaded.manifest.deployment?.grace;
    const deployGraceMs =
      graceText === undefined ? 2 * intervalMs : parseDurationOption('--grace', graceText);
    const run = await makePlan(session, entries, {
      logger,
      keepRenewalInfo: options.keepRenewalInfo ?? false,
      plan: { now: io.clock.now(), runIntervalMs: intervalMs, force: options.force ?? false, deployGraceMs },
    });
    // Orphans only over the whole manifest: with --only or --shard, "not selected" is not "not named".
    if (options.orphans && !options.only && !shard) {
      run.plan.orphans = await findOrphans(session, new Date(run.plan.generatedAt), logger);
    }
    // Before the report: what the plan's reads learned is written and let go of (peak memory, 10,000).
    await session.readsDone();
    return { session, run, intervalMs };
  } catch (error) {
    await session.close();
    throw error;
  }
}
