/** The per-certificate state of one run, shared by its phases (run.ts, hook-phases.ts). */
import type { HookCertificateInfo } from '../hooks/env.js';
import type { Env } from '../manifest/secrets.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { PlannedRecord } from '../plan/model.js';
import type { CertificateReport } from '../report/model.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import type { Store, StoredMeta } from '../stores/types.js';
import type { ServedCheck } from './served.js';

/** One log line that starts with `NAME: `, once (some issuers' messages already name the certificate). */
export function namedLine(name: string, message: string): string {
  for (const prefix of [`${name}: `, `certificate ${name}: `]) {
    if (message.startsWith(prefix)) return `${name}: ${message.slice(prefix.length)}`;
  }
  return `${name}: ${message}`;
}

/** What a run uses: the session (stores, issuers), the clock, the logger, the environment for hooks. */
export interface RunDeps {
  session: Session;
  clock: Clock;
  logger: Logger;
  env: Env;
}

/** One certificate while the run executes: its planned record and its line of the report, filled phase by phase. */
export interface Running {
  readonly record: PlannedRecord;
  readonly report: CertificateReport;
  /** Set when its post-renew hooks run in this run: what they are told about the certificate. */
  hook?: HookCertificateInfo;
  /** What the store holds now (the plan's metadata, then what renewing found or stored). */
  current?: StoredMeta;
  /** Its hooks run because this host was behind the stored version (not because it was renewed here). */
  deploying?: boolean;
  /** `verify`: what each endpoint served after the hooks. */
  served?: ServedCheck[];
}

/** The report line of a record before anything ran: what the plan saw. */
export function baseReport({ item, meta }: PlannedRecord): CertificateReport {
  const report: CertificateReport = {
    name: item.name,
    domains: item.domains,
    issuer: item.issuer,
    store: item.store,
    action: item.action,
    message: item.message,
    outcome: 'ok',
    hooks: [],
    durationMs: 0,
  };
  if (item.reason) report.reason = item.reason;
  if (item.notAfter) report.notAfter = item.notAfter;
  if (meta) {
    report.serial = meta.serial;
    report.fingerprint = meta.fingerprint;
  }
  return report;
}

/** What a post-renew hook is told about a stored certificate (CERT_RENEW_* variables; paths for files). */
export function hookInfo(
  entry: ResolvedCertificate,
  meta: StoredMeta | undefined,
  store: Pick<Store, 'type' | 'paths'>,
): HookCertificateInfo {
  const info: HookCertificateInfo = {
    name: entry.name,
    domains: entry.domains,
    storeName: entry.storeName,
    storeType: store.type,
    issuerName: entry.issuerName,
  };
  const paths = store.paths(entry.name);
  if (paths) info.paths = paths;
  if (meta) {
    info.notAfter = new Date(meta.notAfter);
    info.serial = meta.serial;
    info.fingerprint = meta.fingerprint;
  }
  return info;
}
