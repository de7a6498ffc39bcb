/**
 * Renewal information kept between runs (RFC 9773 §4.3): an answer with a Retry-After is put in the
 * certificate's store and used until then without asking the CA; asked again after it, for another
 * certificate, or from another directory; nothing kept without a Retry-After or by a read-only cache; a
 * damaged blob reads as none. Against a real HTTPS renewalInfo server (tests/harness/ari.ts) with an
 * injected clock, on a filesystem store and on a real Redis.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import { renewalInfoIdentifier } from '../../src/issuers/acme/renewal-info.js';
import type { KeptRenewalInfo } from '../../src/issuers/types.js';
import { storeRenewalInfoCache } from '../../src/plan/renewal-info-cache.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { renewalInfoBlobKey } from '../../src/stores/keys.js';
import type { Store, StoredCertificate } from '../../src/stores/types.js';
import { type AriServer, startAriServer } from '../harness/ari.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { makeCertificates, openStore, testContext } from './redis-fixtures.js';

// The certificates are valid for 30 days from now: the clock starts now (whole seconds).
const T0 = Math.floor(Date.now() / 1000) * 1000;
const HOUR = 3_600_000;

let dir: TempDir;
let ari: AriServer;
let redis: RedisServer;
let certs: StoredCertificate[];

before(async () => {
  dir = await tempDir('cert-renew-ari-cache-');
  ari = await startAriServer(dir.path, { retryAfter: '3600' });
  redis = await startRedis();
  certs = (await makeCertificates(2)).map((c, i) => ({ ...c.bundle, meta: c.meta(`site${i}`) }));
});
after(async () => {
  await ari?.close();
  await redis?.stop();
  await dir?.remove();
});

function issuerAt(clock: ReturnType<typeof fixedClock>, directory = ari.directoryUrl): AcmeIssuer {
  const context = { ...testContext({ baseDir: dir.path }), clock };
  return new AcmeIssuer(
    'ca',
    {
      type: 'acme',
      directory,
      email: 'ops@example.test',
      caBundle: ari.caBundlePath,
      challenge: { type: 'http-01', webroot: 'webroot' },
    },
    context,
  );
}

/** Every request the server has seen (a directory URL it does not serve counts too). */
function asked(): number {
  return ari.counts.directory + ari.counts.renewalInfo + ari.counts.other;
}

for (const kind of ['filesystem', 'redis'] as const) {
  describe(`renewal information kept in a ${kind} store`, () => {
    let store: Store;
    before(async () => {
      store =
        kind === 'filesystem'
          ? new FilesystemStore(
              'files',
              { type: 'filesystem', path: join(dir.path, 'certs') },
              testContext({ baseDir: dir.path }),
            )
          : await openStore({ url: redis.url, keyPrefix: 'ari-test:' });
    });
    after(() => store?.close());

    test('kept until the Retry-After, then asked again; other certificates and directories are asked', async () => {
      ari.options.retryAfter = '3600';
      const clock = fixedClock(T0);
      const cert = certs[0] as StoredCertificate;
      assert.ok(renewalInfoIdentifier(cert.certPem), 'the test certificate has an RFC 9773 identifier');
      const cache = storeRenewalInfoCache(store, 'site0', true, silentLogger);
      const signal = AbortSignal.timeout(60_000);

      let issuer = issuerAt(clock);
      const before0 = asked();
      const first = await issuer.suggestedWindow(cert, signal, cache);
      assert.ok(first, 'the CA answered');
      assert.equal(asked() - before0, 2, 'the directory and one renewalInfo GET');
      await issuer.close();
      const kept = (await cache.get()) as KeptRenewalInfo;
      assert.equal(kept.identifier, renewalInfoIdentifier(cert.certPem));
      assert.equal(kept.directory, ari.directoryUrl);
      assert.equal(kept.fetchedAt, new Date(T0).toISOString());
      assert.equal(kept.retryAfter, new Date(T0 + HOUR).toISOString());

      // A later run (a new issuer: nothing remembered in memory) inside the Retry-After asks nothing.
      clock.set(T0 + 59 * 60_000);
      issuer = issuerAt(clock);
      const before1 = asked();
      const second = await issuer.suggestedWindow(cert, signal, cache);
      assert.equal(asked(), before1, 'no request inside the Retry-After, not even the directory');
      assert.deepEqual(second, first);
      await issuer.close();

      // The other certificate of the name (renewed since) is not answered by the kept window.
      const other = certs[1] as StoredCertificate;
      issuer = issuerAt(clock);
      const before2 = asked();
      assert.ok(await issuer.suggestedWindow(other, signal, cache));
      assert.equal(asked() - before2, 2, 'a new certificate is asked for');
      assert.equal((await cache.get())?.identifier, renewalInfoIdentifier(other.certPem));
      await issuer.close();

      // Past the Retry-After: asked again.
      clock.set(T0 + 59 * 60_000 + HOUR);
      issuer = issuerAt(clock);
      const before3 = asked();
      assert.ok(await issuer.suggestedWindow(other, signal, cache));
      assert.equal(asked() - before3, 2, 'asked again once the Retry-After has passed');
      await issuer.close();

      // Another directory (the manifest changed CA URL) is not answered by this one's kept window.
      issuer = issuerAt(clock, ari.directoryUrl.replace('/dir', '/dir/'));
      const before4 = asked();
      await issuer.suggestedWindow(other, signal, cache);
      assert.ok(asked() > before4, 'another directory URL is asked');
      await issuer.close();
    });

    test('a directory that offers no renewalInfo is looked at once a day, not by every run', async () => {
      const cert = certs[0] as StoredCertificate;
      const signal = AbortSignal.timeout(60_000);
      const cache = storeRenewalInfoCache(store, 'site0', true, silentLogger);
      const clock = fixedClock(T0 + 100 * HOUR);
      ari.options.noRenewalInfo = true;
      try {
        let issuer = issuerAt(clock);
        let before = asked();
        assert.equal(await issuer.suggestedWindow(cert, signal, cache), undefined);
        assert.equal(asked() - before, 1, 'the directory, which has no renewalInfo');
        await issuer.close();
        const kept = (await cache.get()) as KeptRenewalInfo;
        assert.equal(kept.none, true);
        assert.equal(kept.suggestedWindow, undefined);
        assert.equal(kept.retryAfter, new Date(T0 + 124 * HOUR).toISOString(), 'a day');
        // A read-only cache (plan, status) uses it, and writes nothing.
        clock.set(T0 + 123 * HOUR);
        issuer = issuerAt(clock);
        before = asked();
        const readOnly = storeRenewalInfoCache(store, 'site0', false, silentLogger);
        assert.equal(await issuer.suggestedWindow(cert, signal, readOnly), undefined);
        assert.equal(asked(), before, 'nothing sent within the day');
        await issuer.close();
        // A day later the directory is looked at again; the CA now offers renewal information.
        ari.options.noRenewalInfo = false;
        clock.set(T0 + 124 * HOUR);
        issuer = issuerAt(clock);
        before = asked();
        assert.ok(await issuer.suggestedWindow(cert, signal, cache), 'the new window');
        assert.equal(asked() - before, 2, 'the directory and the renewalInfo GET');
        assert.ok((await cache.get())?.suggestedWindow, 'the answer replaces "none"');
        await issuer.close();
      } finally {
        ari.options.noRenewalInfo = false;
      }
    });

    test('without a Retry-After, or through a read-only cache, nothing is kept', async () => {
      const clock = fixedClock(T0);
      const cert = certs[0] as StoredCertificate;
      const signal = AbortSignal.timeout(60_000);
      ari.options.retryAfter = undefined;
      const cache = storeRenewalInfoCache(store, 'no-retry-after', true, silentLogger);
      let issuer = issuerAt(clock);
      assert.ok(await issuer.suggestedWindow(cert, signal, cache));
      assert.equal(await cache.get(), undefined, 'no Retry-After: not kept');
      await issuer.close();

      ari.options.retryAfter = '3600';
      const readOnly = storeRenewalInfoCache(store, 'read-only', false, silentLogger);
      issuer = issuerAt(clock);
      assert.ok(await issuer.suggestedWindow(cert, signal, readOnly));
      assert.equal(
        await store.getBlob(renewalInfoBlobKey('read-only')),
        undefined,
        'a read-only cache writes nothing',
      );
      await issuer.close();
    });

    test('an expired certificate is not asked about (RFC 9773 §4.3), kept answer or not', async () => {
      ari.options.retryAfter = '3600';
      const cert = certs[0] as StoredCertificate;
      const notAfter = Date.parse(new X509Certificate(cert.certPem).validTo);
      const clock = fixedClock(notAfter + 1000);
      const issuer = issuerAt(clock);
      const before0 = asked();
      const cache = storeRenewalInfoCache(store, 'expired', true, silentLogger);
      assert.equal(await issuer.suggestedWindow(cert, AbortSignal.timeout(60_000), cache), undefined);
      assert.equal(asked(), before0, 'nothing sent');
      assert.equal(await cache.get(), undefined, 'nothing kept');
      await issuer.close();
    });

    test('past its Retry-After, a CA that cannot be asked leaves its last answer in force', async () => {
      ari.options.retryAfter = '3600';
      const clock = fixedClock(T0);
      const cert = certs[0] as StoredCertificate;
      const signal = AbortSignal.timeout(60_000);
      const cache = storeRenewalInfoCache(store, 'ca-down', true, silentLogger);
      let issuer = issuerAt(clock);
      const first = await issuer.suggestedWindow(cert, signal, cache);
      assert.ok(first);
      await issuer.close();
      try {
        for (const unavailable of ['renewalInfo', 'directory'] as const) {
          ari.options.unavailable = unavailable;
          clock.set(T0 + 2 * HOUR);
          issuer = issuerAt(clock);
          const before0 = asked();
          assert.deepEqual(
            await issuer.suggestedWindow(cert, signal, cache),
            { ...first, lastAnswerAt: new Date(T0) },
            `${unavailable} down: the answer of T0, saying so`,
          );
          assert.ok(asked() > before0, 'the CA was asked first');
          await issuer.close();
        }
        // A certificate with no answer kept gets none while the CA is down.
        const other = certs[1] as StoredCertificate;
        issuer = issuerAt(clock);
        const none = storeRenewalInfoCache(store, 'ca-down-never-asked', true, silentLogger);
        assert.equal(await issuer.suggestedWindow(other, signal, none), undefined);
        await issuer.close();
      } finally {
        ari.options.unavailable = undefined;
      }
    });

    test('a later answer without a Retry-After, not the older kept one, is the last answer when the CA is down', async () => {
      ari.options.retryAfter = '3600';
      ari.options.windowStartDays = 40;
      const clock = fixedClock(T0);
      const cert = certs[0] as StoredCertificate;
      const signal = AbortSignal.timeout(60_000);
      const cache = storeRenewalInfoCache(store, 'superseded', true, silentLogger);
      let issuer = issuerAt(clock);
      const older = await issuer.suggestedWindow(cert, signal, cache);
      assert.ok(older);
      await issuer.close();
      try {
        // Past the Retry-After the CA moves the window and sends no Retry-After.
        ari.options.retryAfter = undefined;
        ari.options.windowStartDays = 20;
        clock.set(T0 + 2 * HOUR);
        issuer = issuerAt(clock);
        const newer = await issuer.suggestedWindow(cert, signal, cache);
        assert.ok(newer);
        assert.ok(newer.start < older.start, 'the CA moved the window');
        await issuer.close();
        // Asked again at the next lookup (the answer had no Retry-After), the CA cannot be asked.
        ari.options.unavailable = 'renewalInfo';
        clock.set(T0 + 3 * HOUR);
        issuer = issuerAt(clock);
        const before0 = asked();
        assert.deepEqual(
          await issuer.suggestedWindow(cert, signal, cache),
          { ...newer, lastAnswerAt: new Date(T0 + 2 * HOUR) },
          "the CA's last answer, and when it gave it",
        );
        assert.ok(asked() > before0, 'the CA was asked first');
        await issuer.close();
      } finally {
        ari.options.unavailable = undefined;
        ari.options.retryAfter = '3600';
        ari.options.windowStartDays = 60;
      }
    });

    test('a damaged blob reads as none: the CA is asked and the blob rewritten', async () => {
      ari.options.retryAfter = '3600';
      const clock = fixedClock(T0);
      const cert = certs[0] as StoredCertificate;
      await store.putBlob(renewalInfoBlobKey('damaged'), '{"identifier": 1, "suggestedWindow": null');
      const cache = storeRenewalInfoCache(store, 'damaged', true, silentLogger);
      assert.equal(await cache.get(), undefined);
      const issuer = issuerAt(clock);
      const before0 = asked();
      assert.ok(await issuer.suggestedWindow(cert, AbortSignal.timeout(60_000), cache));
      assert.equal(asked() - before0, 2);
      assert.equal((await cache.get())?.identifier, renewalInfoIdentifier(cert.certPem));
      await issuer.close();
    });
  });
}

test('the filesystem blob is a JSON file under .cert-renew/blobs/renewal-info/', async () => {
  const path = join(dir.path, 'certs', '.cert-renew', 'blobs', 'renewal-info', 'site0');
  assert.equal(JSON.parse(await readFile(path, 'utf8')).directory, ari.directoryUrl);
});
