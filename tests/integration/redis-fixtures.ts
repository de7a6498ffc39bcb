/** Shared pieces of the Redis store tests: a runtime context, a certificate to store, opening a store. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Env } from '../../src/manifest/secrets.js';
import { readSecret } from '../../src/manifest/secrets.js';
import type { RedisStoreConfig } from '../../src/manifest/types.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { createLogger, type Logger, silentLogger } from '../../src/runtime/logger.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { CertificateBundle, StoredMeta } from '../../src/stores/types.js';
import { tempDir } from '../harness/process.js';
import { createCa, createLeaf } from '../harness/tls.js';

export function testContext(
  options: { env?: Env; baseDir?: string; logger?: Logger; hostname?: string } = {},
) {
  const env = options.env ?? {};
  const baseDir = options.baseDir ?? process.cwd();
  const context: RuntimeContext = {
    clock: systemClock,
    logger: options.logger ?? silentLogger,
    env,
    baseDir,
    hostname: options.hostname ?? 'test-host',
    pid: process.pid,
    readSecret: (ref) => readSecret(ref, env, baseDir),
    getStore: () => Promise.reject(new Error('no stores in this test')),
  };
  return context;
}

/** A logger that keeps its lines (to check what was logged). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(
    createLogger((line) => lines.push(line), 'debug'),
    { lines },
  );
}

export interface TestCertificate {
  bundle: CertificateBundle;
  meta(name: string): StoredMeta;
}

/** A CA and `count` leaf certificates made with openssl (each one a different key). */
export async function makeCertificates(count: number): Promise<TestCertificate[]> {
  const dir = await tempDir('cert-renew-redis-certs-');
  try {
    const ca = await createCa(dir.path);
    const out: TestCertificate[] = [];
    for (let i = 0; i < count; i++) {
      const leaf = await createLeaf(ca, dir.path, { names: [`host${i}.example.test`], name: `leaf${i}` });
      const x509 = new X509Certificate(leaf.certPem);
      const issuedAt = new Date().toISOString();
      const bundle: CertificateBundle = { certPem: leaf.certPem, chainPem: ca.certPem, keyPem: leaf.keyPem };
      out.push({
        bundle,
        meta: (name) => ({
          name,
          domains: [`host${i}.example.test`],
          issuer: 'test-ca',
          keyType: 'ecdsa-p256',
          notBefore: new Date(x509.validFrom).toISOString(),
          notAfter: new Date(x509.validTo).toISOString(),
          fingerprint: x509.fingerprint256,
          serial: leaf.serial,
          issuedAt,
          via: 'test',
        }),
      });
    }
    return out;
  } finally {
    await dir.remove();
  }
}

/** True when the private key belongs to the certificate. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

/** Opens a store and registers its close with `t.after`-style cleanup. */
export async function openStore(
  config: Omit<RedisStoreConfig, 'type'>,
  context: RuntimeContext = testContext(),
  name = 'shared',
): Promise<RedisStore> {
  return RedisStore.open(name, { type: 'redis', ...config }, context);
}
