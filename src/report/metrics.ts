/**
 * A Prometheus textfile (node_exporter's textfile collector), written atomically: temp file + rename, so
 * the collector never reads half a file.
 */
import { CertRenewError, ErrorCode } from '../errors.js';
import type { PlanItem } from '../plan/model.js';
import type { FleetHost } from '../policy/deployment.js';
import type { Reason } from '../policy/reasons.js';
import { writeAtomic } from '../stores/filesystem/fs-util.js';
import { FAILING_OUTCOMES, type RunReport } from './model.js';

/**
 * The `reason` label: a policy reason code (policy/reasons.ts), or `error` for a certificate whose store
 * could not be read. Nothing else ever lands in it, so dashboards can enumerate it.
 */
export type ReasonLabel = Reason | 'error';

/** Failures of a deployment on this host: the post-renew hooks or `verify`, after the certificate was stored. */
const DEPLOY_FAILURES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.hookFailed,
  ErrorCode.hookTimeout,
  ErrorCode.servedMismatch,
  ErrorCode.servedUnreachable,
]);

function reasonLabel(item: Pick<PlanItem, 'reason'>): ReasonLabel {
  return item.reason ?? 'error';
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: { labels: Record<string, string>; value: number }[];
}

function render(families: Family[]): string {
  let out = '';
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${label(v)}"`)
        .join(',');
      out += `${f.name}${labels ? `{${labels}}` : ''} ${s.value}\n`;
    }
  }
  return out;
}

/**
 * Families describing certificates (used by both `run` and `status`). `failedHost`: only that host's
 * `cert_renew_host_deploy_failed` series (see runMetrics); all hosts' when undefined.
 */
function certificateFamilies(items: PlanItem[], at: Date, failedHost?: string): Family[] {
  const expiry: Family = {
    name: 'cert_renew_certificate_not_after_timestamp_seconds',
    help: 'Expiry of the stored certificate (Unix time).',
    type: 'gauge',
    samples: [],
  };
  const due: Family = {
    name: 'cert_renew_certificate_renewal_due',
    help: '1 when the certificate is due for renewal (or missing), else 0.',
    type: 'gauge',
    samples: [],
  };
  const window: Family = {
    name: 'cert_renew_certificate_renewal_window_seconds',
    help: 'How long before expiry the stored certificate becomes due (not-after minus renew-at).',
    type: 'gauge',
    samples: [],
  };
  const failures: Family = {
    name: 'cert_renew_certificate_failed_attempts',
    help: 'Consecutive failed renewal attempts recorded in the store.',
    type: 'gauge',
    samples: [],
  };
  const deployed: Family = {
    name: 'cert_renew_host_deployed',
    help: '1 when the host has deployed the stored version of the certificate, 0 when it is behind (one series per host that ever deployed it).',
    type: 'gauge',
    samples: [],
  };
  const behind: Family = {
    name: 'cert_renew_host_behind_seconds',
    help: 'How long the host has been behind the stored version (0 when current).',
    type: 'gauge',
    samples: [],
  };
  const deployFailed: Family = {
    name: 'cert_renew_host_deploy_failed',
    help: "1 when the host's post-renew hooks or verify failed for the stored version (it has not deployed it), else 0.",
    type: 'gauge',
    samples: [],
  };
  for (const item of items) {
    const labels = { name: item.name, issuer: item.issuer, store: item.store };
    for (const host of item.hosts ?? []) {
      const hostLabels = { name: item.name, store: item.store, host: host.host };
      deployed.samples.push({ labels: hostLabels, value: host.state === 'current' ? 1 : 0 });
      if (failedHost === undefined || host.host === failedHost)
        deployFailed.samples.push({ labels: hostLabels, value: host.state === 'failed' ? 1 : 0 });
      const since = host.behindSince ? Date.parse(host.behindSince) : undefined;
      behind.samples.push({
        labels: hostLabels,
        value: since === undefined ? 0 : Math.max(0, Math.floor((at.getTime() - since) / 1000)),
      });
    }
    if (item.notAfter) expiry.samples.push({ labels, value: Math.floor(Date.parse(item.notAfter) / 1000) });
    if (item.notAfter && item.renewAt) {
      const seconds = Math.floor((Date.parse(item.notAfter) - Date.parse(item.renewAt)) / 1000);
      window.samples.push({ labels, value: seconds });
    }
    due.samples.push({
      labels: { ...labels, reason: reasonLabel(item) },
      value: item.action === 'keep' ? 0 : 1,
    });
    failures.samples.push({ labels, value: item.failures?.count ?? 0 });
  }
  // The host families only where some store keeps deployment state and a host recorded one.
  return [
    expiry,
    due,
    failures,
    window,
    ...(deployed.samples.length > 0 ? [deployed, behind, deployFailed] : []),
  ];
}

/**
 * The textfile after `cert-renew run`: the certificate families as they stand after the run (renewed ones
 * no longer due, failed ones with this attempt counted; `cert_renew_host_deploy_failed` of `hostId` only),
 * then the last run's time, success, duration, renewals by reason, failures by error code and failed hook
 * runs by event.
 */
export function runMetrics(report: RunReport, items: PlanItem[], hostId?: string): string {
  const byReason = new Map<ReasonLabel, number>();
  const failuresByCode = new Map<ErrorCode, number>();
  for (const c of report.certificates) {
    // A renewed certificate was planned `renew`, so it always has a reason.
    if ((c.outcome === 'renewed' || c.outcome === 'rolled-back') && c.reason) {
      byReason.set(c.reason, (byReason.get(c.reason) ?? 0) + 1);
    }
    if (c.error) failuresByCode.set(c.error.code, (failuresByCode.get(c.error.code) ?? 0) + 1);
  }
  // The state after the run: renewed certificates are no longer due, have no failed attempts and report
  // their new not-after; failed ones count this attempt too.
  const byName = new Map(report.certificates.map((c) => [c.name, c]));
  const after = items.map((item): PlanItem => {
    const c = byName.get(item.name);
    if (!c) return item;
    const next: PlanItem = { ...item, ...(c.notAfter ? { notAfter: c.notAfter } : {}) };
    // Another certificate now: its renewal window is known at the next plan, not from the previous one.
    if (c.notAfter !== undefined && c.notAfter !== item.notAfter) delete next.renewAt;
    // Failed to deploy here (its hooks or verify): what is stored stays stored, this host did not deploy it.
    const deployFailed = c.outcome === 'failed' && c.error !== undefined && DEPLOY_FAILURES.has(c.error.code);
    if (c.outcome === 'renewed' || c.outcome === 'fresh' || c.outcome === 'renewed-elsewhere') {
      next.action = 'keep';
      next.reason = 'ok';
      delete next.failures;
    } else if (c.error?.code === ErrorCode.interrupted) {
      // Not attempted or stopped by the interruption: not a failed attempt, none is recorded.
    } else if (c.outcome === 'failed' || c.outcome === 'rolled-back') {
      const count = (item.failures?.count ?? 0) + 1;
      next.failures = { ...(item.failures ?? { lastAttempt: report.finishedAt }), count };
      // Renewed and stored before the hooks failed: no longer due (hooks run only after the store).
      if (deployFailed && c.action === 'renew') {
        next.action = 'keep';
        next.reason = 'ok';
      }
    } else if (
      c.outcome === 'ok' &&
      item.failures &&
      !c.hooksPending &&
      (!item.hooksPending || c.hooks.length > 0)
    ) {
      // The run cleared the record (execute/hook-phases.ts): failures of an earlier run on a certificate
      // that is fine, or pending hooks that ran again here and succeeded.
      delete next.failures;
    }
    if (c.fingerprint && item.hosts) {
      const stored = c.fingerprint;
      // A new version was stored during the run (here, or by another host): a host that deployed another
      // one is behind it from now on, whatever it was at the plan.
      const changed =
        c.outcome === 'renewed' ||
        c.outcome === 'renewed-elsewhere' ||
        (deployFailed && c.action === 'renew');
      let hosts: FleetHost[] = changed
        ? item.hosts.map((h): FleetHost => {
            if (h.fingerprint === stored) return { ...h, state: 'current' };
            const behind: FleetHost = { host: h.host, state: 'behind', behindSince: report.finishedAt };
            if (h.fingerprint) behind.fingerprint = h.fingerprint;
            if (h.serial) behind.serial = h.serial;
            if (h.deployedAt) behind.deployedAt = h.deployedAt;
            if (h.revoked) behind.revoked = h.revoked;
            return behind;
          })
        : item.hosts;
      if (hostId !== undefined) {
        const own = hosts.find((h) => h.host === hostId);
        // This host deployed what is stored unless the certificate failed here; a failed deployment is
        // `failed`, as status will show it.
        // Hooks pending (the run was interrupted): not deployed here yet — behind, as the plan or the renewal
        // left it, or from now on for a certificate this host never deployed.
        const state: FleetHost | undefined = c.hooksPending
          ? (own ?? { host: hostId, state: 'behind', behindSince: report.finishedAt })
          : !FAILING_OUTCOMES.has(c.outcome)
            ? { host: hostId, state: 'current', fingerprint: stored }
            : deployFailed
              ? {
                  ...(own ?? { host: hostId }),
                  state: 'failed',
                  behindSince:
                    own?.state === 'current' ? report.finishedAt : (own?.behindSince ?? report.finishedAt),
                }
              : undefined;
        if (state) hosts = [...hosts.filter((h) => h.host !== hostId), state];
      }
      next.hosts = hosts.sort((a, b) => (a.host < b.host ? -1 : 1));
    }
    return next;
  });
  return render([
    // A host's failed deployment is told by that host's own textfile only: the host that failed is the
    // one that runs again and clears it, and another host's file would keep its day-old view of it (the
    // deployed and behind families stay for every host: a host that stopped running is seen only there).
    ...certificateFamilies(after, new Date(report.finishedAt), hostId),
    {
      name: 'cert_renew_last_run_timestamp_seconds',
      help: 'When the last run finished (Unix time).',
      type: 'gauge',
      samples: [{ labels: {}, value: Math.floor(Date.parse(report.finishedAt) / 1000) }],
    },
    {
      name: 'cert_renew_last_run_success',
      help: '1 when the last run exited 0.',
      type: 'gauge',
      samples: [{ labels: {}, value: report.exitCode === 0 ? 1 : 0 }],
    },
    {
      name: 'cert_renew_last_run_duration_seconds',
      help: 'How long the last run took.',
      type: 'gauge',
      samples: [{ labels: {}, value: report.durationMs / 1000 }],
    },
    {
      name: 'cert_renew_last_run_renewals',
      help: 'Certificates renewed by the last run, by reason.',
      type: 'gauge',
      samples: [...byReason].map(([reason, value]) => ({ labels: { reason }, value })),
    },
    {
      name: 'cert_renew_last_run_unrecorded_failures',
      help: 'Certificates whose failure in the last run could not be recorded in their store, or whose store could not be read (status cannot see it).',
      type: 'gauge',
      samples: [
        {
          labels: {},
          value: report.certificates.filter((c) => c.attemptNotRecorded !== undefined).length,
        },
      ],
    },
    {
      name: 'cert_renew_last_run_failures',
      help: 'Certificates that failed in the last run, by error code.',
      type: 'gauge',
      samples: [...failuresByCode].map(([code, value]) => ({ labels: { code }, value })),
    },
    {
      // A failed onFailure hook is the alerting path itself failing: the run's exit code and report say it,
      // and this says it to monitoring (every event always has a sample, so an alert on it clears).
      name: 'cert_renew_last_run_hook_failures',
      help: 'Hook runs that failed or timed out in the last run, by event (post-renew, rollback, on-failure).',
      type: 'gauge',
      samples: HOOK_EVENTS.map((event) => ({
        labels: { event },
        // A hook the interruption killed or never started did not fail (HookResult.cancelled).
        value: report.hooks.filter((h) => h.event === event && !h.ok && !h.cancelled).length,
      })),
    },
  ]);
}

const HOOK_EVENTS = ['post-renew', 'rollback', 'on-failure'] as const;

/** The textfile after `cert-renew status`: the certificate families and when status looked. */
export function statusMetrics(items: PlanItem[], at: Date): string {
  return render([
    ...certificateFamilies(items, at),
    {
      name: 'cert_renew_status_timestamp_seconds',
      help: 'When cert-renew status last looked (Unix time).',
      type: 'gauge',
      samples: [{ labels: {}, value: Math.floor(at.getTime() / 1000) }],
    },
  ]);
}

export async function writeAtomically(path: string, text: string): Promise<void> {
  try {
    await writeAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    throw new CertRenewError(ErrorCode.storeWrite, `cannot write the metrics file ${path}`, {
      cause: error,
      hint: 'check that its directory exists and is writable',
    });
  }
}
