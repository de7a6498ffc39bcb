/** checkDomain's ASCII form: names already in it skip node:url, and get the answer node:url would give. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { domainToASCII } from 'node:url';
import { checkDomain, checkDomainFully } from '../../src/manifest/resolve.js';

/** Every string of `alphabet` up to `length` characters. */
function* strings(alphabet: readonly string[], length: number, prefix = ''): Generator<string> {
  if (prefix !== '') yield prefix;
  if (prefix.length === length) return;
  for (const c of alphabet) yield* strings(alphabet, length, prefix + c);
}

test('a name accepted is in the ASCII form node:url gives, for every short name of letters, digits, "-", "." and "x"', () => {
  let accepted = 0;
  for (const name of strings(['a', 'x', 'n', '0', '1', 'f', '-', '.'], 5)) {
    const checked = checkDomain(name);
    if (!checked.ok) continue;
    accepted++;
    assert.equal(checked.ascii, domainToASCII(name), name);
  }
  assert.ok(accepted > 10_000, `${accepted} accepted`);
});

test('punycode labels and a last label the URL standard reads as a number still go through node:url', () => {
  for (const name of ['xn--a.example', 'a.xn--b']) {
    assert.equal(checkDomain(name).ok, false, name);
  }
  for (const name of ['a.0x1f', 'a.0x', 'a.0X1', 'foo.0X7F']) {
    const checked = checkDomain(name);
    assert.equal(
      checked.ok ? '' : checked.problem,
      'is not a valid host name (the last label is a hexadecimal number)',
      name,
    );
  }
  // Names the URL standard reads as IPv4 addresses are IP addresses, not DNS names.
  for (const name of ['0x7f000001', '0x1f', '0X7F']) {
    const checked = checkDomain(name);
    assert.equal(
      checked.ok ? checked.ascii : checked.problem,
      'is an IP address; certificates here are for DNS names',
      name,
    );
  }
  for (const [name, ascii] of [
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['Bücher.example', 'xn--bcher-kva.example'],
    ['WWW.Example.ORG', 'www.example.org'],
    ['a.0xg', 'a.0xg'],
    ['0x1.example', '0x1.example'],
    ['*.example.org', '*.example.org'],
  ] as const) {
    const checked = checkDomain(name);
    assert.equal(checked.ok && checked.ascii, ascii, name);
  }
});

test("checkDomain's shortcut for the usual name gives what the full check gives, for every short name and at the length limits", () => {
  let shortcut = 0;
  for (const name of strings(['a', 'x', 'n', '0', '1', '-', '.', '*', 'A'], 6)) {
    const full = checkDomainFully(name);
    assert.deepEqual(checkDomain(name), full, name);
    if (full.ok) shortcut++;
  }
  assert.ok(shortcut > 10_000, `${shortcut} accepted`);
  const label = (n: number) => 'a'.repeat(n);
  for (const name of [
    `${label(63)}.example`,
    `${label(64)}.example`,
    `${[label(63), label(63), label(63), label(61)].join('.')}`, // 253
    `${[label(63), label(63), label(63), label(62)].join('.')}`, // 254
    `*.${[label(63), label(63), label(63), label(59)].join('.')}`, // 253 with the wildcard
    `*.${[label(63), label(63), label(63), label(60)].join('.')}`,
    'a.0x1f',
    'a.0xg',
    'xn--bcher-kva.example',
    'a.b-.c',
    '*.*.a',
  ]) {
    assert.deepEqual(checkDomain(name), checkDomainFully(name), name);
  }
});
