import { describeError, ExitCode } from '../errors.js';
import { UNNAMED_VERSION } from '../plan/build-plan.js';
import type { PlannedRecord } from '../plan/model.js';
import { statusMetrics, writeAtomically } from '../report/metrics.js';
import { formatOf } from '../report/reporter.js';
import { type ServedLine, statusReport, statusReporters } from '../report/status.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { mapLimit } from '../util/pool.js';
import { commandLogger, openAndPlan, type SelectionOptions } from './common.js';
import { type CliIO, type GlobalOptions, reportOptions, writeReport } from './io.js';

export interface StatusOptions extends SelectionOptions {
  check?: boolean;
  /** Connect to every `verify` endpoint and compare the served leaf with the stored one. */
  probe?: boolean;
  json?: boolean;
  metricsFile?: string;
}

/**
 * `cert-renew status`: plans without `--force` and prints each certificate's health (policy/readiness.ts).
 * Exit 0, or with `--check` the health code (0 valid, 1 warning, 2 critical); a metrics file that cannot
 * be written makes it at least 1.
 */
export async function statusCommand(
  globals: GlobalOptions,
  options: StatusOptions,
  io: CliIO,
): Promise<number> {
  const logger = commandLogger(globals, io);
  const { session, run } = await openAndPlan(
    globals,
    { ...options, force: false, orphans: true },
    io,
    logger,
  );
  try {
    await markIssuerProblems(session, run.records, logger);
    const served = options.probe ? await probeAll(run.records) : undefined;
    const status = statusReport(run.plan, served);
    writeReport(io, statusReporters[formatOf(options)](status, await reportOptions(io)));
    if (options.metricsFile) {
      try {
        await writeAtomically(options.metricsFile, statusMetrics(run.plan.items, new Date(status.at)));
      } catch (error) {
        logger.error(describeError(error));
        return options.check ? Math.max(status.exitCode, ExitCode.failure) : ExitCode.failure;
      }
    }
    return options.check ? status.exitCode : ExitCode.ok;
  } finally {
    await session.close();
  }
}

/**
 * Sets `issuerProblem` on each item whose stored certificate its own issuer issued (the version's `issuer`
 * is the entry's) when that issuer says renewing it would fail now (`Issuer.renewalBlocker`: the local CA
 * gone, unreadable, corrupt, expired, or another CA of the same name): monitoring learns of it now, not
 * when the certificate falls due and its renewal is refused. Asked once per issuer and store, for the
 * certificates of both. Anything else going wrong while asking is logged at debug level.
 */
async function markIssuerProblems(
  session: Pick<Session, 'issuer' | 'store'>,
  records: readonly PlannedRecord[],
  logger: Logger,
): Promise<void> {
  const groups = new Map<string, PlannedRecord[]>();
  for (const record of records) {
    const { entry, meta } = record;
    // Recorded as issued by it: a version no metadata names says nothing of who issued it.
    if (entry.issuer.type !== 'local-ca' || meta?.issuer !== entry.issuerName || meta.via === UNNAMED_VERSION)
      continue;
    const key = `${entry.issuerName}\0${entry.storeName}`;
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  for (const group of groups.values()) {
    const { entry } = group[0] as PlannedRecord;
    try {
      const issuer = await session.issuer(entry.issuerName);
      const store = await session.store(entry.storeName);
      const lines = await issuer.renewalBlocker?.(
        store,
        group.map((r) => r.entry.name),
      );
      for (const { entry: one, item } of group) {
        const line = lines?.get(one.name);
        if (line) item.issuerProblem = line;
      }
    } catch (error) {
      logger.debug(`issuer '${entry.issuerName}': its state could not be checked: ${describeError(error)}`);
    }
  }
}

/** Certificates probed at once. */
const PROBE_CONCURRENCY = 8;

/** `--probe`: each certificate with `verify` and a stored certificate, its endpoints (no retries). */
async function probeAll(records: readonly PlannedRecord[]): Promise<Map<string, ServedLine[]>> {
  const { probeServed } = await import('../execute/served.js');
  const served = new Map<string, ServedLine[]>();
  const probed = records.filter((r) => r.entry.verify && r.meta);
  await mapLimit(probed, PROBE_CONCURRENCY, async ({ entry, meta }) => {
    if (!entry.verify || !meta) return;
    const checks = await probeServed({ ...entry.verify, retries: 0 }, entry.domains, meta.fingerprint);
    served.set(
      entry.name,
      checks.map((c) => ({
        endpoint: c.endpoint,
        ok: c.ok,
        ...(c.serial !== undefined ? { serial: c.serial } : {}),
        ...(c.fingerprint !== undefined ? { fingerprint: c.fingerprint } : {}),
        ...(c.error !== undefined ? { error: c.error } : {}),
      })),
    );
  });
  return served;
}
