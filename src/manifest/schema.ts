/**
 * The manifest's JSON Schema: loaded and compiled once, on first use, and its ajv errors turned into plain
 * words. ajv reports every problem (`allErrors`); the `if`/`then` dispatch on `type` keeps them to the
 * variant the manifest chose, and the noise ajv adds around that (failed `if`, `oneOf` branches) is dropped.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import { escapePointerToken } from './positions.js';
import { type CompiledValidator, compileValidator } from './schema-compile.js';
import { show } from './show.js';

type Json = Record<string, unknown>;

export interface SchemaProblem {
  /** What the message is about. */
  pointer: string;
  /** Whose line and column to show (the unknown key, for an unknown property). */
  at: string;
  message: string;
}

let schemaText: string | undefined;
let schemaCache: Json | undefined;
let validatorCache: CompiledValidator | undefined;

function manifestSchemaText(): string {
  // Its URL made here, not when the module loads: a run whose manifest's verdict is kept reads no schema.
  schemaText ??= readFileSync(
    new URL('../../../schemas/certificate-manifest.schema.json', import.meta.url),
    'utf8',
  );
  return schemaText;
}

/** The schema as shipped in `schemas/` (parsed once). */
export function manifestSchema(): Json {
  schemaCache ??= JSON.parse(manifestSchemaText()) as Json;
  return schemaCache;
}

/**
 * The validator generated at build time (`schema-validator.cjs`, see schema-compile.ts) when it exists and
 * was compiled from the shipped schema text; otherwise undefined.
 */
export function precompiledValidator(): CompiledValidator | undefined {
  let generated: CompiledValidator & { schemaText?: string };
  try {
    // scripts/bundle.mjs turns this exact call into a require() that bundles the file: keep it as it is.
    generated = createRequire(import.meta.url)('./schema-validator.cjs') as typeof generated;
  } catch {
    return undefined;
  }
  if (typeof generated !== 'function') return undefined;
  return generated.schemaText === manifestSchemaText() ? generated : undefined;
}

function validator(): CompiledValidator {
  // Without a matching build-time validator (a bare `tsc` build, or the schema changed since) ajv compiles
  // the schema now: the same result, a few hundred milliseconds later.
  validatorCache ??= precompiledValidator() ?? compileValidator(manifestSchema());
  return validatorCache;
}

function defs(): Record<string, Json> {
  return manifestSchema().$defs as Record<string, Json>;
}

function def(name: string): Json {
  return defs()[name] as Json;
}

const schemaJson = new WeakMap<object, string>();
function textOf(schema: Json): string {
  let text = schemaJson.get(schema);
  if (text === undefined) {
    text = JSON.stringify(schema);
    schemaJson.set(schema, text);
  }
  return text;
}

/**
 * Whether an error's `parentSchema` is the named definition. Compared by content, not identity: the
 * build-time validator carries its own copies of the schema's objects.
 */
function isDef(parent: Json | undefined, name: string): boolean {
  return parent !== undefined && textOf(parent) === textOf(def(name));
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "an object", "a string", "an array" … for messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a number';
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return typeof value;
  }
}

function typeName(type: string): string {
  return (
    ({ object: 'an object', array: 'an array', integer: 'an integer' } as Record<string, string>)[type] ??
    `a ${type}`
  );
}

/**
 * Edit distance between a and b (case-insensitive), or 99 when it is above `max`: only the diagonal band
 * |i - j| <= max is computed and a row whose best cell is above `max` stops it, so one comparison costs
 * O(length × max), not O(length²).
 */
function editDistance(a: string, b: string, max = 3): number {
  if (Math.abs(a.length - b.length) > max) return 99;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const big = max + 1;
  let row = new Int32Array(y.length + 1);
  let next = new Int32Array(y.length + 1);
  for (let j = 0; j <= y.length; j++) row[j] = j <= max ? j : big;
  for (let i = 1; i <= x.length; i++) {
    next.fill(big);
    next[0] = i <= max ? i : big;
    let best = next[0] as number;
    const from = Math.max(1, i - max);
    const to = Math.min(y.length, i + max);
    for (let j = from; j <= to; j++) {
      const cost = x.charCodeAt(i - 1) === y.charCodeAt(j - 1) ? 0 : 1;
      const value = Math.min(
        (row[j] as number) + 1,
        (next[j - 1] as number) + 1,
        (row[j - 1] as number) + cost,
        big,
      );
      next[j] = value;
      if (value < best) best = value;
    }
    if (best > max) return 99;
    [row, next] = [next, row];
  }
  const d = row[y.length] as number;
  return d > max ? 99 : d;
}

/** At most this many candidates are compared for one suggestion: long lists get a prefiltered sample. */
const MAX_SUGGESTION_CANDIDATES = 64;

/** Candidates by length, and by length + first + last character (lower case); built once per list. */
interface CandidateIndex {
  byLength: Map<number, string[]>;
  byShape: Map<string, string[]>;
}
const indexes = new WeakMap<readonly string[], CandidateIndex>();
const shapeOf = (word: string, length = word.length) =>
  `${length}|${word[0]?.toLowerCase() ?? ''}|${word[word.length - 1]?.toLowerCase() ?? ''}`;

function indexOf(candidates: readonly string[]): CandidateIndex {
  let index = indexes.get(candidates);
  if (!index) {
    index = { byLength: new Map(), byShape: new Map() };
    for (const c of candidates) {
      const length = index.byLength.get(c.length) ?? [];
      length.push(c);
      index.byLength.set(c.length, length);
      const shape = index.byShape.get(shapeOf(c)) ?? [];
      shape.push(c);
      index.byShape.set(shapeOf(c), shape);
    }
    indexes.set(candidates, index);
  }
  return index;
}

/**
 * " (did you mean 'directory'?)" when one candidate is close. The candidates are indexed once per list
 * (callers pass the same array for every reference), and at most MAX_SUGGESTION_CANDIDATES edit distances
 * are computed per call, those sharing the word's length window and its first and last characters first:
 * 4,000 misspelled references to 4,000 issuers take linear time.
 */
export function didYouMean(word: string, candidates: readonly string[]): string {
  if (word.length > 256 || candidates.length === 0) return '';
  const limit = Math.max(2, Math.floor(word.length / 4));
  const index = indexOf(candidates);
  const pool: string[] = [];
  const take = (list: string[] | undefined) => {
    for (const c of list ?? []) {
      if (pool.length >= MAX_SUGGESTION_CANDIDATES) return;
      pool.push(c);
    }
  };
  const lengths: number[] = [word.length];
  for (let d = 1; d <= limit; d++) lengths.push(word.length - d, word.length + d);
  for (const length of lengths) take(index.byShape.get(shapeOf(word, length)));
  if (pool.length < MAX_SUGGESTION_CANDIDATES) {
    const chosen = new Set(pool);
    for (const length of lengths) {
      for (const c of index.byLength.get(length) ?? []) {
        if (pool.length >= MAX_SUGGESTION_CANDIDATES) break;
        if (!chosen.has(c)) pool.push(c);
      }
    }
  }
  let best: string | undefined;
  let bestDistance = limit;
  for (const candidate of pool) {
    const d = editDistance(word, candidate, bestDistance);
    if (d <= bestDistance && d < 99) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function knownProperties(schema: Json): string[] {
  const names = Object.keys(isObject(schema.properties) ? schema.properties : {});
  if (schema.$ref === '#/$defs/renewalSettings') names.push(...knownProperties(def('renewalSettings')));
  return names;
}

function listOf(names: readonly string[], conjunction = 'or'): string {
  const quoted = names.map((n) => `'${n}'`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted[quoted.length - 1]}`;
}

/** Single-property `required` branches of a `oneOf` ("exactly one of url, sentinel, cluster"). */
function exclusiveKeys(schema: unknown): string[] | undefined {
  if (!isObject(schema) || !Array.isArray(schema.oneOf)) return undefined;
  const keys: string[] = [];
  for (const branch of schema.oneOf) {
    if (!isObject(branch) || !Array.isArray(branch.required) || branch.required.length !== 1)
      return undefined;
    keys.push(String(branch.required[0]));
  }
  return keys;
}

const SECRET_HINT =
  'use {"env": "NAME"} or {"file": "/path"}; secrets are never written in the manifest in clear';

function patternMessage(error: ErrorObject): string {
  const data = error.data;
  const parent = error.parentSchema as Json | undefined;
  const pattern = String(error.schema);
  const value = show(data);
  if (isDef(parent, 'duration')) {
    return `${value} is not a duration; write a number and a unit such as '90d', '12h' or '1h30m' (units ms, s, m, h, d, w)`;
  }
  if (isDef(parent, 'envName')) {
    return `${value} is not an environment variable name (letters, digits and '_', not starting with a digit)`;
  }
  if (isDef(parent, 'name')) {
    return `${value} is not a safe name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`;
  }
  if (isDef(parent, 'fileName') || error.instancePath.endsWith('/combined')) {
    return `${value} is not a plain file name: use letters, digits, '.', '_' and '-', with no directory part`;
  }
  if (pattern === '^https://') return `${value} must be an https:// URL`;
  if (pattern === '^rediss?://') return `${value} must be a redis:// or rediss:// URL`;
  if (pattern.startsWith('^[0-9A-Fa-f]{2}')) {
    return `${value} is not a SHA-256 fingerprint: 64 hex digits, colons optional (step certificate fingerprint root_ca.crt)`;
  }
  if (pattern.startsWith('^0?[0-7]')) return `${value} is not an octal file mode such as '0600'`;
  if (isDef(parent, 'dnsServer')) {
    return `${value} is not a nameserver address: a host name or IP address with an optional port, such as '192.0.2.53', '192.0.2.53:53', '[2001:db8::53]:53' or 'ns1.example.com'`;
  }
  if (pattern.startsWith('^(?:\\['))
    return `${value} is not host:port, such as '0.0.0.0:80', ':80' or '[::]:80'`;
  return `${value} does not match the pattern ${pattern}`;
}

function translate(error: ErrorObject): SchemaProblem | undefined {
  const pointer = error.instancePath;
  const data = error.data;
  const params = error.params as Record<string, unknown>;
  const parent = error.parentSchema as Json | undefined;
  const plain = (message: string, at = pointer): SchemaProblem => ({ pointer, at, message });

  switch (error.keyword) {
    case 'if':
    case 'propertyNames':
      return undefined;
    case 'required': {
      if (/\/oneOf\/[0-9]+\/required$/.test(error.schemaPath)) return undefined;
      return plain(`missing required property '${String(params.missingProperty)}'`);
    }
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const name = String(params.additionalProperty ?? params.unevaluatedProperty);
      const known = parent ? knownProperties(parent) : [];
      let message = `unknown property ${show(name)}${didYouMean(name, known)}`;
      if (pointer === '' && name === 'issuer') message += "; put it in 'defaults' or in a certificate";
      return plain(message, `${pointer}/${escapePointerToken(name)}`);
    }
    case 'oneOf': {
      const keys = exclusiveKeys(parent);
      if (!keys) return plain('does not match exactly one of the allowed forms');
      if (!isObject(data)) return undefined; // the type error says it
      const present = keys.filter((k) => Object.hasOwn(data, k));
      if (isDef(parent, 'secretRef')) {
        return plain(
          present.length === 0
            ? `is an empty secret reference; ${SECRET_HINT}`
            : `has both 'env' and 'file'; give one`,
        );
      }
      if (present.length === 0) return plain(`needs one of ${listOf(keys)}`);
      return plain(`has ${listOf(present, 'and')}; give only one of ${listOf(keys)}`);
    }
    case 'type': {
      if (isDef(parent, 'secretRef'))
        return plain(`must be a secret reference, not ${describeType(data)}: ${SECRET_HINT}`);
      const expected = String(params.type).split(',').map(typeName).join(' or ');
      // The dispatch's `if` repeats the same complaint; schemaProblems drops identical messages.
      return plain(`must be ${expected}, not ${describeType(data)}`);
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const near = typeof data === 'string' ? didYouMean(data, allowed) : '';
      const last = pointer.split('/').pop();
      if (last === 'directory') {
        return plain(
          `${show(data)} is not a known ACME directory alias (${allowed.join(', ')}); or give the directory's https:// URL${near}`,
        );
      }
      if (last === 'type') return plain(`${show(data)} is not a known type; use ${listOf(allowed)}${near}`);
      return plain(`${show(data)} is not one of ${allowed.join(', ')}${near}`);
    }
    case 'const': {
      if (pointer === '/version') return plain(`must be 1 (the only manifest version), not ${show(data)}`);
      return plain(`must be ${show(params.allowedValue)}`);
    }
    case 'pattern': {
      if (error.propertyName !== undefined) return undefined; // reported by propertyNameProblem
      return plain(patternMessage(error));
    }
    case 'format': {
      const what =
        params.format === 'email'
          ? 'an email address'
          : params.format === 'uri'
            ? 'a valid URL'
            : String(params.format);
      return plain(`${show(data)} is not ${what}`);
    }
    case 'minLength':
      return plain(
        params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long`,
      );
    case 'maxLength':
      return plain(`is too long (at most ${String(params.limit)} characters)`);
    case 'minItems':
      return plain(params.limit === 1 ? 'must not be empty' : `needs at least ${String(params.limit)} items`);
    case 'maxItems':
      return plain(`has too many items (at most ${String(params.limit)})`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return plain(`${show(data)} must be ${String(params.comparison)} ${String(params.limit)}`);
    case 'dependentRequired':
      return plain(
        `'${String(params.property)}' only applies together with '${String(params.missingProperty)}'`,
      );
    default:
      return plain(error.message ?? `fails the schema's '${error.keyword}' rule`);
  }
}

/** Names in `propertyNames` positions (issuer, store, environment variable names). */
function propertyNameProblem(error: ErrorObject): SchemaProblem | undefined {
  if (error.propertyName === undefined) return undefined;
  const name = error.propertyName;
  const pointer = `${error.instancePath}/${escapePointerToken(name)}`;
  const parent = error.parentSchema as Json | undefined;
  const what =
    error.instancePath === '/issuers' ? 'issuer' : error.instancePath === '/stores' ? 'store' : undefined;
  if (isDef(parent, 'envName')) {
    return {
      pointer,
      at: pointer,
      message: `${show(name)} is not an environment variable name (letters, digits and '_', not starting with a digit)`,
    };
  }
  return {
    pointer,
    at: pointer,
    message: `${what ?? 'the'} name ${show(name)} is not safe: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`,
  };
}

/** Checks `data` against the schema; returns plain-word problems (empty when valid). */
export function schemaProblems(data: unknown): SchemaProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const problem = propertyNameProblem(error) ?? translate(error);
    if (!problem) continue;
    const key = `${problem.pointer}\n${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}
