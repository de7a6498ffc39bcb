/**
 * The fleet view of one certificate (docs/hooks.md "Deployment state"): for each host that ever deployed
 * it, whether it serves the version the store holds now. Pure: the store's entries, the stored
 * certificate's fingerprint, the clock and the grace period in; one line per host out.
 */
import type { Deployments, HostDeployment } from '../stores/types.js';

/**
 * current: deployed the stored version. behind: deployed an earlier one (or its hooks for the stored one
 * have not finished). failed: its hooks (or `verify`) failed for the stored version, or failed for an
 * earlier one and it has deployed none since (a version stored after the failure does not make a host that
 * is known to fail merely behind).
 */
export type HostState = 'current' | 'behind' | 'failed';

/** One host in `status` (table and `--json`), and in the metrics. */
export interface FleetHost {
  host: string;
  state: HostState;
  /** The fingerprint and serial it last deployed. */
  fingerprint?: string;
  serial?: string;
  deployedAt?: string;
  /** behind/failed: since when (the stored version's `issuedAt`, or later when the host deployed after it). */
  behindSince?: string;
  /** behind for longer than the grace period, or failed: `status --check` warns. */
  overdue?: boolean;
  /** failed: why, one line (`CODE: message`). */
  error?: string;
  /** What it deployed was revoked since (the store's revocation log): it serves a revoked certificate. */
  revoked?: { reason: string; revokedAt: string };
  /** behind or failed, and what it deployed has expired (its recorded notAfter): it serves an expired one. */
  expired?: { notAfter: string };
}

export interface CurrentVersion {
  fingerprint: string;
  /** When the stored version was stored, ISO 8601. */
  issuedAt: string;
}

/**
 * Whether `entry` says its host has deployed the version with `fingerprint`: it records it deployed and no
 * failure of the hooks for that same version came after (a rollback whose hooks failed, hooks that failed
 * when run again for it): then what the host serves is not known, and its next run runs the hooks again.
 */
export function deployedHere(entry: HostDeployment, fingerprint: string): boolean {
  if (entry.fingerprint !== fingerprint) return false;
  return !(entry.pending?.fingerprint === fingerprint && entry.pending.error !== undefined);
}

function stateOf(entry: HostDeployment, current: CurrentVersion): HostState {
  if (entry.pending?.fingerprint === current.fingerprint && entry.pending.error !== undefined)
    return 'failed';
  if (entry.fingerprint === current.fingerprint) return 'current';
  // Its last hooks failed (a deployment that succeeds replaces the entry without `pending`).
  return entry.pending?.error !== undefined ? 'failed' : 'behind';
}

/**
 * One line per host with an entry, sorted by host id. A host is `overdue` when it is failed, or behind for
 * longer than `graceMs` (ms). With no stored certificate there is nothing to be current with: empty.
 */
export function fleetOf(
  deployments: Deployments | undefined,
  current: CurrentVersion | undefined,
  now: Date,
  graceMs: number,
  revocations: readonly { fingerprint: string; serial: string; reason: string; revokedAt: string }[] = [],
): FleetHost[] {
  if (!deployments || !current) return [];
  const hosts: FleetHost[] = [];
  for (const host of Object.keys(deployments).sort()) {
    const entry = deployments[host] as HostDeployment;
    // A host that only ever started hooks and never deployed anything is listed only once they failed.
    const state = stateOf(entry, current);
    const line: FleetHost = { host, state };
    if (entry.fingerprint) line.fingerprint = entry.fingerprint;
    if (entry.serial) line.serial = entry.serial;
    if (entry.deployedAt) line.deployedAt = entry.deployedAt;
    if (state !== 'current') {
      // A deployment dated in the future (that host's clock runs ahead) counts from the stored version's
      // time, or its host would never be overdue.
      const deployedAt =
        entry.deployedAt !== undefined && Date.parse(entry.deployedAt) <= now.getTime()
          ? entry.deployedAt
          : undefined;
      const candidates = [current.issuedAt, deployedAt].filter((t): t is string => t !== undefined);
      const since = candidates.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
      line.behindSince = new Date(since).toISOString();
      line.overdue = state === 'failed' || now.getTime() - Date.parse(since) > graceMs;
      if (state === 'failed' && entry.pending)
        line.error = `${entry.pending.code ?? 'FAILED'}: ${entry.pending.error ?? ''}`;
      // Still serving a certificate that was revoked: no grace period for that.
      const revoked = revocations.find(
        (r) =>
          (entry.fingerprint !== undefined && r.fingerprint === entry.fingerprint) ||
          (entry.fingerprint === undefined && entry.serial !== undefined && r.serial === entry.serial),
      );
      if (revoked) {
        line.revoked = { reason: revoked.reason, revokedAt: revoked.revokedAt };
        line.overdue = true;
      }
      // Still serving what expired (clients refuse it): no grace period either.
      if (entry.notAfter !== undefined && Date.parse(entry.notAfter) <= now.getTime()) {
        line.expired = { notAfter: entry.notAfter };
        line.overdue = true;
      }
    }
    hosts.push(line);
  }
  return hosts;
}
