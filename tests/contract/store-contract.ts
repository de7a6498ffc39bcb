/**
 * The behaviour every Store must show, whatever keeps the data. A store's test file is one call:
 *
 *   storeContract('filesystem', filesystemTarget());
 *
 * Every case opens its own empty store (`target.open()`, see targets.ts) and closes and removes it after,
 * so no case depends on what another left behind or on the order they run in.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { accountBlobKey, localCaBlobKey } from '../../src/stores/keys.js';
import { type AttemptInfo, isDeploymentStore, type Store } from '../../src/stores/types.js';
import { keyMatches, makeCertificate, type TestCertificate } from './fixtures.js';
import type { ContractTarget, StoreUnderTest } from './targets.js';

/** Registers the contract cases for one store implementation. */
export function storeContract(label: string, target: ContractTarget): void {
  describe(`store contract: ${label}`, () => {
    let first: TestCertificate;
    let second: TestCertificate;

    before(async () => {
      first = await makeCertificate('alpha');
      second = await makeCertificate('alpha', { domains: ['alpha.example.test', 'www.alpha.example.test'] });
    });

    /** Runs `body` against a new, empty store, closed and removed afterwards whatever happens. */
    const withStore = async (body: (store: Store, opened: StoreUnderTest) => Promise<void>) => {
      const opened = await target.open();
      try {
        await body(opened.store, opened);
      } finally {
        await opened.store.close();
        await opened.cleanup();
      }
    };

    const assertHolds = async (store: Store, name: string, expected: TestCertificate) => {
      const result = await store.load(name);
      assert.equal(result.state, 'present', result.state === 'unreadable' ? result.error : undefined);
      if (result.state !== 'present') return;
      assert.equal(result.cert.certPem, expected.bundle.certPem);
      assert.equal(result.cert.chainPem, expected.bundle.chainPem);
      assert.equal(result.cert.keyPem, expected.bundle.keyPem);
      assert.deepEqual(result.cert.meta, expected.meta);
      assert.ok(keyMatches(result.cert.certPem, result.cert.keyPem));
    };

    test('a name never saved is missing', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.load('never-saved'), { state: 'missing' });
      }));

    test('save then load gives back identical PEMs and metadata', () =>
      withStore(async (store) => {
        await store.save('alpha', first.bundle, first.meta);
        await assertHolds(store, 'alpha', first);
      }));

    test('a second save replaces the set; rollback restores the previous one', () =>
      withStore(async (store) => {
        await store.save('beta', first.bundle, { ...first.meta, name: 'beta' });
        await store.save('beta', second.bundle, { ...second.meta, name: 'beta' });
        await assertHolds(store, 'beta', { ...second, meta: { ...second.meta, name: 'beta' } });
        assert.equal(await store.rollback('beta'), true);
        await assertHolds(store, 'beta', { ...first, meta: { ...first.meta, name: 'beta' } });
        assert.equal(await store.rollback('beta'), false, 'nothing before the first version');
        await assertHolds(store, 'beta', { ...first, meta: { ...first.meta, name: 'beta' } });
      }));

    test('a damaged certificate loads as unreadable with a reason, never as missing or a rejection', () =>
      withStore(async (store, opened) => {
        await store.save('alpha', first.bundle, first.meta);
        await opened.corrupt('alpha');
        const result = await store.load('alpha');
        assert.equal(result.state, 'unreadable');
        if (result.state === 'unreadable') assert.ok(result.error.length > 0);
        assert.equal((await store.loadMany(['alpha'])).get('alpha')?.state, 'unreadable');
      }));

    test('rollback of a name never saved resolves false', () =>
      withStore(async (store) => {
        assert.equal(await store.rollback('never-saved'), false);
      }));

    test('keeps the three previous versions and no more', () =>
      withStore(async (store) => {
        const versions: TestCertificate[] = [];
        for (let i = 0; i < 5; i++) {
          const made = await makeCertificate('gamma');
          versions.push(made);
          await store.save('gamma', made.bundle, made.meta);
        }
        await assertHolds(store, 'gamma', versions[4] as TestCertificate);
        for (const expected of [versions[3], versions[2], versions[1]]) {
          assert.equal(await store.rollback('gamma'), true);
          await assertHolds(store, 'gamma', expected as TestCertificate);
        }
        assert.equal(await store.rollback('gamma'), false, 'the oldest version was not kept');
      }));

    test('attempts are recorded beside the certificate and cleared', () =>
      withStore(async (store) => {
        await store.save('alpha', first.bundle, first.meta);
        const attempt: AttemptInfo = {
          lastAttempt: '2025-01-02T03:04:05.000Z',
          failureCount: 2,
          lastErrorCode: 'ISSUER_UNAVAILABLE',
          lastError: 'connection refused',
        };
        await store.recordAttempt('alpha', attempt);
        const loaded = await store.load('alpha');
        assert.equal(loaded.state, 'present');
        assert.deepEqual(loaded.attempts, attempt);
        await store.recordAttempt('alpha', undefined);
        assert.equal((await store.load('alpha')).attempts, undefined);
        await assertHolds(store, 'alpha', first);

        await store.recordAttempt('never-issued', attempt);
        assert.deepEqual(await store.load('never-issued'), { state: 'missing', attempts: attempt });
        await store.recordAttempt('never-issued', undefined);
        assert.deepEqual(await store.load('never-issued'), { state: 'missing' });
        await store.recordAttempt('never-issued', undefined);
      }));

    test('blobs: get, put, overwrite, ifAbsent', () =>
      withStore(async (store) => {
        const key = accountBlobKey('letsencrypt', 'ops+certs@example.com');
        assert.equal(await store.getBlob(key), undefined);
        assert.equal(await store.putBlob(key, 'one'), true);
        assert.equal(await store.getBlob(key), 'one');
        assert.equal(await store.putBlob(key, 'two'), true);
        assert.equal(await store.getBlob(key), 'two');
        assert.equal(await store.putBlob(key, 'three', { ifAbsent: true }), false);
        assert.equal(await store.getBlob(key), 'two');
        assert.equal(await store.getBlob(accountBlobKey('letsencrypt', undefined)), undefined);
      }));

    test('blobs: of two concurrent ifAbsent writes exactly one wins', () =>
      withStore(async (store) => {
        const key = localCaBlobKey('race');
        const results = await Promise.all([
          store.putBlob(key, 'left', { ifAbsent: true }),
          store.putBlob(key, 'right', { ifAbsent: true }),
        ]);
        assert.equal(results.filter(Boolean).length, 1, `results: ${results}`);
        assert.equal(await store.getBlob(key), results[0] ? 'left' : 'right');
      }));

    test('loadMany reads many certificates at once, in order, missing ones included', () =>
      withStore(async (store) => {
        const names = Array.from({ length: 30 }, (_, i) => `many-${i}`);
        const made = await makeCertificate('many');
        await Promise.all(names.map((name) => store.save(name, made.bundle, { ...made.meta, name })));
        const asked = [...names, 'many-missing-1', 'many-missing-2'];
        const results = await store.loadMany(asked);
        assert.deepEqual([...results.keys()], asked);
        for (const name of names) {
          const result = results.get(name);
          assert.equal(result?.state, 'present', name);
          if (result?.state === 'present') {
            assert.equal(result.cert.meta?.name, name);
            assert.equal(result.cert.keyPem, made.bundle.keyPem);
          }
        }
        assert.equal(results.get('many-missing-1')?.state, 'missing');
        assert.equal((await store.loadMany([])).size, 0);
      }));

    test('locks are exclusive until released', () =>
      withStore(async (store) => {
        const locker = store.locker();
        const held = await locker.acquire('lock-a', { waitMs: 1000 });
        assert.ok(held, 'the first acquire gets the lock');
        assert.equal(held.name, 'lock-a');
        assert.equal(
          await locker.acquire('lock-a', { waitMs: 150 }),
          undefined,
          'a second holder waits, then gives up',
        );
        const other = await locker.acquire('lock-b', { waitMs: 0 });
        assert.ok(other, 'another name is independent');
        await other.release();
        assert.equal(await held.stillHeld(), true, 'the holder still holds it');
        await held.release();
        await held.release();
        assert.equal(await held.stillHeld(), false, 'a released lock is no longer held');
        const again = await locker.acquire('lock-a', { waitMs: 1000 });
        assert.ok(again, 'after release the lock can be taken again');
        await again.release();
      }));

    test('a waiting acquire gets the lock as soon as it is released', () =>
      withStore(async (store) => {
        const locker = store.locker();
        const held = await locker.acquire('lock-c', { waitMs: 1000 });
        assert.ok(held);
        const waiting = locker.acquire('lock-c', { waitMs: 60_000 });
        setTimeout(() => void held.release(), 100);
        const next = await waiting;
        assert.ok(next);
        await next.release();
      }));

    test('checkWritable succeeds on a writable store and leaves nothing behind', () =>
      withStore(async (store, opened) => {
        await store.save('alpha', first.bundle, first.meta);
        const before = await opened.contents();
        const description = await store.checkWritable();
        assert.equal(typeof description, 'string');
        assert.ok(description.length > 0);
        assert.deepEqual(await opened.contents(), before, 'the probe was removed');
        await assertHolds(store, 'alpha', first);
      }));

    test('checkWritable fails with STORE_UNAVAILABLE on a store that refuses writes', async () => {
      const readOnly = await target.openReadOnly();
      try {
        const before = await readOnly.contents();
        await assert.rejects(readOnly.checkWritable(), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'STORE_UNAVAILABLE', error.message);
          return true;
        });
        assert.deepEqual(await readOnly.contents(), before, 'nothing was written');
      } finally {
        await readOnly.cleanup();
      }
    });

    test('paths, when the store has files, lead to the current PEMs', () =>
      withStore(async (store) => {
        await store.save('alpha', first.bundle, first.meta);
        const paths = store.paths('alpha');
        if (paths === undefined) return;
        assert.equal(await readFile(paths.cert, 'utf8'), first.bundle.certPem);
        assert.equal(await readFile(paths.chain, 'utf8'), first.bundle.chainPem);
        assert.equal(await readFile(paths.fullchain, 'utf8'), first.bundle.certPem + first.bundle.chainPem);
        assert.equal(await readFile(paths.privkey, 'utf8'), first.bundle.keyPem);
      }));

    test('deployment state: each host keeps its own entry; an empty record for a name without any', () =>
      withStore(async (store) => {
        assert.ok(isDeploymentStore(store), 'every store keeps deployment state');
        if (!isDeploymentStore(store)) return;
        assert.deepEqual(
          await store.loadDeployments(['alpha', 'beta']),
          new Map([
            ['alpha', {}],
            ['beta', {}],
          ]),
        );
        const a = {
          fingerprint: first.meta.fingerprint,
          serial: first.meta.serial,
          deployedAt: '2030-01-01T00:00:00.000Z',
        };
        const b = {
          fingerprint: 'AA:BB',
          pending: {
            fingerprint: first.meta.fingerprint,
            since: '2030-01-01T00:01:00.000Z',
            code: 'HOOK_FAILED' as const,
            error: 'exit 1',
          },
        };
        await store.recordDeployment('alpha', 'host-a', a);
        await store.recordDeployment('alpha', 'host-b', b);
        const loaded = await store.loadDeployments(['alpha', 'beta']);
        assert.deepEqual(loaded.get('alpha'), { 'host-a': a, 'host-b': b });
        assert.deepEqual(loaded.get('beta'), {});
        // Replacing one host's entry leaves the other's alone.
        const b2 = { fingerprint: first.meta.fingerprint, deployedAt: '2030-01-01T00:02:00.000Z' };
        await store.recordDeployment('alpha', 'host-b', b2);
        assert.deepEqual((await store.loadDeployments(['alpha'])).get('alpha'), {
          'host-a': a,
          'host-b': b2,
        });
      }));
  });
}
