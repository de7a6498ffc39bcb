import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { X509Crl } from '@peculiar/x509';
import { createCertificate, loadX509 } from '../../src/x509/build.js';
import { createCrl } from '../../src/x509/crl.js';
import { generateKey } from '../../src/x509/keys.js';

describe('local CA CRL (x509/crl.ts)', () => {
  test('serials with the high bit set stay positive; reasons and the PEM label are standard', async () => {
    await loadX509();
    const keyPem = await generateKey('ecdsa-p256');
    const now = new Date('2030-01-01T00:00:00Z');
    const caCertPem = await createCertificate({
      subjectKeyPem: keyPem,
      selfSignKeyPem: keyPem,
      commonName: 'test CA',
      notBefore: now,
      notAfter: new Date('2031-01-01T00:00:00Z'),
      ca: true,
      pathLength: 0,
    });
    const pem = await createCrl({
      caCertPem,
      caKeyPem: keyPem,
      entries: [
        { serial: '8FAB01', reason: 'keyCompromise', revokedAt: now.toISOString() },
        { serial: '0ABC', reason: 'superseded', revokedAt: now.toISOString() },
      ],
      thisUpdate: now,
      nextUpdate: new Date('2030-01-08T00:00:00Z'),
    });
    assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
    const crl = new X509Crl(pem.replace(/X509 CRL/g, 'CRL'));
    assert.deepEqual(
      crl.entries.map((e) => [e.serialNumber.toUpperCase(), e.reason]),
      [
        ['008FAB01', 1],
        ['0ABC', 4],
      ],
    );
  });
});
