/**
 * Making text safe to echo: what a child process (a hook, a dns-01 provider), a CA or a manifest says may
 * carry terminal escape sequences, a URL with a password in it, or a credential it printed. Every place that shows such text to an
 * operator (the logger, errors, validate's messages, report tables) passes it through here.
 */

/**
 * Userinfo of anything that looks like a URL, malformed ones included (`redis://:S3cret@host/0 `,
 * `redis:/user:pw@host`, spaces in the password): everything between `scheme:/` (one to three slashes)
 * and the `@` before the host is replaced by `***`. A scheme is letters, digits, `+`, `-`, `.` after a letter.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/{1,3})([^/?#'"<>\n]*)@/gi;
/**
 * Mistyped separators still mark what follows as userinfo: `rediss//:pw@h` (no colon), `redis::pw@h` (no
 * slashes). The userinfo cannot hold white space or a slash here, so prose such as "example: a@b" is left
 * alone.
 */
const LOOSE_USERINFO = /\b([a-z][a-z0-9+.-]*[:/]{1,4})([^/?#'"<>\s@]+)@/gi;
/** `redis://:pw-and-no-at-sign` (the '@' forgotten): an authority that starts with ':' is a password. */
const BARE_PASSWORD = /\b([a-z][a-z0-9+.-]*:?\/\/):([^/?#'"<>\s@]+)(?![^/?#'"<>\s@]|@)/gi;
/** The query of a URL (`redis://h/0?password=pw`): parameter values may be credentials. */
const URL_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s'"<>?#]*\?)([^\s'"<>#]+)/gi;

/** `a=1&b&c=3` → `a=***&b&c=***`: names kept (they say what was given), values hidden. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair : `${pair.slice(0, eq + 1)}***`;
    })
    .join('&');
}

/**
 * `redis://:S3cret@127.0.0.1/0` → `redis://***@127.0.0.1/0`, `redis://h/0?password=S3cret` →
 * `redis://h/0?password=***`; text without userinfo or query is returned as is. Malformed shapes are
 * hidden too: a missing colon or slashes before the userinfo, and a password whose '@' was forgotten
 * (`redis://:S3cret…` → `redis://:***`).
 */
export function redactUrls(text: string): string {
  if (!text.includes('@') && !text.includes('//:') && !text.includes('?')) return text;
  return text
    .replace(URL_QUERY, (_whole, head: string, query: string) => `${head}${redactQuery(query)}`)
    .replace(URL_USERINFO, (whole, scheme: string, userinfo: string) =>
      userinfo === '' ? whole : `${scheme}***@`,
    )
    .replace(LOOSE_USERINFO, (whole, scheme: string, userinfo: string) =>
      userinfo === '***' ? whole : `${scheme}***@`,
    )
    .replace(BARE_PASSWORD, (_whole, scheme: string) => `${scheme}:***`);
}

/** A URL value from the manifest, shown with its userinfo (wherever it sits before the last '@') hidden. */
export function redactUrlValue(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/{0,3}/i.exec(value)?.[0] ?? '';
  return `${scheme}***${value.slice(at)}`;
}

const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * C0 and C1 control characters (ESC, BEL, CR, backspace …) and Unicode line/paragraph separators and
 * bidirectional overrides as visible escapes (`\u001b`), so echoed text cannot move the cursor, rewrite a
 * terminal line, change a window title or forge a line of a log. Newlines and tabs are kept only when
 * `keepNewlines` (multi-line output); else newlines show as `\n` and tabs become spaces.
 */
export function neutralise(text: string, keepNewlines = false): string {
  const controls = CONTROLS;
  if (!controls.test(text) && !text.includes('\t')) return text;
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (c === '\t') out += keepNewlines ? '\t' : ' ';
    else if (c === '\n') out += keepNewlines ? '\n' : '\\n';
    else if (controls.test(c)) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out;
}

/** Words that name a credential; a value given right after one (`=`, `:`) is hidden. */
const CREDENTIAL_WORD =
  /(authorization|bearer|api[-_]?key|apikey|x-api-key|access[-_]?key|secret|token|passw(or)?d|passphrase|hmac[-_]?key|private[-_]?key)/i;
/**
 * `Authorization: Bearer abc`, `Authorization: Basic abc` → the scheme kept, the credential hidden.
 * A header line's value runs to the end of the line (or a quote).
 */
const AUTHORIZATION = /\b((?:proxy-)?authorization\s*[:=]\s*)(?:(bearer|basic|token|digest)\s+)?([^\s'"]+)/gi;
/** `Bearer abc` anywhere else (an echoed curl command line, a log line). */
const BEARER = /\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})/gi;
/**
 * `api_key=abc`, `PDNS_API_KEY=abc`, `X-API-Key: abc`, `"token": "abc"`, `password=abc`: the name kept,
 * the value (to a space, `&`, `,`, `;` or quote) hidden. Left as they are: `***`, a value that is only a
 * variable reference (`$VAR`, `${VAR}`), one that opens an object or a list (`"password": {"env": …}`, a
 * secret reference), a name inside a JSON pointer or a dotted path (`/powerdns/apiKey: must be object`),
 * a flag's value (`--secret abc`: it cannot be told from the next word), and the name of an issuer, store,
 * certificate or hook in cert-renew's own `issuer secret: dns-01 command …` (the word before says it is a name).
 */
const CREDENTIAL_PAIR =
  /(?<![/.\w-])(?<!\b(?:issuer|store|certificate|hook|provisioner|lineage)\s+)((?:[A-Za-z0-9]+[-_])*(?:api[-_]?key|apikey|access[-_]?key(?:[-_]?id)?|secret(?:[-_]?(?:access[-_]?)?key)?|client[-_]?secret|auth[-_]?token|access[-_]?token|refresh[-_]?token|token|passw(?:or)?d|passphrase|hmac[-_]?key|private[-_]?key)["']?\s*[:=]\s*["']?)(?![{[])([^\s&,;'"]+)/gi;

/**
 * Whether `value` after `head` (`name=`, `"name": `, `name: `) is taken for a credential. `=`, a quoted
 * name and a name with capitals (a header, an environment variable) always are. A lower-case `name: ` is also how
 * cert-renew starts a line about a certificate (`vault-secret: renewing`), so there the value must look
 * like one: 16 characters or more, or 6 or more with a digit.
 */
function looksSecret(head: string, value: string): boolean {
  if (head.includes('=') || /["']/.test(head) || /[A-Z]/.test(head)) return true;
  return value.length >= 16 || (value.length >= 6 && /[0-9]/.test(value));
}

/**
 * Hides credentials a child process or a server may echo (an exec provider's stderr line, a hook's output,
 * a CA's detail): Authorization header values, bearer tokens, and `name=value` / `name: value` pairs whose
 * name says key, token, secret or password. Names stay (they say what was given); values become `***`.
 */
export function redactCredentials(text: string): string {
  if (!CREDENTIAL_WORD.test(text)) return text;
  return text
    .replace(AUTHORIZATION, (_whole, head: string, scheme: string | undefined, value: string) =>
      value === '***' ? _whole : `${head}${scheme ? `${scheme} ` : ''}***`,
    )
    .replace(BEARER, (_whole, head: string) => `${head}***`)
    .replace(CREDENTIAL_PAIR, (whole, head: string, value: string) =>
      value === '***' || /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(value) || !looksSecret(head, value)
        ? whole
        : `${head}***`,
    );
}

/**
 * Values this run knows are secret, whatever shape they are printed in (`403 for token SUPERSECRET`,
 * `{"key":"…"}`): the values of the manifest's secret references (TSIG secrets, PowerDNS apiKey, EAB keys,
 * step-ca passwords, Redis passwords, as they are read) and of the environment variables given to hooks and
 * dns-01 commands whose names say so (SECRET_ENV_NAME). Process-wide on purpose: a secret read once is
 * masked in every later message, log line, report and stored error of the run, whichever module shows it.
 */
const knownSecrets = new Set<string>();
let knownPattern: RegExp | undefined;
/** Shorter values are not masked: they would hide ordinary words and numbers of every message. */
export const MIN_MASKED_SECRET_LENGTH = 6;
/**
 * An environment variable whose value is taken for a secret: its name says key, token, secret, password,
 * passphrase or credential (`DNS_API_TOKEN`, `PDNS_APIKEY`, `TSIG_SECRET`), unless it ends in a word that
 * says the value only points at or names one (`…_FILE`, `…_PATH`, `…_DIR`, `…_URL`, `…_NAME`, `…_USER`).
 */
const SECRET_ENV_NAME = /(key|token|secret|passw(?:or)?d|passphrase|credential)/i;
const SECRET_ENV_POINTER = /[-_](file|path|dir|home|sock|url|name|user|username)$/i;

/**
 * Remembers `value` (and its trimmed form) as a secret of this run: from now on safeText and terminalSafe
 * show it as `***`. Values shorter than MIN_MASKED_SECRET_LENGTH are left (see there).
 */
export function rememberSecret(value: string): void {
  let added = false;
  for (const v of [value, value.trim()]) {
    if (v.length >= MIN_MASKED_SECRET_LENGTH && !knownSecrets.has(v)) {
      knownSecrets.add(v);
      added = true;
    }
  }
  if (added) knownPattern = undefined;
}

/** Whether an environment variable's name marks its value as a secret (SECRET_ENV_NAME). */
export function isSecretEnvName(name: string): boolean {
  return SECRET_ENV_NAME.test(name) && !SECRET_ENV_POINTER.test(name);
}

/** rememberSecret for every variable of `env` whose name says it holds a secret (isSecretEnvName). */
export function rememberSecretEnvironment(env: Readonly<Record<string, string | undefined>>): void {
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && isSecretEnvName(name)) rememberSecret(value);
  }
}

/** For tests: forgets every remembered secret. */
export function forgetSecrets(): void {
  knownSecrets.clear();
  knownPattern = undefined;
}

/** Every remembered secret in `text` as `***` (longest first, so one secret inside another is hidden whole). */
export function redactKnownSecrets(text: string): string {
  if (knownSecrets.size === 0) return text;
  knownPattern ??= new RegExp(
    [...knownSecrets]
      .sort((a, b) => b.length - a.length)
      .map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  );
  return text.replace(knownPattern, '***');
}

/** All four: what every echo of outside text goes through. */
export function safeText(text: string, keepNewlines = false): string {
  return neutralise(redactCredentials(redactUrls(redactKnownSecrets(text))), keepNewlines);
}

const SGR = /\u001b\[[0-9;]*m/g;
/** CONTROLS without newline and tab: what a multi-line output must not carry. */
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * The last line of defence before a terminal: newlines, tabs and colour codes (SGR, as cert-renew paints
 * tables) pass; every other control character or escape sequence is shown escaped. What reaches stdout or
 * stderr of the real process goes through this, whichever reporter or message produced it; so do the run's
 * known secrets (redactKnownSecrets), whatever path the text took (a stored error read back, a report).
 */
export function terminalSafe(raw: string): string {
  const text = redactKnownSecrets(raw);
  if (!TERMINAL_CONTROLS.test(text)) return text;
  let out = '';
  let last = 0;
  for (const match of text.matchAll(SGR)) {
    out += neutralise(text.slice(last, match.index), true) + match[0];
    last = (match.index ?? 0) + match[0].length;
  }
  return out + neutralise(text.slice(last), true);
}

/**
 * Clauses of one line joined with `; `: a clause followed by another loses the sentence-final period it may
 * bring (a Redis reply such as `OOM command not allowed when used memory > 'maxmemory'.`), so the line never
 * reads `.; `. The last clause and an ellipsis are left as they are; empty clauses are dropped.
 */
export function joinClauses(...clauses: string[]): string {
  const kept = clauses.filter((c) => c !== '');
  return kept
    .map((c, i) => (i < kept.length - 1 && c.endsWith('.') && !c.endsWith('..') ? c.slice(0, -1) : c))
    .join('; ');
}
