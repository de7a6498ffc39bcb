/**
 * The filesystem store's load cache (stores/filesystem/load-cache.ts): a load of many certificates takes an
 * unchanged version from what an earlier process checked, and gives exactly what a full read gives — for
 * every change made after it was remembered, on a real disk, in a new store object as a new process has.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CertRenewError } from '../../src/errors.js';
import type { FilesystemStoreConfig } from '../../src/manifest/types.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { LOAD_CACHE_FILE, RACY_MS } from '../../src/stores/filesystem/load-cache.js';
import { LIST_FROM } from '../../src/stores/filesystem/read.js';
import type { LoadResult } from '../../src/stores/types.js';
import { makeCertificate, type TestCertificate, testContext } from '../contract/fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';

let dir: TempDir;
let ec: TestCertificate;
let rsa: TestCertificate;
let other: TestCertificate;
let counter = 0;

before(async () => {
  dir = await tempDir('cert-renew-load-cache-');
  ec = await makeCertificate('site');
  rsa = await makeCertificate('site', { keyType: 'rsa-2048' });
  other = await makeCertificate('other');
});
after(async () => {
  await dir?.remove();
});

/** A new store directory; `open()` gives a new store object on it each time, as a new process has. */
function storeDir(config: Partial<FilesystemStoreConfig> = {}) {
  counter++;
  const path = `store-${counter}`;
  return () =>
    new FilesystemStore(
      'files',
      { type: 'filesystem', path, ...config },
      testContext(dir.path, { keepLoadCache: true }),
    );
}

/** Names that are not stored, so that a load reaches LIST_FROM and uses the cache. */
const padding = Array.from({ length: LIST_FROM }, (_, i) => `not-stored-${i}`);

/**
 * Loads `names` (padded) in a new store object, then asks it for their revocation logs, and closes it (which
 * writes the cache).
 */
async function loadAll(
  open: () => FilesystemStore,
  names: string[],
): Promise<Map<string, LoadResult> & { revoked?: Map<string, unknown[]> }> {
  const store = open();
  try {
    const loaded: Map<string, LoadResult> & { revoked?: Map<string, unknown[]> } = await store.loadMany([
      ...names,
      ...padding,
    ]);
    loaded.revoked = await store.revocations(names);
    return loaded;
  } finally {
    await store.close();
  }
}

/** Whether a loaded certificate came from the cache (its PEM texts are read when asked for). */
function fromCache(result: LoadResult | undefined): boolean {
  return (
    result?.state === 'present' && Object.getOwnPropertyDescriptor(result.cert, 'certPem')?.get !== undefined
  );
}

/** The names the cache file holds an entry for. */
async function cachedNames(root: string): Promise<string[]> {
  const lines = (await readFile(join(root, '.cert-renew', LOAD_CACHE_FILE), 'utf8')).trim().split('\n');
  return lines.slice(1).map((line) => (JSON.parse(line) as string[])[0] as string);
}

/** Waits until what was just written is old enough to be remembered (a lower bound, never a race). */
const settle = () => sleep(RACY_MS + 300);

/**
 * A store holding `site`, remembered by one load and taken from the cache by the next: the store's opener,
 * a store object to write with, and what the second load gave.
 */
async function siteTakenFromCache() {
  const open = storeDir();
  const writer = open();
  await writer.save('site', ec.bundle, ec.meta);
  await settle();
  await loadAll(open, ['site']);
  const taken = (await loadAll(open, ['site'])).get('site');
  assert.ok(taken?.state === 'present' && fromCache(taken));
  return { open, writer, taken };
}

describe('the filesystem load cache', () => {
  test('an unchanged version is taken from the cache, exactly as a full read gives it', async () => {
    const open = storeDir();
    const writer = open();
    const names = ['one', 'two', 'three', 'rsa', 'failed-before'];
    for (const name of names)
      await writer.save(name, name === 'rsa' ? rsa.bundle : ec.bundle, name === 'rsa' ? rsa.meta : ec.meta);
    await writer.recordAttempt('failed-before', {
      lastAttempt: new Date().toISOString(),
      failureCount: 1,
      lastError: 'x',
    });
    await settle();

    const first = await loadAll(open, names);
    assert.ok(
      names.every((name) => !fromCache(first.get(name))),
      'the first load reads in full',
    );
    assert.deepEqual((await cachedNames(writer.root)).sort(), [...names].sort());

    const second = await loadAll(open, names);
    const fresh = open();
    for (const name of names) {
      assert.ok(fromCache(second.get(name)), `${name} from the cache`);
      // deepEqual reads the texts through the getters: the same certificate, chain, key, metadata, attempt.
      assert.deepEqual(second.get(name), await fresh.load(name), name);
    }
    assert.equal(second.get('failed-before')?.attempts?.failureCount, 1);
    assert.equal(second.get('not-stored-0')?.state, 'missing');
    assert.deepEqual([...(second.revoked?.values() ?? [])].flat(), []);
  });

  test('every change made after a version was remembered is seen by the next load', async () => {
    const open = storeDir();
    const writer = open();
    const site = (name: string) => join(writer.root, name);
    const version = async (name: string) => join(site(name), await readlink(join(site(name), 'current')));
    const changes: Record<string, () => Promise<void>> = {
      'key-rewritten-in-place-same-size': async (name = 'key-rewritten-in-place-same-size') => {
        // Another P-256 key: the same number of bytes, written over the file (its inode kept).
        const path = join(await version(name), 'privkey.pem');
        assert.equal(other.bundle.keyPem.length, (await readFile(path, 'utf8')).length);
        await chmod(path, 0o600);
        await writeFile(path, other.bundle.keyPem);
      },
      'meta-edited-in-place': async (name = 'meta-edited-in-place') => {
        const path = join(await version(name), 'meta.json');
        await chmod(path, 0o644);
        const meta = JSON.parse(await readFile(path, 'utf8')) as { serial: string };
        await writeFile(
          path,
          JSON.stringify({
            ...meta,
            serial: `${meta.serial.startsWith('7') ? '6' : '7'}${meta.serial.slice(1)}`,
          }),
        );
      },
      'cert-chmod-only': async (name = 'cert-chmod-only') =>
        chmod(join(await version(name), 'cert.pem'), 0o600),
      'fullchain-replaced-by-a-plain-file': async (name = 'fullchain-replaced-by-a-plain-file') => {
        await rm(join(site(name), 'fullchain.pem'));
        await writeFile(join(site(name), 'fullchain.pem'), rsa.bundle.certPem);
      },
      'renewed-since': async () => writer.save('renewed-since', rsa.bundle, rsa.meta),
      'a-failed-attempt-since': async () =>
        writer.recordAttempt('a-failed-attempt-since', {
          lastAttempt: new Date().toISOString(),
          failureCount: 3,
          lastError: 'rate limited',
        }),
      'revoked-since': async () =>
        writer.recordRevocation('revoked-since', {
          serial: ec.meta.serial,
          fingerprint: ec.meta.fingerprint,
          notAfter: ec.meta.notAfter,
          reason: 'keyCompromise',
          revokedAt: new Date().toISOString(),
          issuer: 'local',
          via: 'local-ca crl',
        }),
      'versions-a-planted-link': async (name = 'versions-a-planted-link') => {
        await rename(join(site(name), 'versions'), join(dir.path, `moved-${counter}-versions`));
        await symlink(join(dir.path, `moved-${counter}-versions`), join(site(name), 'versions'));
      },
      'version-moved-and-linked-back': async (name = 'version-moved-and-linked-back') => {
        // The same inodes behind a link: still a link cert-renew did not make.
        const at = await version(name);
        await rename(at, join(dir.path, `moved-${counter}-version`));
        await symlink(join(dir.path, `moved-${counter}-version`), at);
      },
      'cert-a-fifo': async (name = 'cert-a-fifo') => {
        const path = join(await version(name), 'cert.pem');
        await rm(path);
        execFileSync('mkfifo', [path]);
      },
      'directory-a-planted-link': async (name = 'directory-a-planted-link') => {
        await rm(site(name), { recursive: true });
        await symlink(site('unchanged'), site(name));
      },
      'directory-removed': async (name = 'directory-removed') => rm(site(name), { recursive: true }),
      unchanged: async () => {},
    };
    const names = Object.keys(changes);
    for (const name of names) await writer.save(name, ec.bundle, ec.meta);
    await settle();
    await loadAll(open, names);
    assert.deepEqual((await cachedNames(writer.root)).sort(), [...names].sort(), 'all remembered');

    for (const change of Object.values(changes)) await change();
    const after = await loadAll(open, names);
    const fresh = open();
    for (const name of names) {
      assert.deepEqual(after.get(name), await fresh.load(name), name);
      assert.equal(
        fromCache(after.get(name)),
        name === 'unchanged',
        `${name}: ${fromCache(after.get(name)) ? 'taken' : 'read'}`,
      );
    }
    const rewritten = after.get('key-rewritten-in-place-same-size');
    assert.equal(rewritten?.state === 'present' && rewritten.cert.keyPem, other.bundle.keyPem);
    assert.equal(after.get('meta-edited-in-place')?.state, 'present');
    const meta = after.get('meta-edited-in-place');
    assert.equal(meta?.state === 'present' && meta.cert.meta, undefined, 'metadata that no longer names it');
    assert.equal(after.get('a-failed-attempt-since')?.attempts?.failureCount, 3);
    assert.equal(after.get('directory-removed')?.state, 'missing');
    const replaced = after.get('fullchain-replaced-by-a-plain-file');
    assert.ok(replaced?.state === 'present' && replaced.replaced);
    for (const name of ['version-moved-and-linked-back', 'cert-a-fifo']) {
      assert.equal(after.get(name)?.state, 'unreadable', name);
    }
    // What a save can neither write through nor replace is an error (nothing is ordered for it).
    for (const name of ['versions-a-planted-link', 'directory-a-planted-link']) {
      assert.equal(after.get(name)?.state, 'error', name);
    }
    assert.equal(after.revoked?.get('revoked-since')?.length, 1, 'a revocation written since is read');
    assert.equal(after.revoked?.get('unchanged')?.length, 0);
    // What changed is remembered again once it is old enough; what cannot be used is forgotten.
    await settle();
    await loadAll(open, names);
    const remembered = await cachedNames(writer.root);
    for (const name of [
      'cert-chmod-only',
      'renewed-since',
      'a-failed-attempt-since',
      'revoked-since',
      'unchanged',
    ]) {
      assert.ok(remembered.includes(name), `${name} remembered again`);
    }
    // A key that no longer matches, metadata that no longer names it, a replaced link…
    for (const name of [
      'key-rewritten-in-place-same-size',
      'meta-edited-in-place',
      'fullchain-replaced-by-a-plain-file',
      'cert-a-fifo',
      'directory-removed',
    ]) {
      assert.ok(!remembered.includes(name), `${name} not remembered`);
    }
    // Taken from the cache, a certificate with a revocation log still has it read.
    const again = await loadAll(open, names);
    assert.ok(fromCache(again.get('revoked-since')));
    assert.equal(again.revoked?.get('revoked-since')?.length, 1);
    assert.equal(again.revoked?.get('unchanged')?.length, 0);
  });

  test('a version written within RACY_MS of the load is not remembered', async () => {
    const open = storeDir();
    const writer = open();
    await writer.save('just-written', ec.bundle, ec.meta);
    await settle();
    await writer.save('written-now', ec.bundle, ec.meta);
    await loadAll(open, ['just-written', 'written-now']);
    assert.deepEqual(await cachedNames(writer.root), ['just-written']);
  });

  test('a text read from a remembered version that changed since the load is refused, naming the file', async () => {
    const { writer, taken } = await siteTakenFromCache();
    const at = join(writer.root, 'site', await readlink(join(writer.root, 'site', 'current')), 'privkey.pem');
    await chmod(at, 0o600);
    await writeFile(at, rsa.bundle.keyPem);
    assert.throws(
      () => taken.cert.keyPem,
      (error: unknown) =>
        error instanceof CertRenewError &&
        error.code === 'STORE_CORRUPT' &&
        /site\/versions\/[^/]+\/privkey\.pem changed after this run read it/.test(error.message),
    );
    // The certificate's own text, unchanged, is still given.
    assert.equal(taken.cert.certPem, ec.bundle.certPem);
  });

  test('a text whose file was only touched since the load is given; one rewritten is refused', async () => {
    const { writer, taken } = await siteTakenFromCache();
    const version = join(writer.root, 'site', await readlink(join(writer.root, 'site', 'current')));
    // touch, chmod: another ctime, the same certificate: read again in full and given.
    await chmod(join(version, 'cert.pem'), 0o640);
    assert.equal(taken.cert.certPem, ec.bundle.certPem);
    assert.equal(taken.cert.keyPem, ec.bundle.keyPem);
  });

  test('only a command that may change the store writes the cache; what it no longer needs goes', async () => {
    const open = storeDir();
    const writer = open();
    await writer.save('site', ec.bundle, ec.meta);
    await writer.save('gone-later', ec.bundle, ec.meta);
    await settle();
    // plan, status and a dry run (no keepLoadCache): nothing written, not even .cert-renew.
    const readOnly = () =>
      new FilesystemStore('files', { type: 'filesystem', path: writer.root }, testContext(dir.path));
    await loadAll(readOnly, ['site', 'gone-later']);
    await assert.rejects(lstat(join(writer.root, '.cert-renew')), { code: 'ENOENT' });
    await loadAll(open, ['site', 'gone-later']);
    assert.deepEqual((await cachedNames(writer.root)).sort(), ['gone-later', 'site']);
    // A read-only command takes it all the same.
    assert.ok(fromCache((await loadAll(readOnly, ['site'])).get('site')));
    // A certificate directory gone (pruned) is dropped at the next write, read by this manifest or not;
    // what a killed write left behind is removed.
    await rm(join(writer.root, 'gone-later'), { recursive: true });
    const leftover = join(writer.root, '.cert-renew', `${LOAD_CACHE_FILE}.999999999.tmp`);
    await writeFile(leftover, 'half');
    await writer.save('new', ec.bundle, ec.meta);
    await settle();
    await loadAll(open, ['site', 'new']);
    assert.deepEqual((await cachedNames(writer.root)).sort(), ['new', 'site']);
    await assert.rejects(lstat(leftover), { code: 'ENOENT' });
  });

  test('a cache file another user owns is not used', async () => {
    const { open, writer } = await siteTakenFromCache();
    const file = join(writer.root, '.cert-renew', LOAD_CACHE_FILE);
    const uid = process.geteuid?.() ?? 0;
    await chown(file, uid === 0 ? 65534 : uid, -1);
    // As root the file now belongs to nobody; as anyone else this only checks the file is still used.
    assert.equal(fromCache((await loadAll(open, ['site'])).get('site')), uid !== 0);
  });

  test('a damaged cache is dropped at once, and a line naming no certificate never stops the next write', async () => {
    const { open, writer } = await siteTakenFromCache();
    const file = join(writer.root, '.cert-renew', LOAD_CACHE_FILE);
    const good = await readFile(file, 'utf8');
    // A file of zeros (no line ends): refused after its first MiB, not read to its end.
    await writeFile(file, Buffer.alloc(8 * 1024 * 1024));
    const zeros = (await loadAll(open, ['site'])).get('site');
    assert.ok(!fromCache(zeros));
    assert.deepEqual(zeros, await open().load('site'));
    // An entry whose name is not a certificate name (a path) is skipped; the others are used and the cache
    // is written again with what the load learned.
    const [header = '', line = ''] = good.trim().split('\n');
    const planted = JSON.stringify(['../evil', ...(JSON.parse(line) as unknown[]).slice(1)]);
    await writeFile(file, `${header}\n${planted}\n${line}\n`);
    await writer.save('added', ec.bundle, ec.meta);
    await settle();
    const mixed = await loadAll(open, ['site', 'added']);
    assert.ok(fromCache(mixed.get('site')));
    assert.deepEqual((await cachedNames(writer.root)).sort(), ['added', 'site']);
  });

  test('a cache written for other stable names, or damaged, is not used', async () => {
    const open = storeDir();
    const writer = open();
    await writer.save('site', ec.bundle, ec.meta);
    await settle();
    await loadAll(open, ['site']);
    const path = join(writer.root, 'site');
    const renamed = () =>
      new FilesystemStore(
        'files',
        { type: 'filesystem', path: writer.root, files: { fullchain: 'chained.pem' } },
        testContext(dir.path, { keepLoadCache: true }),
      );
    const other = (await loadAll(renamed, ['site'])).get('site');
    assert.ok(!fromCache(other), 'other file names: read in full');
    assert.deepEqual(other, await renamed().load('site'));
    assert.ok((await lstat(join(path, 'fullchain.pem'))).isSymbolicLink());
    // The renamed store rewrote the cache for its names; a cache cut short is read in full, not half used.
    await loadAll(open, ['site']);
    const file = join(writer.root, '.cert-renew', LOAD_CACHE_FILE);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.length - 20));
    const cut = (await loadAll(open, ['site'])).get('site');
    assert.ok(!fromCache(cut));
    assert.deepEqual(cut, await open().load('site'));
    // Written in another boot (a crash may have kept new contents without their new ctime): not used.
    const whole = await readFile(file, 'utf8');
    const [header = '', line = ''] = whole.trim().split('\n');
    assert.ok(fromCache((await loadAll(open, ['site'])).get('site')), 'the rewritten cache is used');
    const booted = { ...(JSON.parse(header) as object), boot: 'another-boot' };
    await writeFile(file, `${JSON.stringify(booted)}\n${line}\n`);
    assert.ok(!fromCache((await loadAll(open, ['site'])).get('site')), 'another boot: read in full');
    // A line that is not an entry as cert-renew writes them is skipped; the others are used.
    await writer.save('second', ec.bundle, ec.meta);
    await settle();
    await loadAll(open, ['site', 'second']);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const damaged = lines.map((one) => {
      if (!one.startsWith('["site"')) return one;
      const entry = JSON.parse(one) as unknown[];
      entry[22] = 'not metadata';
      return JSON.stringify(entry);
    });
    await writeFile(file, `${damaged.join('\n')}\n`);
    const mixed = await loadAll(open, ['site', 'second']);
    assert.ok(!fromCache(mixed.get('site')), 'a damaged line: read in full');
    assert.ok(fromCache(mixed.get('second')), 'the others are used');
    assert.deepEqual(mixed.get('site'), await open().load('site'));
  });
});
