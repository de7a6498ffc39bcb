/** The metadata fast path of planning agrees with node:crypto, and steps aside whenever it should. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspectStored } from '../../src/policy/decide.js';
import { withLeafChecksum } from '../../src/stores/meta.js';
import { certificateIdentity } from '../../src/x509/der.js';
import { inspectWithMeta, leafChecksum, sameFingerprint } from '../../src/x509/fast.js';
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
    // Metadata of another certificate (dates that would lie): its serial and dates are not these.
    assert.equal(inspectWithMeta({ ...bundle, meta: other.meta }), undefined);
    // This certificate's metadata with one fact changed: another serial, or other dates.
    const serial = meta.serial.replace(/^./, (c) => (c === '1' ? '2' : '1'));
    for (const changed of [
      { serial },
      { notAfter: '2099-01-01T00:00:00Z' },
      { notBefore: new Date(Date.parse(meta.notBefore) - 1000).toISOString() },
    ]) {
      assert.equal(
        inspectWithMeta({ ...bundle, meta: { ...meta, ...changed } }),
        undefined,
        JSON.stringify(changed),
      );
    }
    // The same serial written otherwise (lower case, colons, a leading zero) is the same number, and the
    // certificate's own spelling is what is reported (the ARI point is hashed from it).
    const spelt = `00${meta.serial.toLowerCase()}`.match(/../g)?.join(':') ?? '';
    assert.equal(inspectWithMeta({ ...bundle, meta: { ...meta, serial: spelt } })?.cert.serial, meta.serial);
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

describe('the stored bytes', () => {
  /** The PEM with the DER's last `from` overwritten by `to` from its start. */
  function edited(certPem: string, from: string, to: string): string {
    const der = Buffer.from(new X509Certificate(certPem).raw);
    const at = der.lastIndexOf(from); // the SAN extension comes after the subject
    assert.ok(at > 0, `${from} is in the certificate`);
    der.write(to, at, 'latin1');
    const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
    return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
  }

  test('a name changed in the certificate (same serial, dates and key) is never taken from the metadata', async () => {
    const { bundle, meta } = await makeCertificate('bytes', { domains: ['app.example.test'] });
    const certPem = edited(bundle.certPem, 'app.example.test', 'evl');
    assert.equal(new X509Certificate(certPem).subjectAltName, 'DNS:evl.example.test', 'still a certificate');
    // With the checksum a store writes, and with only the fingerprint (metadata written before it).
    for (const written of [withLeafChecksum(meta, bundle.certPem), meta]) {
      assert.ok(inspectWithMeta({ ...bundle, meta: written }), 'the original bytes take the fast path');
      assert.equal(inspectWithMeta({ ...bundle, certPem, meta: written }), undefined);
      const inspected = inspectStored({ state: 'present', cert: { ...bundle, certPem, meta: written } });
      assert.ok(inspected?.ok);
      assert.deepEqual(inspected.cert.dnsNames, ['evl.example.test'], 'the names the certificate holds');
    }
  });

  test('leafChecksum is FNV-1a (32-bit) of the first certificate block', () => {
    const pem = (bytes: string) =>
      `-----BEGIN CERTIFICATE-----\n${Buffer.from(bytes, 'latin1').toString('base64')}\n-----END CERTIFICATE-----\n`;
    // FNV's published test values.
    assert.equal(leafChecksum(pem('')), 'fnv1a32:811c9dc5');
    assert.equal(leafChecksum(pem('a')), 'fnv1a32:e40c292c');
    assert.equal(leafChecksum(pem('foobar')), 'fnv1a32:bf9cf968');
    assert.equal(leafChecksum('no certificate'), undefined);
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
  });
});

describe('certificateIdentity', () => {
  test('reads the serial, notBefore, notAfter and key node:crypto reads, for ECDSA and RSA', async () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      for (let i = 0; i < 8; i++) {
        const { bundle } = await makeCertificate(`identity-${i}`, { keyType });
        const x509 = new X509Certificate(bundle.certPem);
        const own = certificateIdentity(x509.raw);
        assert.ok(own, keyType);
        // node prints the serial as OpenSSL does: upper-case hex, whole bytes, no sign padding.
        assert.equal(own.serial, x509.serialNumber.toUpperCase(), keyType);
        assert.equal(own.notBefore.getTime(), new Date(x509.validFrom).getTime(), keyType);
        assert.equal(own.notAfter.getTime(), new Date(x509.validTo).getTime(), keyType);
        assert.equal(own.key.kind, keyType.startsWith('rsa') ? 'rsa' : 'ec');
      }
    }
  });

  test('is undefined for bytes that are not a certificate', () => {
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]),
      Buffer.alloc(64, 0x30),
    ])
      assert.equal(certificateIdentity(bytes), undefined);
  });
});
