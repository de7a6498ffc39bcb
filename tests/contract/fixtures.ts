/**
 * Test material for store tests: real keys and certificates (a small CA signs the leaves, so `chainPem` is
 * a real chain) and a RuntimeContext for stores.
 */
import { createHash, createPrivateKey, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { hostname } from 'node:os';
import * as x509 from '@peculiar/x509';
import { readSecret } from '../../src/manifest/secrets.js';
import type { SecretRef } from '../../src/manifest/types.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { silentLogger } from '../../src/runtime/logger.js';
import type { CertificateBundle, StoredMeta } from '../../src/stores/types.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const rsa = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

function toPem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

interface Ca {
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
  pem: string;
}

let ca: Promise<Ca> | undefined;

function testCa(): Promise<Ca> {
  ca ??= (async () => {
    const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=cert-renew test CA',
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      keys,
      signingAlgorithm: ecdsa,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    return { keys, cert, pem: cert.toString('pem') };
  })();
  return ca;
}

export interface TestCertificate {
  bundle: CertificateBundle;
  meta: StoredMeta;
}

/** A leaf for `domains` signed by the test CA, with a fresh key. */
export async function makeCertificate(
  name: string,
  options: { domains?: string[]; keyType?: 'ecdsa-p256' | 'rsa-2048'; days?: number } = {},
): Promise<TestCertificate> {
  const domains = options.domains ?? [`${name}.example.test`];
  const keyType = options.keyType ?? 'ecdsa-p256';
  const authority = await testCa();
  const algorithm = keyType === 'rsa-2048' ? rsa : ecdsa;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + (options.days ?? 90) * 86_400_000);
  const leaf = await x509.X509CertificateGenerator.create({
    subject: `CN=${domains[0]}`,
    issuer: authority.cert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: authority.keys.privateKey,
    signingAlgorithm: ecdsa,
    extensions: [
      new x509.SubjectAlternativeNameExtension(domains.map((value) => ({ type: 'dns' as const, value }))),
    ],
  });
  const certPem = leaf.toString('pem').replace(/\n?$/, '\n');
  const keyPem = toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const parsed = new NodeX509(certPem);
  return {
    bundle: { certPem, chainPem: authority.pem.replace(/\n?$/, '\n'), keyPem },
    meta: {
      name,
      domains,
      issuer: 'test-ca',
      keyType,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      fingerprint: parsed.fingerprint256,
      serial: parsed.serialNumber,
      issuedAt: new Date().toISOString(),
      via: 'test fixture',
    },
  };
}

/** Whether a private key PEM belongs to a certificate PEM. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  return new NodeX509(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A RuntimeContext for a store under test, with the real clock and this process's identity. */
export function testContext(baseDir: string, overrides: Partial<RuntimeContext> = {}): RuntimeContext {
  const env: Record<string, string | undefined> = {};
  return {
    clock: systemClock,
    logger: silentLogger,
    env,
    baseDir,
    hostname: hostname(),
    pid: process.pid,
    readSecret: (ref: SecretRef) => readSecret(ref, env, baseDir),
    getStore: async (name: string) => {
      throw new Error(`no store ${name} in this test`);
    },
    ...overrides,
  };
}
