/**
 * Thousands of mutated manifests through checkManifestText, in process: none may throw, every invalid one gets
 * at least one located error, no check may hit its internal-error guard, and every manifest that passes must
 * resolve. Deterministic: a seeded PRNG, so a failure names the case that reproduces it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { resolveCertificates } from '../../src/manifest/resolve.js';
import { checkManifestText } from '../../src/manifest/validate.js';

const CASES = 6000;
const root = new URL('../../../', import.meta.url);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the fuzzer builds arbitrary JSON
type J = any;

const ODD = [
  '\u200b',
  '\u202e',
  '\ud800',
  '\udfff',
  '😀',
  '\u0000',
  '\u2028',
  '\ufeff',
  'é',
  'ü',
  '\u0301',
  '\t',
  '/',
  '..',
  '*',
];
const VALUES: J[] = [
  0,
  -1,
  1.5,
  1e308,
  '',
  ' ',
  'x',
  '90d',
  '0s',
  '*.x',
  null,
  true,
  false,
  [],
  {},
  [1],
  { env: 'X' },
  'a'.repeat(300),
];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

/** Every [container, key] in the document. */
function slots(node: J, out: [J, string | number][] = []): [J, string | number][] {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      out.push([node, i]);
      slots(v, out);
    });
  } else if (node && typeof node === 'object') {
    for (const k of Object.keys(node)) {
      out.push([node, k]);
      slots(node[k], out);
    }
  }
  return out;
}

function mutateValue(r: () => number, doc: J): void {
  const all = slots(doc);
  if (all.length === 0) return;
  const [container, key] = pick(r, all);
  const kind = Math.floor(r() * 7);
  if (kind === 0) {
    if (Array.isArray(container)) container.splice(key as number, 1);
    else delete container[key];
  } else if (kind === 1) {
    container[key] = structuredClone(pick(r, VALUES));
  } else if (kind === 2 && !Array.isArray(container)) {
    // Rename the key: a typo, a case change or odd Unicode.
    const value = container[key];
    delete container[key];
    const k = String(key);
    container[
      pick(r, [k.toUpperCase(), `${k}s`, k.slice(1), `${k}${pick(r, ODD)}`, '__proto__', 'constructor'])
    ] = value;
  } else if (kind === 3 && Array.isArray(container)) {
    container.push(structuredClone(container[key as number]));
  } else if (kind === 4 && typeof container[key] === 'string') {
    const s: string = container[key];
    const at = Math.floor(r() * (s.length + 1));
    container[key] = s.slice(0, at) + pick(r, ODD) + s.slice(at);
  } else if (kind === 5) {
    // Wrap in arrays (sometimes deeper than the cap).
    let v = container[key];
    const depth = Math.floor(r() * (r() < 0.2 ? 200 : 5)) + 1;
    for (let i = 0; i < depth; i++) v = [v];
    container[key] = v;
  } else {
    // Move a value somewhere else in the document.
    const [other, otherKey] = pick(r, all);
    if (other !== container) container[key] = structuredClone(other[otherKey]);
  }
}

function mutateText(r: () => number, text: string): string {
  const at = Math.floor(r() * (text.length + 1));
  switch (Math.floor(r() * 7)) {
    case 0:
      return text.slice(0, at); // truncated
    case 1:
      return `\ufeff${text}`; // BOM
    case 2:
      return (
        text.slice(0, at) +
        pick(r, ['{', '}', '[', ']', ',', ':', '"', '\\', '\n', '/*', "'", ...ODD]) +
        text.slice(at)
      );
    case 3: {
      // Duplicate a line (duplicate keys, or broken commas).
      const lines = text.split('\n');
      const i = Math.floor(r() * lines.length);
      lines.splice(i, 0, lines[i] as string);
      return lines.join('\n');
    }
    case 4: {
      const lines = text.split('\n');
      lines.splice(Math.floor(r() * lines.length), 1);
      return lines.join('\n');
    }
    case 5:
      return `${'['.repeat(at % 300)}${text}${']'.repeat(at % 300)}`;
    default:
      return text.replace(/\n/g, pick(r, ['\r\n', '\r', '\n']));
  }
}

test(`${CASES} mutated manifests: no throw, every invalid one located`, () => {
  const seeds = readdirSync(new URL('examples/', root))
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(new URL(`examples/${f}`, root), 'utf8')) as J);
  assert.ok(seeds.length >= 4);
  const r = prng(20250101);
  let valid = 0;
  let invalid = 0;
  for (let n = 0; n < CASES; n++) {
    const doc = structuredClone(pick(r, seeds));
    const edits = 1 + Math.floor(r() * 3);
    for (let e = 0; e < edits; e++) mutateValue(r, doc);
    let text = JSON.stringify(doc, null, r() < 0.5 ? 2 : undefined) ?? 'null';
    if (r() < 0.35) text = mutateText(r, text);
    const where = `case ${n}: ${JSON.stringify(text.slice(0, 300))}`;
    let result: ReturnType<typeof checkManifestText>;
    try {
      result = checkManifestText(text, 'fuzz.json', { intervalMs: 86_400_000 });
    } catch (error) {
      assert.fail(`${where} threw ${String(error)}`);
    }
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const d of result.diagnostics) {
      assert.ok(!/internal error/.test(d.message), `${where}: ${d.message}`);
      assert.ok(
        Number.isInteger(d.line) && (d.line as number) >= 1 && (d.line as number) <= lines,
        `${where}: line ${d.line}`,
      );
      assert.ok(Number.isInteger(d.column) && (d.column as number) >= 1, `${where}: column ${d.column}`);
      assert.ok(d.message.length > 0 && !d.message.includes('\n'), `${where}: one-line message`);
    }
    if (result.manifest) {
      valid++;
      assert.ok(!result.diagnostics.some((d) => d.severity === 'error'), where);
      assert.doesNotThrow(() => resolveCertificates(result.manifest as J), where);
    } else {
      invalid++;
      assert.ok(
        result.diagnostics.some((d) => d.severity === 'error'),
        `${where}: invalid without an error`,
      );
    }
  }
  // The mutations must exercise both sides.
  assert.ok(valid > CASES / 50, `only ${valid} still valid`);
  assert.ok(invalid > CASES / 2, `only ${invalid} invalid`);
});
