/** The metadata fast path of planning agrees with node:crypto, and steps aside whenever it should. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspectStored } from '../../src/policy/decide.js';
import { inspectWithMeta, sameFingerprint } from '../../src/x509/fast.js';
import { certInfo, parseCertificate } from '../../src/x509/inspect.js';
import { makeCertificate } from '../contract/fixtures.js';

describe('inspectWithMeta', () => {
  test('matches what node:crypto reads, for ECDSA and RSA', async () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const { bundle, meta } = await makeCertificate('fast', {
        keyType,
        domains: ['a.example.test', 'b.example.test'],
      });
      const fast = inspectWithMeta({ ...bundle, meta });
      assert.ok(fast, `${keyType}: fast path taken`);
      const slow = certInfo(
        parseCertificate(bundle.certPem) as NonNullable<ReturnType<typeof parseCertificate>>,
      );
      assert.equal(fast.cert.notAfter.getTime(), slow.notAfter.getTime());
      assert.equal(fast.cert.notBefore.getTime(), slow.notBefore.getTime());
      assert.equal(fast.cert.keyType, slow.keyType);
      assert.equal(fast.cert.fingerprint256, slow.fingerprint256);
      assert.deepEqual([...fast.cert.dnsNames].sort(), [...slow.dnsNames].sort());
    }
  });

  test('steps aside when the metadata does not belong to the certificate', async () => {
    const { bundle, meta } = await makeCertificate('fast');
    const other = await makeCertificate('other');
    // Metadata of another certificate (dates that would lie): the fingerprint does not match.
    assert.equal(inspectWithMeta({ ...bundle, meta: other.meta }), undefined);
    const inspected = inspectStored({
      state: 'present',
      cert: { ...bundle, meta: { ...other.meta, notAfter: '2099-01-01T00:00:00Z' } },
    });
    assert.ok(inspected?.ok);
    assert.notEqual(inspected.cert.notAfter.getUTCFullYear(), 2099, 'real dates come from the certificate');
    // No metadata, or a key that is not the certificate's: node:crypto decides.
    assert.equal(inspectWithMeta({ ...bundle, meta: undefined }), undefined);
    assert.equal(inspectWithMeta({ ...bundle, keyPem: other.bundle.keyPem, meta }), undefined);
    const mismatch = inspectStored({
      state: 'present',
      cert: { ...bundle, keyPem: other.bundle.keyPem, meta },
    });
    assert.ok(mismatch?.ok);
    assert.equal(mismatch.keyMatches, false);
  });
});

describe('sameFingerprint', () => {
  test("matches node's fingerprint256 of the same bytes, and nothing else", async () => {
    const { bundle } = await makeCertificate('fingerprint', { keyType: 'ecdsa-p256' });
    const der = new X509Certificate(bundle.certPem).raw;
    const digest = createHash('sha256').update(der).digest();
    const node = new X509Certificate(bundle.certPem).fingerprint256;
    assert.ok(sameFingerprint(node, digest));
    assert.ok(sameFingerprint(node.toLowerCase(), digest), 'either case');
    const flip = (at: number, to: string) => `${node.slice(0, at)}${to}${node.slice(at + 1)}`;
    const other = node[0] === 'A' ? 'B' : 'A';
    for (const wrong of [
      flip(0, other),
      flip(node.length - 1, node.at(-1) === '0' ? '1' : '0'),
      flip(2, '-'), // not a colon
      flip(1, 'G'), // not hex
      node.slice(3), // a byte short
      `${node}:00`, // a byte more
      node.replaceAll(':', ''),
      '',
    ]) {
      assert.equal(sameFingerprint(wrong, digest), false, wrong);
    }
    const zeros = Buffer.alloc(32);
    assert.ok(sameFingerprint(Array.from({ length: 32 }, () => '00').join(':'), zeros));
    const ff = Buffer.alloc(32, 0xff);
    assert.ok(sameFingerprint(Array.from({ length: 32 }, () => 'fF').join(':'), ff));
  });
});
