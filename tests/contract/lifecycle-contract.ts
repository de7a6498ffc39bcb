/**
 * The lifecycle abilities every store implements (stores/types.ts `RevocationLog`, `Inventory`): one call
 * per store, beside `storeContract`.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  hasInventory,
  hasRevocationLog,
  type Inventory,
  type RevocationLog,
  type RevocationRecord,
  type Store,
} from '../../src/stores/types.js';
import { makeCertificate, type TestCertificate } from './fixtures.js';
import type { ContractTarget } from './targets.js';

function record(serial: string, reason: RevocationRecord['reason']): RevocationRecord {
  return {
    serial,
    fingerprint: 'AA:BB',
    notAfter: '2030-01-01T00:00:00.000Z',
    reason,
    revokedAt: '2029-06-01T00:00:00.000Z',
    issuer: 'local',
    via: 'local-ca crl',
  };
}

export function lifecycleContract(label: string, target: ContractTarget): void {
  describe(`store lifecycle contract: ${label}`, () => {
    let alpha: TestCertificate;
    let beta: TestCertificate;
    before(async () => {
      alpha = await makeCertificate('alpha');
      beta = await makeCertificate('beta');
    });

    const withStore = async (body: (store: Store & RevocationLog & Inventory) => Promise<void>) => {
      const opened = await target.open();
      try {
        const store = opened.store;
        assert.ok(hasInventory(store) && hasRevocationLog(store), 'the store has both abilities');
        await body(store as Store & RevocationLog & Inventory);
      } finally {
        await opened.store.close();
        await opened.cleanup();
      }
    };

    test('listNames: every certificate saved, sorted; nothing else', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.listNames(), []);
        await store.save('beta', beta.bundle, beta.meta);
        await store.save('alpha', alpha.bundle, alpha.meta);
        await store.putBlob('account/x/y', 'blob');
        assert.deepEqual(await store.listNames(), ['alpha', 'beta']);
      }));

    test('the revocation log: newest first, per name, kept across a new version', () =>
      withStore(async (store) => {
        await store.save('alpha', alpha.bundle, alpha.meta);
        assert.deepEqual(
          await store.revocations(['alpha', 'beta']),
          new Map([
            ['alpha', []],
            ['beta', []],
          ]),
        );
        await store.recordRevocation('alpha', record('01', 'superseded'));
        await store.recordRevocation('alpha', record('02', 'keyCompromise'));
        await store.save('alpha', alpha.bundle, alpha.meta);
        const log = (await store.revocations(['alpha'])).get('alpha') ?? [];
        assert.deepEqual(
          log.map((r) => [r.serial, r.reason]),
          [
            ['02', 'keyCompromise'],
            ['01', 'superseded'],
          ],
        );
        assert.deepEqual(log[0], record('02', 'keyCompromise'));
      }));

    test('retire removes one certificate whole (log and lock included) and nothing else', () =>
      withStore(async (store) => {
        await store.save('alpha', alpha.bundle, alpha.meta);
        await store.save('alpha', beta.bundle, { ...beta.meta, name: 'alpha' });
        await store.save('beta', beta.bundle, beta.meta);
        await store.recordRevocation('alpha', record('01', 'superseded'));
        const lock = await store.locker().acquire('alpha', { waitMs: 60_000 });
        assert.ok(lock);
        const retired = await store.retire('alpha', new Date('2030-01-01T00:00:00Z'));
        assert.ok(retired.removed.length > 0);
        await lock.release();
        assert.deepEqual(await store.load('alpha'), { state: 'missing' });
        assert.deepEqual((await store.revocations(['alpha'])).get('alpha'), []);
        assert.deepEqual(await store.listNames(), ['beta']);
        const kept = await store.load('beta');
        assert.equal(kept.state === 'present' && kept.cert.certPem, beta.bundle.certPem);
        assert.equal(await store.rollback('alpha'), false, 'no history left behind');
        const again = await store.locker().acquire('alpha', { waitMs: 60_000 });
        assert.ok(again, 'the lock is free');
        await again.release();
      }));
  });
}
