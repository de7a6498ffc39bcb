/**
 * cert-renew's stand-in for acme-client's crypto module (issuers/acme/client.ts `acmeCrypto`) gives what
 * acme-client's own module gives for the two functions acme-client calls on the adapter's path: the
 * account key's JWK (the RFC 7638 thumbprint and every JWS header depend on its exact members and order)
 * and the base64url DER of a PEM's first block (finalize's CSR, revokeCert's certificate), and, for the
 * search of alternate chains for `preferredChain`, the split of a chain and each certificate's names. Compared with
 * the real module, loaded here, for every key type cert-renew makes and for PEM and KeyObject keys.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { CertRenewError } from '../../src/errors.js';
import { topIssuerCommonName } from '../../src/issuers/acme/chain.js';
import { acmeCrypto } from '../../src/issuers/acme/client.js';
import { KEY_TYPES } from '../../src/manifest/types.js';
import { createCertificate } from '../../src/x509/build.js';
import { createCsr, generateKey } from '../../src/x509/index.js';

const real = createRequire(import.meta.url)('acme-client/src/crypto/index.js') as {
  getJwk(key: unknown): Record<string, string>;
  getPemBodyAsB64u(pem: string): string;
  splitPemChain(pem: string): string[];
  readCertificateInfo(pem: string): unknown;
};

test('getJwk gives acme-client’s JWK, members in its order, for every key type, PEM or KeyObject', async () => {
  for (const keyType of KEY_TYPES) {
    const pem = await generateKey(keyType);
    const expected = real.getJwk(pem);
    assert.deepEqual(acmeCrypto.getJwk(pem), expected, keyType);
    assert.deepEqual(Object.keys(acmeCrypto.getJwk(pem)), Object.keys(expected), `${keyType}: member order`);
    assert.deepEqual(acmeCrypto.getJwk(createPrivateKey(pem)), real.getJwk(createPrivateKey(pem)), keyType);
    assert.deepEqual(acmeCrypto.getJwk(Buffer.from(pem)), expected, `${keyType} as a Buffer`);
  }
});

test('getPemBodyAsB64u gives acme-client’s encoding of a CSR, a certificate chain and CRLF text', async () => {
  const key = await generateKey('ecdsa-p256');
  const csr = await createCsr(key, ['example.test', 'www.example.test']);
  const ca = await createCertificate({
    subjectKeyPem: key,
    selfSignKeyPem: key,
    commonName: 'stand-in CA',
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    ca: true,
  });
  const leaf = await createCertificate({
    subjectKeyPem: key,
    issuer: { keyPem: key, certPem: ca },
    domains: ['example.test'],
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  for (const pem of [csr, ca, `${leaf}${ca}`, leaf.replaceAll('\n', '\r\n')]) {
    assert.equal(acmeCrypto.getPemBodyAsB64u(pem), real.getPemBodyAsB64u(pem));
  }
  assert.throws(() => acmeCrypto.getPemBodyAsB64u('no PEM here'), /Unable to parse PEM body/);
});

test('the rest of acme-client’s crypto module is not there: calling it is an internal error', () => {
  for (const name of [
    'createCsr',
    'readCsrDomains',
    'createAlpnCertificate',
    'isAlpnCertificateAuthorizationValid',
  ]) {
    const fn = (acmeCrypto as unknown as Record<string, () => unknown>)[name];
    assert.ok(fn, name);
    assert.throws(
      fn,
      (error: unknown) => error instanceof CertRenewError && /does not load it/.test(error.message),
    );
  }
});

test('splitPemChain and readCertificateInfo read a chain as acme-client does (preferredChain)', async () => {
  const rootKey = await generateKey('ecdsa-p384');
  const leafKey = await generateKey('rsa-2048');
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + 90 * 86_400_000);
  const root = await createCertificate({
    subjectKeyPem: rootKey,
    selfSignKeyPem: rootKey,
    commonName: 'Stand-in Root X9',
    notBefore,
    notAfter,
    ca: true,
  });
  const leaf = await createCertificate({
    subjectKeyPem: leafKey,
    issuer: { keyPem: rootKey, certPem: root },
    commonName: 'www.example.test',
    domains: ['www.example.test', 'example.test', '192.0.2.7'],
    notBefore,
    notAfter,
  });
  const chain = `${leaf}${root}`;
  assert.equal(acmeCrypto.splitPemChain(chain).length, real.splitPemChain(chain).length);
  for (const pem of [...acmeCrypto.splitPemChain(chain), chain]) {
    assert.deepEqual(acmeCrypto.readCertificateInfo(pem), real.readCertificateInfo(pem));
  }
});

test('a common name with characters node escapes (comma, plus, angle brackets, leading space) reads as it is', async () => {
  const rootKey = await generateKey('ecdsa-p256');
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + 90 * 86_400_000);
  for (const name of ['Example, Inc. Root R1', 'Root+X1 <a>; b', 'Wurzel Ü', ' #lead']) {
    const root = await createCertificate({
      subjectKeyPem: rootKey,
      selfSignKeyPem: rootKey,
      commonName: name,
      notBefore,
      notAfter,
      ca: true,
    });
    assert.deepEqual(acmeCrypto.readCertificateInfo(root), real.readCertificateInfo(root), name);
    assert.equal(acmeCrypto.readCertificateInfo(root).issuer.commonName, name);
    // preferredChain compares the name written in the manifest with the chain's top issuer (chain.ts).
    assert.equal(topIssuerCommonName(root), name);
  }
});
