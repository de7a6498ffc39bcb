/**
 * The policy as small named checks, each for one condition. A check returns a decision when it fires and
 * null when it has nothing to say; `decide` runs them in order and the first that fires wins.
 */
import type { SuggestedWindow } from '../issuers/types.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { LoadResult } from '../stores/types.js';
import { formatDuration, isoSecond } from '../util/duration.js';
import { type CertInfo, normalizeName, sameDomains } from '../x509/inspect.js';
import { CLOCK_ADVICE, machineTime } from './clock.js';
import { Reason } from './reasons.js';
import { ariRenewAt, CLOCK_SKEW_MS, renewalWindowMs, safetyFloorMs } from './time.js';

export interface PolicyInput {
  entry: ResolvedCertificate;
  stored: LoadResult;
  now: Date;
  /** Expected interval between runs (the timer's period); DEFAULT_RUN_INTERVAL_MS is 24h. */
  runIntervalMs: number;
  force?: boolean;
  /**
   * The CA's suggested renewal window (ARI) for THE STORED certificate. Callers pass only a window fetched
   * for this certificate; one stored for an older certificate must not be passed.
   */
  ari?: SuggestedWindow;
  /** The stored certificate is revoked (its issuer's CRL or the store's revocation log says so). */
  revoked?: { reason: string; revokedAt: string };
}

export interface Decision {
  renew: boolean;
  reason: Reason;
  /** Plain words for the operator, e.g. "62d 3h left of 90d; renews when 30d remain (at 2026-…)". */
  message: string;
  notAfter?: Date;
  notBefore?: Date;
  /** notAfter − now (negative once expired). */
  remainingMs?: number;
  lifetimeMs?: number;
  /** The moment from which the time-based checks say "renew" (set on ari-window, within-renew-window, forced, ok). */
  renewAt?: Date;
}

/** The stored certificate as the checks see it; undefined when the store has none or could not read it. */
export type Inspected = { ok: true; cert: CertInfo; keyMatches: boolean } | { ok: false; error: string };

export type Check = (input: PolicyInput, info: Inspected | undefined) => Decision | null;

/** The time facts of one certificate at `input.now`. */
export interface Timeline {
  notBefore: Date;
  notAfter: Date;
  lifetimeMs: number;
  remainingMs: number;
  windowMs: number;
  floorMs: number;
  /** The ARI point when a usable window was given. */
  ariAt?: Date;
  /** The manifest sets the window (`renewBefore`/`renewBeforePercent`): it holds beside ARI. */
  explicitWindow: boolean;
  renewAt: Date;
}

/** Whether the operator set the renewal window (then it holds even when the CA offers ARI). */
export function hasExplicitWindow(entry: PolicyInput['entry']): boolean {
  return entry.renewBeforeMs !== undefined || entry.renewBeforePercent !== undefined;
}

/**
 * The ARI window when it is usable: well-formed (end after start) and not ending before this certificate
 * was issued (such a window belongs to an earlier certificate).
 */
export function usableAri(input: PolicyInput, notBefore: Date): SuggestedWindow | undefined {
  const ari = input.ari;
  if (!ari || !(ari.end.getTime() > ari.start.getTime())) return undefined;
  if (ari.end.getTime() <= notBefore.getTime()) return undefined;
  return ari;
}

/**
 * The certificate's times under the policy (lifetime, remaining, window and floor in ms; when it is due):
 * the same object for the same input and certificate asked again (`lastTimeline`).
 */
export function timeline(
  input: PolicyInput,
  cert: Pick<CertInfo, 'notBefore' | 'notAfter' | 'serial'>,
): Timeline {
  if (lastTimeline.input === input && lastTimeline.cert === cert && lastTimeline.timeline)
    return lastTimeline.timeline;
  const made = makeTimeline(input, cert);
  lastTimeline.input = input;
  lastTimeline.cert = cert;
  lastTimeline.timeline = made;
  return made;
}

/**
 * The last timeline made and what it was made from: the checks of one decision ask for the same one up to
 * four times (40,000 timelines, two dates each, for a plan of 10,000 certificates). An input and its
 * certificate are plain data made for one decision and never changed afterwards.
 */
const lastTimeline: { input?: PolicyInput; cert?: object; timeline?: Timeline } = {};

function makeTimeline(
  input: PolicyInput,
  cert: Pick<CertInfo, 'notBefore' | 'notAfter' | 'serial'>,
): Timeline {
  const lifetimeMs = cert.notAfter.getTime() - cert.notBefore.getTime();
  const remainingMs = cert.notAfter.getTime() - input.now.getTime();
  const windowMs = renewalWindowMs(lifetimeMs, input.entry);
  const floorMs = safetyFloorMs(lifetimeMs, input.runIntervalMs);
  const floorAt = cert.notAfter.getTime() - floorMs;
  const ari = usableAri(input, cert.notBefore);
  const explicitWindow = hasExplicitWindow(input.entry);
  const ariAt = ari ? ariRenewAt(ari, cert.serial) : undefined;
  // An explicit window and ARI both hold: whichever comes first.
  const windowAt = explicitWindow ? cert.notAfter.getTime() - windowMs : Number.POSITIVE_INFINITY;
  // One literal, not `{ ...base, renewAt }`: V8 (Node 20) gives every object spread from another and then
  // extended a hidden class of its own, a cost per certificate in a large plan.
  return {
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    lifetimeMs,
    remainingMs,
    windowMs,
    floorMs,
    explicitWindow,
    ...(ariAt ? { ariAt } : {}),
    renewAt: ariAt
      ? new Date(Math.min(ariAt.getTime() - input.runIntervalMs, floorAt, windowAt))
      : new Date(cert.notAfter.getTime() - Math.max(windowMs, floorMs)),
  };
}

export { isoSecond } from '../util/duration.js';

function times(t: Timeline, withRenewAt: boolean): Omit<Decision, 'renew' | 'reason' | 'message'> {
  return {
    notBefore: t.notBefore,
    notAfter: t.notAfter,
    remainingMs: t.remainingMs,
    lifetimeMs: t.lifetimeMs,
    ...(withRenewAt ? { renewAt: t.renewAt } : {}),
  };
}

function left(t: Timeline): string {
  return `${formatDuration(Math.max(t.remainingMs, 0))} left of ${formatDuration(t.lifetimeMs)}`;
}

/** A check that needs a parsed certificate. */
function withCert(
  check: (input: PolicyInput, cert: CertInfo, info: Inspected & { ok: true }) => Decision | null,
): Check {
  return (input, info) => (info?.ok ? check(input, info.cert, info) : null);
}

function hard(reason: Reason, message: string, input: PolicyInput, cert?: CertInfo): Decision {
  return { renew: true, reason, message, ...(cert ? times(timeline(input, cert), false) : {}) };
}

export const certificateMissing: Check = (input) =>
  input.stored.state === 'missing'
    ? { renew: true, reason: Reason.missing, message: `no certificate in store '${input.entry.storeName}'` }
    : null;

export const certificateUnreadable: Check = (input, info) => {
  if (input.stored.state === 'unreadable') {
    return {
      renew: true,
      reason: Reason.unreadable,
      message: `stored certificate unreadable: ${input.stored.error}`,
    };
  }
  if (info && !info.ok) {
    return {
      renew: true,
      reason: Reason.unreadable,
      message: `stored certificate unreadable: ${info.error}`,
    };
  }
  return null;
};

export const keyMismatch: Check = withCert((input, cert, info) =>
  info.keyMatches
    ? null
    : hard(Reason.keyMismatch, 'the stored private key does not match the certificate', input, cert),
);

export const domainsChanged: Check = withCert((input, cert) => {
  const covered = [...cert.dnsNames, ...cert.ipAddresses];
  if (sameDomains(covered, input.entry.domains)) return null;
  const have = new Set(covered.map(normalizeName));
  const want = new Set(input.entry.domains.map(normalizeName));
  // A CA may add names of its own (www.): what counts is what was asked for at issuance, as long as the
  // certificate still covers every requested name. Otherwise such a certificate would renew on every run.
  const requested = input.stored.state === 'present' ? input.stored.cert.meta?.domains : undefined;
  if (requested && sameDomains(requested, input.entry.domains) && [...want].every((name) => have.has(name))) {
    return null;
  }
  // A name that is not a plain host name or address (empty, spaces, a comma) is quoted, so a list reads right.
  const shown = (name: string) => (/^[a-z0-9.*:_-]+$/.test(name) ? name : JSON.stringify(name));
  const adds = [...want].filter((name) => !have.has(name)).map(shown);
  const drops = [...have].filter((name) => !want.has(name)).map(shown);
  const parts = [
    adds.length ? `adds ${adds.join(', ')}` : '',
    drops.length ? `drops ${drops.join(', ')}` : '',
  ];
  return hard(Reason.domainsChanged, `domains changed: ${parts.filter(Boolean).join('; ')}`, input, cert);
});

/** Only when the manifest names a key type: without one, a certificate keeps the type it has. */
export const keyTypeChanged: Check = withCert((input, cert) =>
  input.entry.keyTypeIsDefault || cert.keyType === input.entry.keyType
    ? null
    : hard(
        Reason.keyTypeChanged,
        `key type changed: the certificate has ${cert.keyType}, the manifest asks for ${input.entry.keyType}`,
        input,
        cert,
      ),
);

/** Compared with what the store recorded; a store without metadata is "unknown" and does not trigger. */
export const issuerChanged: Check = withCert((input, cert) => {
  if (input.stored.state !== 'present') return null;
  const recorded = input.stored.cert.meta?.issuer;
  if (recorded === undefined || recorded === input.entry.issuerName) return null;
  return hard(
    Reason.issuerChanged,
    `issuer changed: issued by '${recorded}', the manifest now names '${input.entry.issuerName}'`,
    input,
    cert,
  );
});

export const expired: Check = withCert((input, cert) => {
  if (input.now.getTime() < cert.notAfter.getTime()) return null;
  const ago = formatDuration(input.now.getTime() - cert.notAfter.getTime());
  return hard(Reason.expired, `expired ${ago} ago (at ${isoSecond(cert.notAfter)})`, input, cert);
});

/**
 * notBefore is more than the clock-skew tolerance ahead: no client accepts the certificate yet (a CA with a
 * wrong clock, a file copied from the wrong place) — or, far more often, this machine's clock is behind, so
 * the message names this machine's time and the clock to check. Critical, and renewed.
 */
export const notYetValid: Check = withCert((input, cert) => {
  if (cert.notBefore.getTime() <= input.now.getTime() + CLOCK_SKEW_MS) return null;
  const ahead = formatDuration(cert.notBefore.getTime() - input.now.getTime());
  return hard(
    Reason.notYetValid,
    `not valid yet: valid from ${isoSecond(cert.notBefore)}, ${ahead} from now (${machineTime(input.now)}: if it is behind, ${CLOCK_ADVICE})`,
    input,
    cert,
  );
});

/**
 * The stable names are not the links cert-renew made (a file moved over one): what is served is fine by the
 * checks before, but the next renewal would not reach the server. Renewing puts the links back.
 */
export const linksReplaced: Check = withCert((input, cert) =>
  input.stored.state === 'present' && input.stored.replaced
    ? hard(Reason.linksReplaced, `the served files are fine for now`, input, cert)
    : null,
);

/** "the CA suggests", or, for its earlier answer used because it could not be asked, when it said so. */
function theCaSuggests(ari: { lastAnswerAt?: Date }): string {
  return ari.lastAnswerAt
    ? `the CA could not be asked; at ${isoSecond(ari.lastAnswerAt)} it suggested`
    : 'the CA suggests';
}

/** ARI: renew when the chosen point in the CA's window falls before the next run. */
export const ariWindow: Check = withCert((input, cert) => {
  const t = timeline(input, cert);
  const ari = usableAri(input, cert.notBefore);
  if (!ari || !t.ariAt || t.ariAt.getTime() > input.now.getTime() + input.runIntervalMs) return null;
  return {
    renew: true,
    reason: Reason.ariWindow,
    message: `${left(t)}; ${theCaSuggests(ari)} renewing between ${isoSecond(ari.start)} and ${isoSecond(ari.end)}, this certificate at ${isoSecond(t.ariAt)}, before the next run`,
    ...times(t, true),
  };
});

/**
 * The renewal window (renewBefore, renewBeforePercent or the default fraction). The default window is not
 * used when ARI applies; an explicit one always is (renew at whichever of it and ARI comes first).
 */
export const nearingExpiry: Check = withCert((input, cert) => {
  const t = timeline(input, cert);
  if ((t.ariAt && !t.explicitWindow) || t.remainingMs > t.windowMs) return null;
  return {
    renew: true,
    reason: Reason.withinRenewWindow,
    message: `${left(t)}; due since ${formatDuration(t.windowMs)} remained (at ${isoSecond(new Date(t.notAfter.getTime() - t.windowMs))})`,
    ...times(t, true),
  };
});

/** The safety floor: renew whatever the window or ARI said once so little is left. */
export const safetyFloor: Check = withCert((input, cert) => {
  const t = timeline(input, cert);
  if (t.remainingMs > t.floorMs) return null;
  return {
    renew: true,
    reason: Reason.safetyFloor,
    message: `${left(t)}; at or below the safety floor of ${formatDuration(t.floorMs)} (max of lifetime/20 and two run intervals)`,
    ...times(t, true),
  };
});

export const forced: Check = (input, info) => {
  if (!input.force) return null;
  if (!info?.ok) return { renew: true, reason: Reason.forced, message: '--force' };
  const t = timeline(input, info.cert);
  return {
    renew: true,
    reason: Reason.forced,
    message: `--force; ${left(t)}, due at ${isoSecond(t.renewAt)}`,
    ...times(t, true),
  };
};

/** The certificate is fine: says when it will be due and why. */
export function okDecision(input: PolicyInput, cert: CertInfo): Decision {
  const t = timeline(input, cert);
  const ari = usableAri(input, cert.notBefore);
  let message: string;
  if (ari && t.ariAt) {
    const own = t.explicitWindow
      ? ` or when ${formatDuration(t.windowMs)} remain, whichever comes first`
      : '';
    message = `${left(t)}; ${theCaSuggests(ari)} renewing between ${isoSecond(ari.start)} and ${isoSecond(ari.end)}${own}; renews at ${isoSecond(t.renewAt)}`;
  } else {
    const dueMs = Math.max(t.windowMs, t.floorMs);
    const floor = t.floorMs > t.windowMs ? ' (safety floor)' : '';
    message = `${left(t)}; renews when ${formatDuration(dueMs)} remain${floor} (at ${isoSecond(t.renewAt)})`;
  }
  return { renew: false, reason: Reason.ok, message, ...times(t, true) };
}
