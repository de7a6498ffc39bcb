/** The metadata fast path of planning agrees with node:crypto, and steps aside whenever it should. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspectStored } from '../../src/policy/decide.js';
import { certificateIdentity } from '../../src/x509/der.js';
import { inspectWithMeta } from '../../src/x509/fast.js';
import { certInfo, parseCertificate } from '../../src/x509/inspect.js';
import { sameCertificates } from '../../src/x509/pem.js';
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

describe('sameCertificates', () => {
  test('is true when the full chain holds the certificate then the chain, however the lines are laid out', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nAAAA\nAAAA\n-----END CERTIFICATE-----\n';
    const chain = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
    assert.ok(sameCertificates(cert + chain, cert, chain));
    assert.ok(sameCertificates(cert, cert, ''), 'no chain');
    // Another layout of the same certificates: a blank line between them, CRLF, no final newlines.
    for (const fullchain of [
      `${cert}\n${chain}`,
      (cert + chain).replaceAll('\n', '\r\n'),
      `${cert.trim()}${chain.trim()}`,
    ]) {
      assert.ok(sameCertificates(fullchain, cert, chain), JSON.stringify(fullchain));
    }
    for (const fullchain of [
      chain + cert,
      cert + chain.replace('BBBB', 'BBBC'),
      cert.replace('AAAA', 'AAAB') + chain,
      cert,
      cert + chain + chain,
    ]) {
      assert.equal(sameCertificates(fullchain, cert, chain), false, fullchain);
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
