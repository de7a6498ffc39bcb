/**
 * Everything `cert-renew validate` checks, as one pure function over the text of a manifest: the JSON syntax,
 * the schema, and the checks a schema cannot express (unique names, host names, references between
 * certificates, issuers and stores, wildcards and challenges, renewal windows). Every problem comes back with
 * its JSON pointer and its line and column. Nothing here touches the network, a store or a hook.
 */
import { formatDuration, parseDuration } from '../util/duration.js';
import { type JsonLocation, positionAt, scanJson } from './positions.js';
import { checkDomain } from './resolve.js';
import { didYouMean, schemaProblems, show } from './schema.js';
import type { Manifest } from './types.js';

export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  /** JSON pointer ("" is the whole document). */
  pointer: string;
  line?: number;
  column?: number;
  message: string;
}

export interface CheckOptions {
  /** How often the renewal job runs (`--interval`, default 24h), for the renewal window warning. */
  intervalMs: number;
}

/** Larger files are refused without being parsed. */
export const MAX_MANIFEST_BYTES = 5 * 1024 * 1024;
/** Deeper JSON is refused (a manifest needs about 8 levels). */
export const MAX_DEPTH = 64;
/** At most this many diagnostics per file; the last one says how many more there were. */
export const MAX_DIAGNOSTICS = 1000;

const DAY = 86_400_000;

type Json = Record<string, unknown>;

/** A problem before it has a position: `at` is the pointer whose line/column to show (default `pointer`). */
interface Finding {
  severity: 'error' | 'warning';
  pointer: string;
  at?: string;
  message: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objectAt = (o: Json | undefined, key: string): Json | undefined => {
  const v = o && Object.hasOwn(o, key) ? o[key] : undefined;
  return isObject(v) ? v : undefined;
};
const stringAt = (o: Json | undefined, key: string): string | undefined => {
  const v = o && Object.hasOwn(o, key) ? o[key] : undefined;
  return typeof v === 'string' ? v : undefined;
};
const has = (o: Json | undefined, key: string): boolean => o !== undefined && Object.hasOwn(o, key);

/** "90d", "36h", "2h40m", "45s": a duration string the manifest and `--interval` accept. */
export function compactDuration(ms: number): string {
  return formatDuration(ms, 'manifest');
}

/** The semantic checks, on a value that may or may not have passed the schema (so: defensive). */
function semanticFindings(root: Json, options: CheckOptions): Finding[] {
  const findings: Finding[] = [];
  const error = (pointer: string, message: string, at?: string) =>
    findings.push(
      at === undefined
        ? { severity: 'error', pointer, message }
        : { severity: 'error', pointer, message, at },
    );
  const warning = (pointer: string, message: string) =>
    findings.push({ severity: 'warning', pointer, message });

  checkDurationRanges(root, '', error);
  const issuers = objectAt(root, 'issuers') ?? {};
  const stores = objectAt(root, 'stores') ?? {};
  const defaults = objectAt(root, 'defaults');
  const certificates = Array.isArray(root.certificates) ? (root.certificates as unknown[]) : [];

  const defined = (kind: string, names: string[]): string =>
    names.length === 0
      ? `; no ${kind}s are defined`
      : ` (defined: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})`;

  const checkIssuerRef = (name: string, pointer: string): boolean => {
    if (Object.hasOwn(issuers, name)) return true;
    const names = Object.keys(issuers);
    error(
      pointer,
      `issuer '${name}' is not defined in 'issuers'${didYouMean(name, names)}${defined('issuer', names)}`,
    );
    return false;
  };
  const checkStoreRef = (name: string, pointer: string, needRedis: string | undefined): boolean => {
    const names = Object.keys(stores);
    if (!Object.hasOwn(stores, name)) {
      error(
        pointer,
        `store '${name}' is not defined in 'stores'${didYouMean(name, names)}${defined('store', names)}`,
      );
      return false;
    }
    const type = stringAt(objectAt(stores, name), 'type');
    if (needRedis && type !== undefined && type !== 'redis') {
      error(pointer, `store '${name}' is a ${type} store; ${needRedis} needs a redis store`);
      return false;
    }
    return true;
  };
  const checkChallenge = (challenge: Json | undefined, pointer: string): void => {
    if (!challenge) return;
    const redis = stringAt(challenge, 'redis');
    if (redis !== undefined) checkStoreRef(redis, `${pointer}/redis`, "an http-01 challenge in 'redis'");
    const standalone = stringAt(challenge, 'standalone');
    const port = standalone === undefined ? undefined : /:([0-9]{1,5})$/.exec(standalone)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      error(`${pointer}/standalone`, `port ${port} is out of range (1-65535)`);
    }
    checkDns01(challenge, pointer, error, warning);
  };

  // Issuers and stores: their own references.
  for (const [name, value] of Object.entries(issuers)) {
    if (!isObject(value)) continue;
    const store = stringAt(value, 'store');
    if (value.type === 'local-ca' && store !== undefined)
      checkStoreRef(store, `/issuers/${esc(name)}/store`, undefined);
    if (value.type === 'acme')
      checkChallenge(objectAt(value, 'challenge'), `/issuers/${esc(name)}/challenge`);
  }
  for (const [name, value] of Object.entries(stores)) {
    if (!isObject(value)) continue;
    const locks = stringAt(value, 'locks');
    if (value.type === 'filesystem' && locks !== undefined) {
      checkStoreRef(locks, `/stores/${esc(name)}/locks`, "'locks'");
    }
  }

  // Defaults.
  const defaultIssuer = stringAt(defaults, 'issuer');
  const defaultStore = stringAt(defaults, 'store');
  const defaultIssuerOk = defaultIssuer !== undefined && checkIssuerRef(defaultIssuer, '/defaults/issuer');
  if (defaultStore !== undefined) checkStoreRef(defaultStore, '/defaults/store', undefined);
  checkChallenge(objectAt(defaults, 'challenge'), '/defaults/challenge');
  if (defaults) checkSettings(defaults, '/defaults', error);

  if (Array.isArray(root.certificates) && certificates.length === 0) {
    warning('/certificates', 'lists no certificates; there is nothing to renew');
  }

  const names = new Map<string, { name: string; index: number }>();
  certificates.forEach((cert, index) => {
    if (!isObject(cert)) return;
    const base = `/certificates/${index}`;

    // Name: unique (also ignoring case: case-insensitive file systems) and safe.
    const name = stringAt(cert, 'name');
    if (name !== undefined) {
      if (name.includes('..'))
        error(`${base}/name`, `${show(name)} contains '..'; names become file and key names`);
      const earlier = names.get(name.toLowerCase());
      if (earlier && earlier.name === name) {
        error(
          `${base}/name`,
          `name ${show(name)} is already used by certificates/${earlier.index}; names must be unique`,
        );
      } else if (earlier) {
        error(
          `${base}/name`,
          `name ${show(name)} differs only in case from ${show(earlier.name)} (certificates/${earlier.index}); they would share a directory on case-insensitive file systems`,
        );
      } else {
        names.set(name.toLowerCase(), { name, index });
      }
    }
    const label = name === undefined ? `certificates/${index}` : `'${name}'`;

    // Issuer and store references.
    const ownIssuer = stringAt(cert, 'issuer');
    let issuerName: string | undefined;
    if (ownIssuer !== undefined) {
      if (checkIssuerRef(ownIssuer, `${base}/issuer`)) issuerName = ownIssuer;
    } else if (!has(cert, 'issuer')) {
      if (defaultIssuer === undefined)
        error(base, `${label} has no issuer: set 'issuer' here or in 'defaults'`);
      else if (defaultIssuerOk) issuerName = defaultIssuer;
    }
    const ownStore = stringAt(cert, 'store');
    if (ownStore !== undefined) checkStoreRef(ownStore, `${base}/store`, undefined);
    else if (!has(cert, 'store') && defaultStore === undefined) {
      error(base, `${label} has no store: set 'store' here or in 'defaults'`);
    }
    checkChallenge(objectAt(cert, 'challenge'), `${base}/challenge`);
    checkSettings(cert, base, error);

    const issuer = issuerName === undefined ? undefined : objectAt(issuers, issuerName);
    const issuerType = stringAt(issuer, 'type');

    // Challenges only mean something to ACME.
    if (has(cert, 'challenge') && issuerType !== undefined && issuerType !== 'acme') {
      warning(
        `${base}/challenge`,
        `is ignored: issuer '${issuerName}' is ${issuerType}, and only acme issuers use challenges`,
      );
    }
    let challenge: Json | undefined;
    let challengeSource = '';
    if (issuerType === 'acme') {
      if (has(cert, 'challenge')) {
        challenge = objectAt(cert, 'challenge');
        challengeSource = "this certificate's challenge is";
      } else if (has(defaults, 'challenge')) {
        challenge = objectAt(defaults, 'challenge');
        challengeSource = 'the default challenge (defaults/challenge) is';
      } else {
        challenge = objectAt(issuer, 'challenge');
        challengeSource = `issuer '${issuerName}' uses`;
      }
    }
    const challengeType = stringAt(challenge, 'type');

    // Domains: host names, unique after punycode, wildcards only where the challenge allows.
    const domains = Array.isArray(cert.domains) ? (cert.domains as unknown[]) : [];
    const seen = new Map<string, number>();
    domains.forEach((domain, j) => {
      if (typeof domain !== 'string' || domain === '') return;
      const pointer = `${base}/domains/${j}`;
      const checked = checkDomain(domain);
      if (!checked.ok) {
        error(pointer, `${show(domain)} ${checked.problem}`);
        return;
      }
      const shown =
        checked.ascii === domain.toLowerCase()
          ? show(domain)
          : `${show(domain)} (punycode '${checked.ascii}')`;
      const first = seen.get(checked.ascii);
      if (first !== undefined) {
        error(pointer, `${shown} is listed twice (also domains/${first})`);
      } else {
        seen.set(checked.ascii, j);
      }
      if (
        checked.wildcard &&
        issuerType === 'acme' &&
        challengeType !== undefined &&
        challengeType !== 'dns-01'
      ) {
        error(
          pointer,
          `${shown} is a wildcard; wildcards need a dns-01 challenge, but ${challengeSource} ${challengeType}`,
        );
      }
    });

    // Renewal window against the lifetime.
    if (issuer && issuerType !== undefined) checkWindow(cert, base, issuerName as string, issuer, issuerType);
  });

  function checkWindow(cert: Json, base: string, issuerName: string, issuer: Json, issuerType: string): void {
    // Lifetime: the certificate's (where the issuer lets the client choose), else the issuer's, else its default.
    let lifetimeText: string | undefined;
    let lifetimePointer: string;
    let lifetimeDescription: string;
    const chooses = issuerType === 'step-ca' || issuerType === 'local-ca';
    if (chooses && has(cert, 'lifetime')) {
      lifetimeText = stringAt(cert, 'lifetime');
      lifetimePointer = `${base}/lifetime`;
      lifetimeDescription = 'this certificate asks for';
    } else if (chooses && has(defaults, 'lifetime')) {
      lifetimeText = stringAt(defaults, 'lifetime');
      lifetimePointer = '/defaults/lifetime';
      lifetimeDescription = 'the defaults ask for';
    } else if (has(issuer, 'lifetime')) {
      lifetimeText = stringAt(issuer, 'lifetime');
      lifetimePointer = `/issuers/${esc(issuerName)}/lifetime`;
      lifetimeDescription = `issuer '${issuerName}' gives`;
    } else {
      lifetimeText = issuerType === 'step-ca' ? '24h' : '90d';
      lifetimePointer = `/issuers/${esc(issuerName)}`;
      lifetimeDescription =
        issuerType === 'step-ca'
          ? `issuer '${issuerName}' gives (step-ca's default; set its 'lifetime' if yours differs)`
          : issuerType === 'acme'
            ? `issuer '${issuerName}' gives (assumed; set its 'lifetime' if the CA gives another)`
            : `issuer '${issuerName}' gives (local-ca's default)`;
    }
    const lifetime = lifetimeText === undefined ? undefined : parseDuration(lifetimeText);
    if (lifetime === undefined) return;
    if (lifetime === 0) {
      error(lifetimePointer, 'a lifetime of zero is not a lifetime; give a duration such as 90d');
      return;
    }
    const lifetimeShown = compactDuration(lifetime);

    const own = has(cert, 'renewBefore') || has(cert, 'renewBeforePercent');
    const from = own ? cert : defaults;
    const fromPointer = own ? base : '/defaults';
    let window: number;
    let windowDescription: string;
    let pointer: string;
    if (has(from, 'renewBefore')) {
      const text = stringAt(from, 'renewBefore');
      const renewBefore = text === undefined ? undefined : parseDuration(text);
      if (renewBefore === undefined) return;
      pointer = `${fromPointer}/renewBefore`;
      if (renewBefore >= lifetime) {
        error(
          pointer,
          `renewBefore ${text} is not shorter than the ${lifetimeShown} lifetime ${lifetimeDescription}; the certificate would be renewed on every run`,
        );
        return;
      }
      window = renewBefore;
      windowDescription = `renewBefore ${text}`;
    } else if (has(from, 'renewBeforePercent')) {
      const percent = from?.renewBeforePercent;
      if (typeof percent !== 'number' || !(percent > 0 && percent < 100)) return;
      pointer = `${fromPointer}/renewBeforePercent`;
      window = (lifetime * percent) / 100;
      windowDescription = `${percent}% of the ${lifetimeShown} lifetime ${lifetimeDescription}`;
    } else {
      const short = lifetime <= 10 * DAY;
      pointer = lifetimePointer;
      window = short ? lifetime / 2 : lifetime / 3;
      windowDescription = `by default ${short ? 'half' : 'a third'} of the ${lifetimeShown} lifetime ${lifetimeDescription}`;
    }
    if (window < 3 * options.intervalMs) {
      const every = compactDuration(Math.floor(window / 3 / 60_000) * 60_000 || Math.floor(window / 3));
      warning(
        pointer,
        `the renewal window is ${compactDuration(window)} (${windowDescription}), which leaves fewer than three runs at an interval of ${compactDuration(options.intervalMs)}; run at least every ${every} (and validate with --interval ${every}), or widen the window`,
      );
    }
  }

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
/**
 * dns-01 settings the schema cannot judge: ports in range, a propagation interval above zero, and an
 * API key that would cross the network in clear. Never contacts a server.
 */
function checkDns01(
  challenge: Json,
  pointer: string,
  error: (pointer: string, message: string) => void,
  warning: (pointer: string, message: string) => void,
): void {
  if (challenge.type !== 'dns-01') return;
  const port = (text: unknown, at: string) => {
    const match = typeof text === 'string' ? /:([0-9]{1,5})$/.exec(text) : null;
    if (match && (Number(match[1]) < 1 || Number(match[1]) > 65535)) {
      error(at, `port ${match[1]} is out of range (1-65535)`);
    }
  };
  const nameservers = challenge.nameservers;
  if (Array.isArray(nameservers)) {
    for (const [i, server] of nameservers.entries()) port(server, `${pointer}/nameservers/${i}`);
  }
  const rfc2136 = objectAt(challenge, 'rfc2136');
  if (rfc2136) port(rfc2136.server, `${pointer}/rfc2136/server`);
  const interval = stringAt(challenge, 'propagationInterval');
  if (interval !== undefined && parseDuration(interval) === 0) {
    error(
      `${pointer}/propagationInterval`,
      'must be longer than 0s (every authoritative server is asked each round)',
    );
  }
  const url = stringAt(objectAt(challenge, 'powerdns'), 'url');
  if (url?.startsWith('http://')) {
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      host = '';
    }
    if (host !== '' && host !== 'localhost' && host !== '[::1]' && !host.startsWith('127.')) {
      warning(
        `${pointer}/powerdns/url`,
        `the API key would cross the network in clear to ${host}: use https (a TLS proxy in front of the PowerDNS webserver)`,
      );
    }
  }
}

/** A hundred years: anything longer is a typo, and past what the clock arithmetic can hold. */
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** Durations that match the pattern but are absurdly long (`"999999999d"`) are errors here, not crashes later. */
function checkDurationRanges(
  value: Json | unknown,
  pointer: string,
  error: (pointer: string, message: string) => void,
): void {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) checkDurationRanges(item, `${pointer}/${i}`, error);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const at = `${pointer}/${esc(key)}`;
    if (DURATION_KEYS.has(key) && typeof child === 'string' && /^(?:[0-9]+(?:ms|s|m|h|d|w))+$/.test(child)) {
      const ms = parseDuration(child);
      if (ms === undefined || ms > MAX_DURATION_MS)
        error(at, `${JSON.stringify(child)} is too long; durations go up to 100 years`);
    } else {
      checkDurationRanges(child, at, error);
    }
  }
}

/** Checks shared by `defaults` and certificates: window settings and hooks. */
function checkSettings(
  settings: Json,
  base: string,
  error: (pointer: string, message: string) => void,
): void {
  if (has(settings, 'renewBefore') && has(settings, 'renewBeforePercent')) {
    error(base, "sets both 'renewBefore' and 'renewBeforePercent'; keep one");
  }
  const hooks = objectAt(settings, 'hooks');
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
      error(
        `${base}/hooks/${kind}/${k}/run`,
        `is a string, and a string command needs a shell; ${suggestion}`,
      );
    });
  }
}

function esc(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function locate(
  locations: Map<string, JsonLocation> | undefined,
  pointer: string,
): { line: number; column: number } {
  let p = pointer;
  for (;;) {
    const location = locations?.get(p);
    if (location) return location.key ?? location.value;
    if (p === '') return { line: 1, column: 1 };
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

function nodeJsonError(text: string, error: unknown): { message: string; line: number; column: number } {
  const message = error instanceof Error ? error.message : String(error);
  const at = /position (\d+)/.exec(message);
  const position = at ? positionAt(text, Number(at[1])) : positionAt(text, text.length);
  return { message: `invalid JSON: ${message.split('\n')[0]}`, ...position };
}

/**
 * Checks the text of a manifest. Never throws. `manifest` is set when there is no error (warnings allowed).
 * A UTF-8 byte order mark at the start is accepted and ignored.
 */
export function checkManifestText(
  text: string,
  file: string,
  options: CheckOptions,
): { manifest?: Manifest; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const at = (
    severity: Diagnostic['severity'],
    pointer: string,
    line: number,
    column: number,
    message: string,
  ) => diagnostics.push({ severity, file, pointer, line, column, message });
  if (text.length > MAX_MANIFEST_BYTES) {
    at(
      'error',
      '',
      1,
      1,
      `the manifest is larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MB; split it or trim it`,
    );
    return { diagnostics };
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;

  const scan = scanJson(body, { collect: false, maxDepth: MAX_DEPTH });
  if (scan.error) {
    at(
      'error',
      '',
      scan.error.position.line,
      scan.error.position.column,
      `invalid JSON: ${scan.error.message}`,
    );
    return { diagnostics };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (parseError) {
    const problem = nodeJsonError(body, parseError);
    at('error', '', problem.line, problem.column, problem.message);
    return { diagnostics };
  }
  if (!isObject(value)) {
    const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    at('error', '', 1, 1, `the manifest must be a JSON object ({"version": 1, …}), not ${kind}`);
    return { diagnostics };
  }

  const findings: Finding[] = [];
  for (const d of scan.duplicates) {
    findings.push({
      severity: 'error',
      pointer: `${d.pointer}/${esc(d.key)}`,
      message: `duplicate key '${d.key}' (first at line ${d.first.line}, column ${d.first.column}); JSON keeps only the last one`,
    });
  }
  // Schema problems, then the semantic checks (which are written to cope with whatever the schema rejected).
  try {
    for (const problem of schemaProblems(value)) {
      findings.push({
        severity: 'error',
        pointer: problem.pointer,
        at: problem.at,
        message: problem.message,
      });
    }
    findings.push(...semanticFindings(value, options));
  } catch (bug) {
    const reason = bug instanceof Error ? bug.message : String(bug);
    findings.push({
      severity: 'error',
      pointer: '',
      message: `internal error while checking (please report this): ${reason}`,
    });
  }

  // Duplicate-key findings point at the second key, which the parsed value no longer has: locate those directly.
  const duplicateAt = new Map(scan.duplicates.map((d) => [`${d.pointer}/${esc(d.key)}`, d.position]));
  const locations =
    findings.length > 0 ? scanJson(body, { collect: true, maxDepth: MAX_DEPTH }).locations : undefined;
  const seen = new Set<string>();
  for (const finding of findings) {
    const key = `${finding.severity}\n${finding.pointer}\n${finding.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const position = duplicateAt.get(finding.pointer) ?? locate(locations, finding.at ?? finding.pointer);
    at(finding.severity, finding.pointer, position.line, position.column, finding.message);
  }
  diagnostics.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  if (diagnostics.length > MAX_DIAGNOSTICS) {
    const more = diagnostics.length - (MAX_DIAGNOSTICS - 1);
    const hasError = diagnostics.some((d) => d.severity === 'error');
    diagnostics.length = MAX_DIAGNOSTICS - 1;
    diagnostics.push({
      severity: hasError ? 'error' : 'warning',
      file,
      pointer: '',
      line: 1,
      column: 1,
      message: `${more} more problems not shown`,
    });
  }
  const valid = !diagnostics.some((d) => d.severity === 'error');
  return valid ? { manifest: value as unknown as Manifest, diagnostics } : { diagnostics };
}
