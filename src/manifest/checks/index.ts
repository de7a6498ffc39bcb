/**
 * The meaning checks of a manifest: what a schema cannot express. Each is a small named function over the
 * manifest view (defaults applied once, see view.ts) that returns located findings; `MANIFEST_CHECKS` is the
 * list `checkManifestText` runs, in this order (findings at the same line and column keep it). The checks
 * cope with manifests the schema rejected: whatever they cannot read they skip, and the schema reports.
 */
import { renewalWindowMs, SHORT_LIFETIME_MS } from '../../policy/time.js';
import { formatDuration, parseDuration, scanDuration } from '../../util/duration.js';
import { parseEndpoint } from '../../util/endpoint.js';
import { escapePointerToken as esc } from '../positions.js';
import { checkDomain } from '../resolve.js';
import { didYouMean } from '../schema.js';
import { show } from '../show.js';
import { dns01Settings } from './dns01.js';
import { type CheckOptions, error, type Finding, warning } from './finding.js';
import { fileModes, lockTimeouts, redisKeyPrefixes, redisUrls, stableFiles } from './stores.js';
import {
  type CertificateView,
  has,
  isObject,
  type Json,
  type ManifestView,
  objectAt,
  stringAt,
  viewManifest,
} from './view.js';

export type { CheckOptions, Finding } from './finding.js';

/** One meaning check: the findings it has about the manifest (none: nothing to say). */
export type ManifestCheck = (view: ManifestView, options: CheckOptions) => Finding[];

/** The object entries of `certificates` (for checks that look at each one alone). */
function eachCertificate(
  view: ManifestView,
  check: (cert: CertificateView, findings: Finding[]) => void,
): Finding[] {
  const findings: Finding[] = [];
  for (const cert of view.certificates) check(cert, findings);
  return findings;
}

const DURATION_KEYS = new Set([
  'renewBefore',
  'lifetime',
  'timeout',
  'ttl',
  'propagationTimeout',
  'propagationDelay',
  'propagationInterval',
  'lockTimeout',
]);
/** A hundred years: anything longer is a typo, and past what the clock arithmetic can hold. */
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** Durations that match the pattern but are absurdly long (`"999999999d"`) are errors here, not crashes later. */
export function durationsInRange(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  // Pointers are made only for what holds more (objects, arrays) and for findings: the walk visits every
  // value of the manifest, 10,000 names and domains in a large one.
  const walk = (value: unknown, pointer: string): void => {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) walk(item, `${pointer}/${i}`);
      }
      return;
    }
    if (!isObject(value)) return;
    for (const key of Object.keys(value)) {
      const child = value[key];
      const ms = DURATION_KEYS.has(key) && typeof child === 'string' ? scanDuration(child) : Number.NaN;
      if (!Number.isNaN(ms)) {
        // Written as a duration (the schema checks the rest), but past what the clock arithmetic can hold.
        if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS)
          findings.push(
            error(
              `${pointer}/${esc(key)}`,
              `${JSON.stringify(child)} is too long; durations go up to 100 years`,
            ),
          );
      } else if (typeof child === 'object' && child !== null) {
        walk(child, `${pointer}/${esc(key)}`);
      }
    }
  };
  walk(view.root, '');
  return findings;
}

function defined(kind: string, names: string[]): string {
  return names.length === 0
    ? `; no ${kind}s are defined`
    : ` (defined: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})`;
}

/** The names defined in `issuers` or `stores`, listed once per object (not once per reference). */
const namesOf = new WeakMap<Json, string[]>();
function keysOf(object: Json): string[] {
  let names = namesOf.get(object);
  if (!names) {
    names = Object.keys(object);
    namesOf.set(object, names);
  }
  return names;
}

function issuerReference(view: ManifestView, name: string, pointer: string): Finding[] {
  if (Object.hasOwn(view.issuers, name)) return [];
  const names = keysOf(view.issuers);
  return [
    error(
      pointer,
      `issuer '${name}' is not defined in 'issuers'${didYouMean(name, names)}${defined('issuer', names)}`,
    ),
  ];
}

/** `needRedis`: what needs the store to be a redis one ("'locks'"), when something does. */
function storeReference(view: ManifestView, name: string, pointer: string, needRedis?: string): Finding[] {
  const names = keysOf(view.stores);
  if (!Object.hasOwn(view.stores, name)) {
    return [
      error(
        pointer,
        `store '${name}' is not defined in 'stores'${didYouMean(name, names)}${defined('store', names)}`,
      ),
    ];
  }
  const type = stringAt(objectAt(view.stores, name), 'type');
  if (needRedis && type !== undefined && type !== 'redis') {
    return [error(pointer, `store '${name}' is a ${type} store; ${needRedis} needs a redis store`)];
  }
  return [];
}

/**
 * Every issuer, store and certificate names issuers and stores that exist (and of the right type); a
 * certificate without an issuer or a store of its own needs a default.
 */
export function references(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(view.issuers)) {
    const store = isObject(value) ? stringAt(value, 'store') : undefined;
    if (isObject(value) && value.type === 'local-ca' && store !== undefined)
      findings.push(...storeReference(view, store, `/issuers/${esc(name)}/store`));
  }
  for (const [name, value] of Object.entries(view.stores)) {
    const locks = isObject(value) ? stringAt(value, 'locks') : undefined;
    if (isObject(value) && value.type === 'filesystem' && locks !== undefined)
      findings.push(...storeReference(view, locks, `/stores/${esc(name)}/locks`, "'locks'"));
  }
  const defaultIssuer = stringAt(view.defaults, 'issuer');
  const defaultStore = stringAt(view.defaults, 'store');
  if (defaultIssuer !== undefined) findings.push(...issuerReference(view, defaultIssuer, '/defaults/issuer'));
  if (defaultStore !== undefined) findings.push(...storeReference(view, defaultStore, '/defaults/store'));
  for (const { entry, pointer, label } of view.certificates) {
    const issuer = stringAt(entry, 'issuer');
    if (issuer !== undefined) findings.push(...issuerReference(view, issuer, `${pointer}/issuer`));
    else if (!has(entry, 'issuer') && defaultIssuer === undefined)
      findings.push(error(pointer, `${label} has no issuer: set 'issuer' here or in 'defaults'`));
    const store = stringAt(entry, 'store');
    if (store !== undefined) findings.push(...storeReference(view, store, `${pointer}/store`));
    else if (!has(entry, 'store') && defaultStore === undefined)
      findings.push(error(pointer, `${label} has no store: set 'store' here or in 'defaults'`));
  }
  return findings;
}

/**
 * Every challenge written (in an ACME issuer, the defaults, a certificate): its redis store, its port, and
 * the dns-01 settings (dns01.ts).
 */
export function challengeTargets(view: ManifestView): Finding[] {
  const written: [Json | undefined, string][] = [];
  for (const [name, value] of Object.entries(view.issuers)) {
    if (isObject(value) && value.type === 'acme')
      written.push([objectAt(value, 'challenge'), `/issuers/${esc(name)}/challenge`]);
  }
  written.push([objectAt(view.defaults, 'challenge'), '/defaults/challenge']);
  for (const cert of view.certificates)
    written.push([objectAt(cert.entry, 'challenge'), `${cert.pointer}/challenge`]);

  const findings: Finding[] = [];
  for (const [challenge, pointer] of written) {
    if (!challenge) continue;
    const redis = stringAt(challenge, 'redis');
    if (redis !== undefined)
      findings.push(...storeReference(view, redis, `${pointer}/redis`, "an http-01 challenge in 'redis'"));
    const standalone = stringAt(challenge, 'standalone');
    const port = standalone === undefined ? undefined : /:([0-9]{1,5})$/.exec(standalone)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
      findings.push(error(`${pointer}/standalone`, `port ${port} is out of range (1-65535)`));
    findings.push(...dns01Settings(challenge, pointer));
  }
  return findings;
}

/** In `defaults` and every certificate: one renewal window setting, and string hooks only with a shell. */
export function settings(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  const check = (entry: Json, base: string) => {
    if (has(entry, 'renewBefore') && has(entry, 'renewBeforePercent'))
      findings.push(error(base, "sets both 'renewBefore' and 'renewBeforePercent'; keep one"));
    const hooks = objectAt(entry, 'hooks');
    for (const kind of ['postRenew', 'onFailure']) {
      const list = hooks && Object.hasOwn(hooks, kind) ? hooks[kind] : undefined;
      if (!Array.isArray(list)) continue;
      list.forEach((hook: unknown, k) => {
        if (!isObject(hook) || typeof hook.run !== 'string' || hook.shell === true) return;
        const words = hook.run.trim().split(/\s+/);
        const plain = /^[A-Za-z0-9_./=:,+@%-]+$/;
        const suggestion = words.every((w) => plain.test(w))
          ? `give it as an argv array, ${JSON.stringify(words)}, or add "shell": true`
          : 'add "shell": true to run it with /bin/sh, or give it as an argv array';
        findings.push(
          error(
            `${base}/hooks/${kind}/${k}/run`,
            `is a string, and a string command needs a shell; ${suggestion}`,
          ),
        );
      });
    }
  };
  if (view.defaults) check(view.defaults, '/defaults');
  for (const cert of view.certificates) check(cert.entry, cert.pointer);
  return findings;
}

/** An empty `certificates` list is allowed, but says nothing would be renewed. */
export function certificatesListed(view: ManifestView): Finding[] {
  const list = view.root.certificates;
  return Array.isArray(list) && list.length === 0
    ? [warning('/certificates', 'lists no certificates; there is nothing to renew')]
    : [];
}

/** Names are unique, also ignoring case (case-insensitive file systems), and hold no '..'. */
export function uniqueNames(view: ManifestView): Finding[] {
  const first = new Map<string, { name: string; index: number }>();
  return eachCertificate(view, ({ name, index, pointer }, findings) => {
    if (name === undefined) return;
    if (name.includes('..'))
      findings.push(error(`${pointer}/name`, `${show(name)} contains '..'; names become file and key names`));
    const earlier = first.get(name.toLowerCase());
    if (earlier && earlier.name === name) {
      findings.push(
        error(
          `${pointer}/name`,
          `name ${show(name)} is already used by certificates/${earlier.index}; names must be unique`,
        ),
      );
    } else if (earlier) {
      findings.push(
        error(
          `${pointer}/name`,
          `name ${show(name)} differs only in case from ${show(earlier.name)} (certificates/${earlier.index}); they would share a directory on case-insensitive file systems`,
        ),
      );
    } else {
      first.set(name.toLowerCase(), { name, index });
    }
  });
}

/** A challenge on a certificate whose issuer is not ACME means nothing. */
export function challengesUsed(view: ManifestView): Finding[] {
  return eachCertificate(view, ({ entry, pointer, issuer }, findings) => {
    if (has(entry, 'challenge') && issuer?.type !== undefined && issuer.type !== 'acme') {
      findings.push(
        warning(
          `${pointer}/challenge`,
          `is ignored: issuer '${issuer.name}' is ${issuer.type}, and only acme issuers use challenges`,
        ),
      );
    }
  });
}

/** Domains are host names, unique after punycode, and wildcards only where the challenge is dns-01. */
export function domainNames(view: ManifestView): Finding[] {
  return eachCertificate(view, ({ entry, pointer: base, issuer, challenge }, findings) => {
    const domains = Array.isArray(entry.domains) ? (entry.domains as unknown[]) : [];
    const seen = new Map<string, number>();
    domains.forEach((domain, j) => {
      if (typeof domain !== 'string' || domain === '') return;
      const pointer = `${base}/domains/${j}`;
      const checked = checkDomain(domain);
      if (!checked.ok) {
        findings.push(error(pointer, `${show(domain)} ${checked.problem}`));
        return;
      }
      const shown =
        checked.ascii === domain.toLowerCase()
          ? show(domain)
          : `${show(domain)} (punycode '${checked.ascii}')`;
      const first = seen.get(checked.ascii);
      if (first !== undefined)
        findings.push(error(pointer, `${shown} is listed twice (also domains/${first})`));
      else seen.set(checked.ascii, j);
      if (
        checked.wildcard &&
        issuer?.type === 'acme' &&
        challenge?.type !== undefined &&
        challenge.type !== 'dns-01'
      ) {
        findings.push(
          error(
            pointer,
            `${shown} is a wildcard; wildcards need a dns-01 challenge, but ${challenge.source} ${challenge.type}`,
          ),
        );
      }
    });
  });
}

/**
 * The renewal window (policy/time.ts's rule, on the lifetime the certificate is expected to get) is shorter
 * than the lifetime, and long enough for three runs at `--interval`.
 */
export function renewalWindows(view: ManifestView, options: CheckOptions): Finding[] {
  return eachCertificate(view, ({ lifetime: expected, renewal }, findings) => {
    if (!expected) return;
    const lifetime = expected.text === undefined ? undefined : parseDuration(expected.text);
    if (lifetime === undefined) return;
    if (lifetime === 0) {
      findings.push(
        error(expected.pointer, 'a lifetime of zero is not a lifetime; give a duration such as 90d'),
      );
      return;
    }
    // Said only in findings: formatting it for each of 10,000 certificates showed in a plan's profile.
    const lifetimeShown = () => formatDuration(lifetime, 'manifest');
    const from = renewal.settings;
    let pointer: string;
    let description: () => string;
    let entry: { renewBeforeMs?: number; renewBeforePercent?: number } = {};
    if (has(from, 'renewBefore')) {
      const text = stringAt(from, 'renewBefore');
      const renewBefore = text === undefined ? undefined : parseDuration(text);
      if (renewBefore === undefined) return;
      pointer = `${renewal.pointer}/renewBefore`;
      if (renewBefore >= lifetime) {
        findings.push(
          error(
            pointer,
            `renewBefore ${text} is not shorter than the ${lifetimeShown()} lifetime ${expected.description}; the certificate would be renewed on every run`,
          ),
        );
        return;
      }
      entry = { renewBeforeMs: renewBefore };
      description = () => `renewBefore ${text}`;
    } else if (has(from, 'renewBeforePercent')) {
      const percent = from?.renewBeforePercent;
      if (typeof percent !== 'number' || !(percent > 0 && percent < 100)) return;
      pointer = `${renewal.pointer}/renewBeforePercent`;
      entry = { renewBeforePercent: percent };
      description = () => `${percent}% of the ${lifetimeShown()} lifetime ${expected.description}`;
    } else {
      const fraction = lifetime <= SHORT_LIFETIME_MS ? 'half' : 'a third';
      pointer = expected.pointer;
      description = () => `by default ${fraction} of the ${lifetimeShown()} lifetime ${expected.description}`;
    }
    const window = renewalWindowMs(lifetime, entry);
    if (window <= 0) {
      findings.push(
        warning(
          pointer,
          `${description()} leaves no renewal window: the certificate would be renewed only once it has expired; give a duration before expiry, or leave the setting out (by default a third of the lifetime)`,
        ),
      );
      return;
    }
    if (window < 3 * options.intervalMs) {
      const shown = `the renewal window is ${formatDuration(window, 'manifest')} (${description()})`;
      // Three runs need an interval of a third of the window; under 1ms (what --interval takes) there is none.
      const third = Math.floor(window / 3 / 60_000) * 60_000 || Math.floor(window / 3);
      const every = formatDuration(third, 'manifest');
      findings.push(
        warning(
          pointer,
          third < 1
            ? `${shown}, which cannot hold three runs at any interval; widen the window`
            : `${shown}, which leaves fewer than three runs at an interval of ${formatDuration(options.intervalMs, 'manifest')}; run at least every ${every} (and validate with --interval ${every}), or widen the window`,
        ),
      );
    }
  });
}

/** `verify.endpoints` (in defaults and certificates) must be `host:port`, `[v6]:port` or `host`. */
export function verifyEndpoints(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  const look = (settings: unknown, pointer: string) => {
    if (!isObject(settings) || !isObject(settings.verify) || !Array.isArray(settings.verify.endpoints))
      return;
    for (const [i, endpoint] of settings.verify.endpoints.entries()) {
      if (typeof endpoint === 'string' && endpoint !== '' && !parseEndpoint(endpoint)) {
        findings.push(
          error(
            `${pointer}/verify/endpoints/${i}`,
            `${JSON.stringify(endpoint)} is not an endpoint: write host:port, [IPv6]:port, or host (port 443)`,
          ),
        );
      }
    }
  };
  look(view.defaults, '/defaults');
  for (const cert of view.certificates) look(cert.entry, cert.pointer);
  return findings;
}

/** The checks `checkManifestText` runs, in order. */
/**
 * Each step-ca issuer's `url` is the CA's base URL (`https://host:port`): the API's paths (`/1.0/sign`,
 * `/roots`) are taken from its root, so a path there (`/acme`, an ACME directory's) would be dropped and
 * the CA misdiagnosed ("not the CA pinned …, HTTP 404") by every run.
 */
export function stepCaUrls(view: ManifestView): Finding[] {
  const findings: Finding[] = [];
  for (const [name, issuer] of Object.entries(view.issuers)) {
    if (!isObject(issuer) || issuer.type !== 'step-ca') continue;
    const text = stringAt(issuer, 'url');
    let url: URL;
    try {
      url = new URL(text ?? '');
    } catch {
      continue; // not a URL: the schema says so
    }
    // From the text itself: the URL parser drops an empty query or fragment (`…/?`, `…/#`) that the CA's
    // API paths would then carry.
    const afterScheme = (text ?? '').slice(url.protocol.length + 2);
    const cut = afterScheme.search(/[/?#]/);
    const rest = cut < 0 ? '' : afterScheme.slice(cut);
    const extra = rest === '/' ? '' : rest;
    if (url.username !== '' || url.password !== '') {
      findings.push(
        error(
          `/issuers/${esc(name)}/url`,
          `holds a user name or password; step-ca's url is its base URL, ${url.protocol}//${url.host}`,
        ),
      );
    } else if (extra !== '') {
      findings.push(
        error(
          `/issuers/${esc(name)}/url`,
          // A query's values are not echoed (they may hold a secret, as show() hides them in the URL).
          `${show(text)} has ${show(extra.replace(/\?.*$/s, '?…'))} after the host: step-ca's url is its base URL, ${url.protocol}//${url.host}, with no path (its API's paths are its own)`,
        ),
      );
    }
  }
  return findings;
}

export const MANIFEST_CHECKS: readonly ManifestCheck[] = [
  durationsInRange,
  references,
  challengeTargets,
  settings,
  certificatesListed,
  uniqueNames,
  challengesUsed,
  domainNames,
  renewalWindows,
  redisUrls,
  redisKeyPrefixes,
  stableFiles,
  lockTimeouts,
  fileModes,
  verifyEndpoints,
  stepCaUrls,
];

/** Runs every check of `MANIFEST_CHECKS` over a parsed manifest (any JSON object, valid or not). */
export function meaningFindings(root: Json, options: CheckOptions): Finding[] {
  const view = viewManifest(root);
  return MANIFEST_CHECKS.flatMap((check) => check(view, options));
}
