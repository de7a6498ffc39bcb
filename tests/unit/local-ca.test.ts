import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import { LocalCaIssuer, localCaBlobKey } from '../../src/issuers/local-ca.js';
import type { IssueRequest } from '../../src/issuers/types.js';
import type { KeyType, LocalCaIssuerConfig, ResolvedCertificate } from '../../src/manifest/types.js';
import { fixedClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { silentLogger } from '../../src/runtime/logger.js';
import type { Store } from '../../src/stores/types.js';
import {
  createCsr,
  generateKey,
  inspectCertificate,
  keyMatchesCertificate,
  verifyChain,
} from '../../src/x509/index.js';

const DAY = 86_400_000;
const NOW = new Date('2030-06-01T12:00:00Z');

/** Only the blob half of a Store: enough for the local CA. Every call yields, so races can interleave. */
function memoryStore(name = 'mem'): Store & { blobs: Map<string, string>; writes: number } {
  const blobs = new Map<string, string>();
  const store = {
    name,
    type: 'filesystem' as const,
    blobs,
    writes: 0,
    async getBlob(key: string) {
      await tick();
      return blobs.get(key);
    },
    async putBlob(key: string, value: string, options?: { ifAbsent?: boolean }) {
      await tick();
      if (options?.ifAbsent && blobs.has(key)) return false;
      blobs.set(key, value);
      store.writes++;
      return true;
    },
  };
  return store as unknown as Store & { blobs: Map<string, string>; writes: number };
}

function context(stores: Record<string, Store> = {}, clock = fixedClock(NOW)): RuntimeContext {
  return {
    clock,
    logger: silentLogger,
    env: {},
    baseDir: '.',
    hostname: 'test',
    pid: 1,
    readSecret: () => Promise.reject(new Error('no secrets in this test')),
    getStore: async (name) => {
      const store = stores[name];
      if (!store) throw new Error(`no store ${name}`);
      return store;
    },
  };
}

function entry(domains: string[], keyType: KeyType = 'ecdsa-p256', lifetimeMs?: number): ResolvedCertificate {
  return {
    index: 0,
    name: domains[0] ?? 'cert',
    domains,
    issuerName: 'dev',
    issuer: { type: 'local-ca' },
    storeName: 'mem',
    store: { type: 'filesystem', path: '.' },
    keyType,
    reuseKey: undefined,
    ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
  };
}

async function request(store: Store, cert: ResolvedCertificate): Promise<IssueRequest> {
  const keyPem = await generateKey(cert.keyType);
  return {
    entry: cert,
    keyPem,
    csrPem: await createCsr(keyPem, cert.domains),
    current: undefined,
    store,
    now: NOW,
    signal: new AbortController().signal,
    logger: silentLogger,
  };
}

function issuer(name: string, config: Partial<LocalCaIssuerConfig> = {}, stores: Record<string, Store> = {}) {
  return new LocalCaIssuer(name, { type: 'local-ca', ...config }, context(stores));
}

describe('LocalCaIssuer', () => {
  test('first use creates the CA in the store and issues a verifiable leaf', async () => {
    const store = memoryStore();
    const ca = issuer('dev');
    assert.equal(ca.type, 'local-ca');
    assert.equal(ca.defaultReuseKey, false);
    assert.deepEqual(await ca.trustAnchors(store), []);

    const req = await request(store, entry(['app.example.test', 'api.example.test']));
    const result = await ca.issue(req);
    assert.equal(result.via, 'local-ca');
    assert.equal(store.writes, 1);

    const blob = JSON.parse(store.blobs.get(localCaBlobKey('dev')) ?? '{}') as {
      certPem: string;
      keyPem: string;
    };
    assert.equal(result.chainPem, blob.certPem, 'chain.pem holds the CA certificate');
    const root = inspectCertificate(blob.certPem);
    assert.equal(root.isCA, true);
    assert.equal(root.commonName, 'cert-renew local CA (dev)');
    assert.equal(root.keyType, 'ecdsa-p256');
    assert.equal(root.notAfter.getTime() - NOW.getTime(), 3650 * DAY);
    assert.ok(keyMatchesCertificate(blob.keyPem, blob.certPem));
    const rootX509 = new X509Certificate(blob.certPem);
    assert.ok(rootX509.checkIssued(rootX509), 'the root is self-signed');

    assert.deepEqual(await ca.trustAnchors(store), [blob.certPem]);
    assert.deepEqual(verifyChain(result.certPem, result.chainPem, [blob.certPem], NOW), { ok: true });

    const leaf = inspectCertificate(result.certPem);
    assert.equal(leaf.commonName, 'app.example.test');
    assert.deepEqual(leaf.dnsNames, ['app.example.test', 'api.example.test']);
    assert.equal(leaf.isCA, false);
    assert.equal(leaf.keyType, 'ecdsa-p256');
    assert.equal(leaf.notBefore.getTime(), NOW.getTime() - 60_000);
    assert.equal(leaf.notAfter.getTime(), NOW.getTime() + 90 * DAY);
    assert.match(leaf.serial, /^[0-7][0-9A-F]{31}$/);
    assert.ok(keyMatchesCertificate(req.keyPem, result.certPem));
    const leafX509 = new X509Certificate(result.certPem);
    assert.deepEqual(leafX509.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  });

  test('a second use, even from another instance, reuses the same root', async () => {
    const store = memoryStore();
    const first = await issuer('dev').issue(await request(store, entry(['a.example.test'])));
    const second = await issuer('dev').issue(await request(store, entry(['b.example.test'])));
    assert.equal(store.writes, 1);
    const [root] = await issuer('dev').trustAnchors(store);
    assert.ok(root);
    assert.deepEqual(verifyChain(first.certPem, '', [root], NOW), { ok: true });
    assert.deepEqual(verifyChain(second.certPem, '', [root], NOW), { ok: true });
    assert.notEqual(inspectCertificate(first.certPem).serial, inspectCertificate(second.certPem).serial);
  });

  test('concurrent first use from two instances on one store agrees on one CA', async () => {
    const store = memoryStore();
    const [reqA, reqB] = await Promise.all([
      request(store, entry(['a.example.test'])),
      request(store, entry(['b.example.test'])),
    ]);
    const [a, b] = await Promise.all([issuer('dev').issue(reqA), issuer('dev').issue(reqB)]);
    assert.equal(store.writes, 1, 'only one CA was written');
    const [root] = await issuer('dev').trustAnchors(store);
    assert.ok(root);
    assert.deepEqual(verifyChain(a.certPem, '', [root], NOW), { ok: true });
    assert.deepEqual(verifyChain(b.certPem, '', [root], NOW), { ok: true });
  });

  test('issuers with different names keep different CAs', async () => {
    const store = memoryStore();
    await issuer('one').issue(await request(store, entry(['a.example.test'])));
    await issuer('two').issue(await request(store, entry(['a.example.test'])));
    assert.deepEqual([...store.blobs.keys()].sort(), ['local-ca/one', 'local-ca/two']);
  });

  test('config.store keeps the CA in that store, not the certificate’s', async () => {
    const certStore = memoryStore('certs');
    const caStore = memoryStore('ca');
    const ca = issuer('dev', { store: 'ca' }, { ca: caStore });
    const result = await ca.issue(await request(certStore, entry(['a.example.test'])));
    assert.equal(certStore.blobs.size, 0);
    assert.equal(caStore.blobs.size, 1);
    const anchors = await ca.trustAnchors(certStore);
    assert.equal(anchors.length, 1);
    assert.deepEqual(verifyChain(result.certPem, '', anchors, NOW), { ok: true });
  });

  test('commonName, lifetime and CA key type come from the config; the certificate’s lifetime wins', async () => {
    const store = memoryStore();
    const ca = issuer('dev', { commonName: 'Lab Root', lifetime: '30d', keyType: 'ecdsa-p384' });
    const defaultLife = await ca.issue(await request(store, entry(['a.example.test'])));
    assert.equal(inspectCertificate(defaultLife.certPem).notAfter.getTime(), NOW.getTime() + 30 * DAY);
    const ownLife = await ca.issue(await request(store, entry(['b.example.test'], 'ecdsa-p256', 6 * DAY)));
    assert.equal(inspectCertificate(ownLife.certPem).notAfter.getTime(), NOW.getTime() + 6 * DAY);
    const [root] = await ca.trustAnchors(store);
    assert.ok(root);
    const info = inspectCertificate(root);
    assert.equal(info.commonName, 'Lab Root');
    assert.equal(info.keyType, 'ecdsa-p384');
    assert.equal(inspectCertificate(defaultLife.certPem).issuer, 'CN=Lab Root');
  });

  test('an ECDSA CA signs RSA leaves and an RSA CA signs ECDSA leaves', async () => {
    const rsaLeafStore = memoryStore();
    const ecdsaCa = issuer('ec', { keyType: 'ecdsa-p384' });
    const rsaLeaf = await ecdsaCa.issue(await request(rsaLeafStore, entry(['rsa.example.test'], 'rsa-2048')));
    const rsaInfo = inspectCertificate(rsaLeaf.certPem);
    assert.equal(rsaInfo.keyType, 'rsa-2048');
    assert.deepEqual(verifyChain(rsaLeaf.certPem, '', await ecdsaCa.trustAnchors(rsaLeafStore), NOW), {
      ok: true,
    });

    const ecLeafStore = memoryStore();
    const rsaCa = issuer('rsa', { keyType: 'rsa-2048' });
    const ecLeaf = await rsaCa.issue(await request(ecLeafStore, entry(['ec.example.test'], 'ecdsa-p384')));
    assert.equal(inspectCertificate(ecLeaf.certPem).keyType, 'ecdsa-p384');
    assert.deepEqual(verifyChain(ecLeaf.certPem, '', await rsaCa.trustAnchors(ecLeafStore), NOW), {
      ok: true,
    });
  });

  test('a first domain longer than 64 characters leaves the CN out', async () => {
    const store = memoryStore();
    const long = `${'x'.repeat(60)}.example.test`;
    const result = await issuer('dev').issue(await request(store, entry([long, 'short.example.test'])));
    const info = inspectCertificate(result.certPem);
    assert.equal(info.commonName, undefined);
    assert.deepEqual(info.dnsNames, [long, 'short.example.test']);
  });

  test('check() is a dry run: it reports a missing CA without creating it, then a ready one', async () => {
    const store = memoryStore();
    const ca = issuer('dev');
    const checkContext = { store, certs: [], signal: new AbortController().signal };
    assert.match(await ca.check(checkContext), /would create/);
    assert.equal(store.writes, 0);
    await ca.issue(await request(store, entry(['a.example.test'])));
    assert.match(await ca.check(checkContext), /ready/);
    assert.equal(store.writes, 1);
  });

  test('a corrupt stored CA is STORE_CORRUPT, never silently replaced', async () => {
    const store = memoryStore();
    const garbage = ['not json', '{}', JSON.stringify({ certPem: 'x', keyPem: 'y' })];
    for (const value of garbage) {
      store.blobs.set(localCaBlobKey('dev'), value);
      await assert.rejects(
        issuer('dev').issue(await request(store, entry(['a.example.test']))),
        (error: unknown) => {
          assert.ok(error instanceof CertRenewError);
          assert.equal(error.code, ErrorCode.storeCorrupt);
          return true;
        },
      );
      assert.equal(store.blobs.get(localCaBlobKey('dev')), value);
    }
    // A CA whose key belongs to another CA.
    const other = memoryStore();
    await issuer('dev').issue(await request(other, entry(['a.example.test'])));
    await issuer('x').issue(await request(other, entry(['a.example.test'])));
    const dev = JSON.parse(other.blobs.get('local-ca/dev') ?? '') as { certPem: string };
    const x = JSON.parse(other.blobs.get('local-ca/x') ?? '') as { keyPem: string };
    store.blobs.set(localCaBlobKey('dev'), JSON.stringify({ certPem: dev.certPem, keyPem: x.keyPem }));
    await assert.rejects(
      issuer('dev').check({ store, certs: [], signal: new AbortController().signal }),
      /corrupt/,
    );
  });
});
