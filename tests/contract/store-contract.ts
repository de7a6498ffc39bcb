/**
 * The behaviour every Store must show, whatever keeps the data. A store's test file is one call:
 *
 *   storeContract('filesystem', async () => ({ store, cleanup }));
 *
 * `open` is called once per `describe` block and must give an empty store with the default `keep` (3).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { accountBlobKey, localCaBlobKey } from '../../src/stores/keys.js';
import type { AttemptInfo, Store } from '../../src/stores/types.js';
import { keyMatches, makeCertificate, type TestCertificate } from './fixtures.js';

export interface OpenedStore {
  store: Store;
  cleanup(): Promise<void>;
}

/** Registers the contract cases for one store implementation. */
export function storeContract(label: string, open: () => Promise<OpenedStore>): void {
  describe(`store contract: ${label}`, () => {
    let opened: OpenedStore | undefined;
    let first: TestCertificate;
    let second: TestCertificate;
    const store = (): Store => {
      assert.ok(opened, 'store was not opened');
      return opened.store;
    };

    before(async () => {
      opened = await open();
      first = await makeCertificate('alpha');
      second = await makeCertificate('alpha', { domains: ['alpha.example.test', 'www.alpha.example.test'] });
    });
    after(async () => {
      await opened?.store.close();
      await opened?.cleanup();
    });

    const assertHolds = async (name: string, expected: TestCertificate) => {
      const result = await store().load(name);
      assert.equal(result.state, 'present', result.state === 'unreadable' ? result.error : undefined);
      if (result.state !== 'present') return;
      assert.equal(result.cert.certPem, expected.bundle.certPem);
      assert.equal(result.cert.chainPem, expected.bundle.chainPem);
      assert.equal(result.cert.keyPem, expected.bundle.keyPem);
      assert.deepEqual(result.cert.meta, expected.meta);
      assert.ok(keyMatches(result.cert.certPem, result.cert.keyPem));
    };

    test('a name never saved is missing', async () => {
      assert.deepEqual(await store().load('never-saved'), { state: 'missing' });
    });

    test('save then load gives back identical PEMs and metadata', async () => {
      await store().save('alpha', first.bundle, first.meta);
      await assertHolds('alpha', first);
    });

    test('a second save replaces the set; rollback restores the previous one', async () => {
      await store().save('beta', first.bundle, { ...first.meta, name: 'beta' });
      await store().save('beta', second.bundle, { ...second.meta, name: 'beta' });
      await assertHolds('beta', { ...second, meta: { ...second.meta, name: 'beta' } });
      assert.equal(await store().rollback('beta'), true);
      await assertHolds('beta', { ...first, meta: { ...first.meta, name: 'beta' } });
      assert.equal(await store().rollback('beta'), false, 'nothing before the first version');
      await assertHolds('beta', { ...first, meta: { ...first.meta, name: 'beta' } });
    });

    test('rollback of a name never saved resolves false', async () => {
      assert.equal(await store().rollback('never-saved'), false);
    });

    test('keeps the three previous versions and no more', async () => {
      const versions: TestCertificate[] = [];
      for (let i = 0; i < 5; i++) {
        const made = await makeCertificate('gamma');
        versions.push(made);
        await store().save('gamma', made.bundle, made.meta);
      }
      await assertHolds('gamma', versions[4] as TestCertificate);
      for (const expected of [versions[3], versions[2], versions[1]]) {
        assert.equal(await store().rollback('gamma'), true);
        await assertHolds('gamma', expected as TestCertificate);
      }
      assert.equal(await store().rollback('gamma'), false, 'the oldest version was not kept');
    });

    test('attempts are recorded beside the certificate and cleared', async () => {
      const attempt: AttemptInfo = {
        lastAttempt: '2025-01-02T03:04:05.000Z',
        failureCount: 2,
        lastErrorCode: 'ISSUER_UNAVAILABLE',
        lastError: 'connection refused',
      };
      await store().recordAttempt('alpha', attempt);
      const loaded = await store().load('alpha');
      assert.equal(loaded.state, 'present');
      assert.deepEqual(loaded.attempts, attempt);
      await store().recordAttempt('alpha', undefined);
      assert.equal((await store().load('alpha')).attempts, undefined);
      await assertHolds('alpha', first);

      await store().recordAttempt('never-issued', attempt);
      assert.deepEqual(await store().load('never-issued'), { state: 'missing', attempts: attempt });
      await store().recordAttempt('never-issued', undefined);
      assert.deepEqual(await store().load('never-issued'), { state: 'missing' });
      await store().recordAttempt('never-issued', undefined);
    });

    test('blobs: get, put, overwrite, ifAbsent', async () => {
      const key = accountBlobKey('letsencrypt', 'ops+certs@example.com');
      assert.equal(await store().getBlob(key), undefined);
      assert.equal(await store().putBlob(key, 'one'), true);
      assert.equal(await store().getBlob(key), 'one');
      assert.equal(await store().putBlob(key, 'two'), true);
      assert.equal(await store().getBlob(key), 'two');
      assert.equal(await store().putBlob(key, 'three', { ifAbsent: true }), false);
      assert.equal(await store().getBlob(key), 'two');
      assert.equal(await store().getBlob(accountBlobKey('letsencrypt', undefined)), undefined);
    });

    test('blobs: of two concurrent ifAbsent writes exactly one wins', async () => {
      const key = localCaBlobKey('race');
      const results = await Promise.all([
        store().putBlob(key, 'left', { ifAbsent: true }),
        store().putBlob(key, 'right', { ifAbsent: true }),
      ]);
      assert.equal(results.filter(Boolean).length, 1, `results: ${results}`);
      assert.equal(await store().getBlob(key), results[0] ? 'left' : 'right');
    });

    test('loadMany reads many certificates at once, in order, missing ones included', async () => {
      const names = Array.from({ length: 30 }, (_, i) => `many-${i}`);
      const made = await makeCertificate('many');
      await Promise.all(names.map((name) => store().save(name, made.bundle, { ...made.meta, name })));
      const asked = [...names, 'many-missing-1', 'many-missing-2'];
      const results = await store().loadMany(asked);
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
      assert.equal((await store().loadMany([])).size, 0);
    });

    test('locks are exclusive until released', async () => {
      const locker = store().locker();
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
    });

    test('a waiting acquire gets the lock as soon as it is released', async () => {
      const locker = store().locker();
      const held = await locker.acquire('lock-c', { waitMs: 1000 });
      assert.ok(held);
      const waiting = locker.acquire('lock-c', { waitMs: 10_000 });
      setTimeout(() => void held.release(), 100);
      const next = await waiting;
      assert.ok(next);
      await next.release();
    });

    test('checkWritable describes the store', async () => {
      const description = await store().checkWritable();
      assert.equal(typeof description, 'string');
      assert.ok(description.length > 0);
    });

    test('paths, when the store has files, lead to the current PEMs', async () => {
      const paths = store().paths('alpha');
      if (paths === undefined) return;
      assert.equal(await readFile(paths.cert, 'utf8'), first.bundle.certPem);
      assert.equal(await readFile(paths.chain, 'utf8'), first.bundle.chainPem);
      assert.equal(await readFile(paths.fullchain, 'utf8'), first.bundle.certPem + first.bundle.chainPem);
      assert.equal(await readFile(paths.privkey, 'utf8'), first.bundle.keyPem);
    });
  });
}
