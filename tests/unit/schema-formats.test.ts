/**
 * The manifest schema's formats (src/manifest/schema-formats.cts) mean exactly what ajv-formats' full
 * formats mean, and load ajv-formats only for values outside their small plain forms: every value of a
 * corpus of edge cases gets the same answer, and no generated value that a plain form accepts is refused
 * by the full format (a plain form is a subset).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);
const formats =
  require('../../src/manifest/schema-formats.cjs') as typeof import('../../src/manifest/schema-formats.cjs');
const formatsModule = require.resolve('ajv-formats/dist/formats');

test('plain values are answered without loading ajv-formats', () => {
  assert.equal(require.cache[formatsModule], undefined, 'not loaded by this test yet');
  assert.equal(formats.uri('https://acme-v02.api.letsencrypt.org/directory'), true);
  assert.equal(formats.uri('rediss://cache.internal:6380/0'), true);
  assert.equal(formats.email('ops+certs@example.com'), true);
  assert.equal(require.cache[formatsModule], undefined, 'still not loaded');
  assert.equal(formats.uri('https://[::1]:14000/dir'), true, 'an IPv6 literal asks the full format');
  assert.notEqual(require.cache[formatsModule], undefined, 'loaded for it');
});

/** ajv-formats' full formats (loaded by the tests after the first, which checks they are not loaded). */
const fullFormats = () =>
  (require('ajv-formats/dist/formats') as { fullFormats: { uri: (v: string) => boolean; email: RegExp } })
    .fullFormats;

test('every value of the corpus gets the answer ajv-formats gives', () => {
  const full = fullFormats();
  const uris = [
    'https://acme-v02.api.letsencrypt.org/directory',
    'https://127.0.0.1:14000/dir',
    'https://localhost:9000/acme/acme/directory?x=1&y=%20#frag',
    'https://EXAMPLE.test/A/b/',
    'https://example.test:/',
    'https://',
    'https://:443',
    'https://user:pass@example.test/',
    'https://[::1]/',
    'https://[v1.fe]/',
    'https://[::1/',
    'redis://127.0.0.1:6379',
    'rediss://h/0',
    'urn:isbn:0451450523',
    'a:b',
    'mailto:ops@example.test',
    'http://exa mple.test/',
    'https://example.test/%zz',
    'https://example.test/%4',
    'https://example.test/\u00e9',
    'https://example.test/a b',
    'https://example.test/a\nb',
    'https://example.test/<>',
    'https://example.test/a|b',
    'https://example.test/^',
    '//example.test/',
    '/relative/path',
    'example.test',
    '',
    ':',
    '1https://example.test/',
    'ht tp://x/',
    'https://example.test/?q=a/b?c#f/g?h',
    'https://example.test/#a#b',
  ];
  for (const value of uris) assert.equal(formats.uri(value), full.uri(value), `uri ${JSON.stringify(value)}`);
  const emails = [
    'ops@example.test',
    'ops.team+certs@mail.example.co.uk',
    'o_p-s%1@a-b.c',
    'x@y',
    '.ops@example.test',
    'ops.@example.test',
    'o..ps@example.test',
    'ops@-example.test',
    'ops@example-.test',
    'ops@example..test',
    "o'p{s}@example.test",
    'ops@example.test.',
    'ops example@example.test',
    'ops@exam_ple.test',
    '@example.test',
    'ops@',
    '',
    'OPS@EXAMPLE.TEST',
    'ops@[127.0.0.1]',
    'ops@\u00e9xample.test',
  ];
  for (const value of emails) {
    assert.equal(formats.email(value), full.email.test(value), `email ${JSON.stringify(value)}`);
  }
});

/** A small deterministic generator (mulberry32), so a failure names a value that can be run again. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('a plain form accepts nothing the full format refuses (generated values)', () => {
  const full = fullFormats();
  const next = random(20261130);
  const pick = (alphabet: string, max: number) =>
    Array.from(
      { length: Math.floor(next() * max) },
      () => alphabet[Math.floor(next() * alphabet.length)],
    ).join('');
  const chars = 'abcXYZ019-._~!$&\'()*+,;=:@/?#%[] \u00e9<>"\\`^{|}AF';
  let uriAccepted = 0;
  let emailAccepted = 0;
  for (let i = 0; i < 30_000; i++) {
    const rare = next() < 0.3 ? pick(chars, 3) : '';
    const port = next() < 0.3 ? `:${pick('0129', 5)}` : '';
    const value = `${pick('ahsAZ1+-.', 5) || 'h'}${next() < 0.9 ? '://' : pick(':/', 4)}${pick("abZ09-._~!$&'()*+,;=%", 12)}${port}${pick("/abZ09-._~!$&'()*+,;=:@%?#", 20)}${rare}`;
    if (formats.PLAIN_URI.test(value)) {
      uriAccepted++;
      assert.equal(full.uri(value), true, `plain uri ${JSON.stringify(value)}`);
    }
    // Half of the parts from the plain alphabet, half with characters a plain form refuses.
    const atom = () => pick(next() < 0.5 ? 'ab9_%+-' : "ab9_%+-'!.", 6);
    const label = () => pick(next() < 0.5 ? 'ab9-' : 'ab9-_.', 8);
    const address = `${atom()}${next() < 0.5 ? `.${atom()}` : ''}@${label()}.${label()}${next() < 0.3 ? `.${label()}` : ''}`;
    if (formats.PLAIN_EMAIL.test(address)) {
      emailAccepted++;
      assert.equal(full.email.test(address), true, `plain email ${JSON.stringify(address)}`);
    }
  }
  // The generators reach the plain forms often enough for the check to mean something.
  assert.ok(uriAccepted > 500, `${uriAccepted} plain uris`);
  assert.ok(emailAccepted > 500, `${emailAccepted} plain addresses`);
});
