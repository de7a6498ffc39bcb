/**
 * What only the filesystem store does (the shared behaviour is in tests/contract/): the on-disk layout,
 * modes and owners, the extra outputs (combined PEM, PKCS#12 checked with openssl), corrupt and legacy
 * files, clean-up of crash leftovers, and its errors.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FilesystemStoreConfig } from '../../src/manifest/types.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { LIST_FROM } from '../../src/stores/filesystem/read.js';
import type { StoredCertificate } from '../../src/stores/types.js';
import { keyMatches, makeCertificate, type TestCertificate, testContext } from '../contract/fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { memoryLogger } from './redis-fixtures.js';

let dir: TempDir;
let ec: TestCertificate;
let rsa: TestCertificate;
let counter = 0;

before(async () => {
  dir = await tempDir('cert-renew-fs-store-');
  ec = await makeCertificate('site');
  rsa = await makeCertificate('site', { keyType: 'rsa-2048' });
});
after(async () => {
  await dir?.remove();
});

/** A store in a directory of its own. */
function openStore(config: Partial<FilesystemStoreConfig> = {}): FilesystemStore {
  counter++;
  return new FilesystemStore(
    'files',
    { type: 'filesystem', path: `store-${counter}`, ...config },
    testContext(dir.path),
  );
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('layout', () => {
  test('versions, current and the stable certbot names', async () => {
    const store = openStore();
    await store.save('site', ec.bundle, ec.meta);
    const paths = store.paths('site');
    assert.equal(paths.dir, join(store.root, 'site'));
    const current = await readlink(join(paths.dir, 'current'));
    assert.match(current, /^versions\/000001-[0-9]{8}T[0-9]{6}Z$/);
    for (const file of ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem']) {
      assert.equal(await readlink(join(paths.dir, file)), `current/${file}`);
    }
    const version = join(paths.dir, current);
    assert.deepEqual((await readdir(version)).sort(), [
      'cert.pem',
      'chain.pem',
      'fullchain.pem',
      'meta.json',
      'privkey.pem',
    ]);
    assert.deepEqual(JSON.parse(await readFile(join(version, 'meta.json'), 'utf8')), ec.meta);
    assert.equal(await readFile(paths.fullchain, 'utf8'), ec.bundle.certPem + ec.bundle.chainPem);
    assert.equal(await mode(join(version, 'privkey.pem')), 0o600);
    assert.equal(await mode(join(version, 'cert.pem')), 0o644);
    assert.equal(await mode(version), 0o755);

    await store.save('site', rsa.bundle, rsa.meta);
    assert.match(await readlink(join(paths.dir, 'current')), /^versions\/000002-/);
    assert.equal(await readFile(paths.privkey, 'utf8'), rsa.bundle.keyPem);
  });

  test('configured file names and modes', async () => {
    const store = openStore({
      files: { cert: 'server.crt', privkey: 'server.key', chain: 'ca.crt', fullchain: 'bundle.crt' },
      mode: { key: '0640', cert: '0444' },
    });
    await store.save('site', ec.bundle, ec.meta);
    const paths = store.paths('site');
    assert.equal(paths.cert, join(store.root, 'site', 'server.crt'));
    assert.equal(paths.privkey, join(store.root, 'site', 'server.key'));
    assert.equal(await readlink(paths.privkey), 'current/privkey.pem');
    assert.equal(await readFile(paths.chain, 'utf8'), ec.bundle.chainPem);
    assert.equal(await mode(paths.privkey), 0o640);
    assert.equal(await mode(paths.cert), 0o444);
    const loaded = await store.load('site');
    assert.equal(loaded.state, 'present');
  });

  test('bad configuration is a usage error', () => {
    assert.throws(() => openStore({ mode: { key: 'rw-------' } }), { code: 'USAGE' });
    assert.throws(() => openStore({ files: { cert: '../cert.pem' } }), { code: 'USAGE' });
    assert.throws(() => openStore({ files: { cert: 'current' } }), { code: 'USAGE' });
    assert.throws(() => openStore({ files: { cert: 'same.pem', chain: 'same.pem' } }), { code: 'USAGE' });
    assert.throws(() => openStore({ lockTimeout: 'soon' }), { code: 'USAGE' });
    assert.throws(() => openStore().paths('../escape'), { code: 'USAGE' });
  });
});

describe('owner and group', () => {
  test('numeric ids and names are applied to the files written', async () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const groupName = (await readFile('/etc/group', 'utf8'))
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields[2] === String(gid))?.[0];
    const store = openStore({ owner: uid, group: groupName ?? gid });
    await store.save('site', ec.bundle, ec.meta);
    const info = await stat(store.paths('site').privkey);
    assert.equal(info.uid, uid);
    assert.equal(info.gid, gid);
  });

  test('an unknown user name fails with STORE_WRITE_FAILED naming it', async () => {
    const store = openStore({ owner: 'no-such-user-cert-renew' });
    await assert.rejects(store.save('site', ec.bundle, ec.meta), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'STORE_WRITE_FAILED');
      assert.match(error.message, /unknown user "no-such-user-cert-renew"/);
      return true;
    });
    assert.deepEqual(await store.load('site'), { state: 'missing' });
    const left = await readdir(join(store.root, 'site')).catch((): string[] => []);
    assert.ok(!left.includes('current'));
  });
});

describe('outputs', () => {
  for (const [label, keyType] of [
    ['ECDSA', 'ec'],
    ['RSA', 'rsa'],
  ] as const) {
    test(`combined PEM and PKCS#12 (${label}) that openssl reads`, async () => {
      const cert = keyType === 'ec' ? ec : rsa;
      await writeFile(join(dir.path, 'p12-password'), 's3cret pass\n');
      const store = openStore({
        outputs: {
          combined: 'haproxy.pem',
          pkcs12: { file: 'site.pfx', password: { file: 'p12-password' } },
        },
      });
      await store.save('site', cert.bundle, cert.meta);
      const site = join(store.root, 'site');
      const combined = join(site, 'haproxy.pem');
      assert.equal(
        await readFile(combined, 'utf8'),
        cert.bundle.certPem + cert.bundle.chainPem + cert.bundle.keyPem,
      );
      assert.equal(await mode(combined), 0o600);
      assert.equal(await mode(join(site, 'site.pfx')), 0o600);

      const info = execFileSync(
        'openssl',
        ['pkcs12', '-info', '-nodes', '-in', join(site, 'site.pfx'), '-passin', 'pass:s3cret pass'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const certs = info.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      assert.equal(certs.length, 2, 'leaf and chain');
      assert.equal(`${certs[0]}\n`, cert.bundle.certPem);
      const key = info.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/)?.[0];
      assert.ok(key, 'the key is in the bundle');
      assert.ok(keyMatches(cert.bundle.certPem, key));
      assert.match(info, /friendlyName: site/);

      assert.throws(() =>
        execFileSync(
          'openssl',
          ['pkcs12', '-info', '-nodes', '-in', join(site, 'site.pfx'), '-passin', 'pass:wrong'],
          {
            stdio: 'ignore',
          },
        ),
      );
    });
  }

  test('a missing PKCS#12 password secret fails before anything is written', async () => {
    const store = openStore({ outputs: { pkcs12: { password: { env: 'CERT_RENEW_TEST_NO_SUCH_SECRET' } } } });
    await assert.rejects(store.save('site', ec.bundle, ec.meta), { code: 'SECRET_UNAVAILABLE' });
    assert.deepEqual(await store.load('site'), { state: 'missing' });
  });
});

describe('reading damaged and foreign sets', () => {
  test('missing, corrupt or empty files make the set unreadable, with the reason', async () => {
    const store = openStore();
    await store.save('site', ec.bundle, ec.meta);
    const version = join(store.root, 'site', await readlink(join(store.root, 'site', 'current')));

    await writeFile(join(version, 'privkey.pem'), 'garbage');
    let loaded = await store.load('site');
    assert.equal(loaded.state, 'unreadable');
    assert.match(
      loaded.state === 'unreadable' ? loaded.error : '',
      /privkey\.pem in site\/versions\/000001-\S+ holds no PEM private key/,
    );

    await writeFile(join(version, 'privkey.pem'), ec.bundle.keyPem);
    await writeFile(join(version, 'meta.json'), '{"notAfter": ');
    loaded = await store.load('site');
    assert.match(loaded.state === 'unreadable' ? loaded.error : '', /meta\.json .* is not valid JSON/);

    // JSON, but not the metadata plans read: a field missing or of another type (a hand edit) is reported,
    // never read as it is (a missing fingerprint made every plan fail).
    const meta = ec.meta as unknown as Record<string, unknown>;
    for (const [what, edited] of [
      ['no fingerprint', { ...meta, fingerprint: undefined }],
      ['a number for its serial', { ...meta, serial: 1234 }],
      ['no notBefore', { ...meta, notBefore: undefined }],
      ['domains not strings', { ...meta, domains: [1] }],
    ] as const) {
      await writeFile(join(version, 'meta.json'), JSON.stringify(edited));
      loaded = await store.load('site');
      assert.match(
        loaded.state === 'unreadable' ? loaded.error : '',
        /meta\.json .* is not certificate metadata/,
        what,
      );
    }

    await rm(join(version, 'meta.json'));
    loaded = await store.load('site');
    assert.equal(loaded.state, 'present', 'meta.json is optional');
    assert.equal(loaded.state === 'present' && loaded.cert.meta, undefined);

    await rm(join(version, 'chain.pem'));
    loaded = await store.load('site');
    assert.match(loaded.state === 'unreadable' ? loaded.error : '', /chain\.pem is missing/);

    // A save repairs it.
    await store.save('site', rsa.bundle, rsa.meta);
    assert.equal((await store.load('site')).state, 'present');
  });

  test('a version changed on disk since it was written is unreadable; metadata that does not name its certificate is left out', async () => {
    const store = openStore();
    const named = await makeCertificate('named', { domains: ['app.example.test'] });
    const other = await makeCertificate('other', { domains: ['app.example.test'] });
    await store.save('site', named.bundle, named.meta);
    const version = join(store.root, 'site', await readlink(join(store.root, 'site', 'current')));
    const intact = await store.load('site');
    assert.ok(intact.state === 'present' && intact.cert.meta, 'the metadata of a set as written');
    const unreadable = async (what: string) => {
      const loaded = await store.load('site');
      assert.match(
        loaded.state === 'unreadable' ? loaded.error : loaded.state,
        /fullchain\.pem in site\/versions\/\S+ is not cert\.pem followed by chain\.pem: changed since it was written/,
        what,
      );
    };
    // One byte of a name in cert.pem's DER changed (serial, dates and key as they were): a damaged file.
    const der = Buffer.from(new X509Certificate(named.bundle.certPem).raw);
    der.write('evl', der.lastIndexOf('app.example.test'), 'latin1');
    const body = der.toString('base64').replace(/.{64}/g, '$&\n');
    await writeFile(
      join(version, 'cert.pem'),
      `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`,
    );
    await unreadable('cert.pem damaged');
    // fullchain.pem, which most servers read, replaced through its link (another certificate), or reordered.
    await writeFile(join(version, 'cert.pem'), named.bundle.certPem);
    await writeFile(join(version, 'fullchain.pem'), `${other.bundle.certPem}${named.bundle.chainPem}`);
    await unreadable('fullchain.pem of another certificate');
    await writeFile(join(version, 'fullchain.pem'), `${named.bundle.chainPem}${named.bundle.certPem}`);
    await unreadable('fullchain.pem reordered');
    // The set whole again, with metadata written for another certificate (or edited: another serial, dates
    // that are not the certificate's): the set is read, without it, so the certificate is judged as it is.
    await writeFile(join(version, 'fullchain.pem'), `${named.bundle.certPem}${named.bundle.chainPem}`);
    for (const meta of [
      other.meta,
      { ...named.meta, serial: 'DEADBEEF' },
      { ...named.meta, notAfter: '2031-01-01T00:00:00.000Z' },
      { ...named.meta, notAfter: 'garbage' }, // a word made every run fail before any hook
    ]) {
      await writeFile(join(version, 'meta.json'), JSON.stringify(meta));
      const loaded = await store.load('site');
      assert.ok(loaded.state === 'present', JSON.stringify(meta));
      assert.equal(loaded.cert.meta, undefined, JSON.stringify(meta));
    }
    await writeFile(join(version, 'meta.json'), JSON.stringify(named.meta));
    const whole = await store.load('site');
    assert.ok(whole.state === 'present' && whole.cert.meta);
  });

  test('plain files from before (certbot copies) are read, and kept as the previous version on save', async () => {
    const store = openStore();
    const site = join(store.root, 'site');
    await mkdir(site, { recursive: true });
    await writeFile(join(site, 'cert.pem'), ec.bundle.certPem);
    await writeFile(join(site, 'chain.pem'), ec.bundle.chainPem);
    // Made by hand as people do: a blank line between the certificates, and the root added at the end.
    await writeFile(
      join(site, 'fullchain.pem'),
      `${ec.bundle.certPem}\n${ec.bundle.chainPem}${rsa.bundle.chainPem}`,
    );
    await writeFile(join(site, 'privkey.pem'), ec.bundle.keyPem);
    const loaded = await store.load('site');
    assert.equal(loaded.state, 'present');
    assert.equal(loaded.state === 'present' && loaded.cert.keyPem, ec.bundle.keyPem);

    await store.save('site', rsa.bundle, rsa.meta);
    assert.ok((await lstat(join(site, 'cert.pem'))).isSymbolicLink());
    assert.equal(await readFile(join(site, 'privkey.pem'), 'utf8'), rsa.bundle.keyPem);
    // The copy of those files, 000000-legacy, is read as they were (not as a version cert-renew wrote
    // whole): rollback may restore it, and restored it is present.
    const seen: string[] = [];
    const usable = (previous: StoredCertificate) => {
      seen.push(previous.certPem);
      return true;
    };
    assert.equal(await store.rollback('site', { usable }), true);
    assert.deepEqual(seen, [ec.bundle.certPem], 'the copy is offered to the caller as it was');
    assert.equal(await readFile(join(site, 'privkey.pem'), 'utf8'), ec.bundle.keyPem);
    assert.equal(await readlink(join(site, 'current')), 'versions/000000-legacy');
    const restored = await store.load('site');
    assert.equal(restored.state, 'present', restored.state === 'unreadable' ? restored.error : undefined);
  });

  test('load (fs/promises) and loadMany (plain system calls on a local disk) read every state alike', async () => {
    const store = openStore();
    const site = (name: string) => join(store.root, name);
    const version = async (name: string) => join(site(name), await readlink(join(site(name), 'current')));
    const states: Record<string, () => Promise<void>> = {
      present: async () => {},
      'a-failed-attempt-beside-it': async () => {
        await store.recordAttempt('a-failed-attempt-beside-it', {
          lastAttempt: new Date().toISOString(),
          failureCount: 2,
          lastError: 'rate limited',
        });
      },
      'a-key-that-is-garbage': async (name = 'a-key-that-is-garbage') =>
        writeFile(join(await version(name), 'privkey.pem'), 'garbage'),
      'no-chain-file': async (name = 'no-chain-file') => rm(join(await version(name), 'chain.pem')),
      'meta.json-not-JSON': async (name = 'meta.json-not-JSON') =>
        writeFile(join(await version(name), 'meta.json'), '{'),
      'fullchain.pem-replaced-by-a-plain-file': async (name = 'fullchain.pem-replaced-by-a-plain-file') => {
        await rm(join(site(name), 'fullchain.pem'));
        await writeFile(join(site(name), 'fullchain.pem'), rsa.bundle.certPem);
      },
      'current-pointing-outside': async (name = 'current-pointing-outside') => {
        await rm(join(site(name), 'current'));
        await symlink('/etc', join(site(name), 'current'));
      },
      'versions-a-planted-link': async (name = 'versions-a-planted-link') => {
        await rm(join(site(name), 'versions'), { recursive: true });
        await symlink('/etc', join(site(name), 'versions'));
      },
      'certificate-directory-a-planted-link': async (name = 'certificate-directory-a-planted-link') => {
        await rm(site(name), { recursive: true });
        await symlink(site('present'), site(name));
      },
      'plain-files-from-before': async (name = 'plain-files-from-before') => {
        await rm(site(name), { recursive: true });
        await mkdir(site(name));
        await writeFile(join(site(name), 'cert.pem'), ec.bundle.certPem);
        await writeFile(join(site(name), 'chain.pem'), ec.bundle.chainPem);
        await writeFile(join(site(name), 'fullchain.pem'), ec.bundle.certPem + ec.bundle.chainPem);
        await writeFile(join(site(name), 'privkey.pem'), ec.bundle.keyPem);
      },
      'cert.pem-a-fifo': async (name = 'cert.pem-a-fifo') => {
        await rm(join(await version(name), 'cert.pem'));
        execFileSync('mkfifo', [join(await version(name), 'cert.pem')]);
      },
      'chain.pem-a-directory': async (name = 'chain.pem-a-directory') => {
        await rm(join(await version(name), 'chain.pem'));
        await mkdir(join(await version(name), 'chain.pem'));
      },
      'meta.json-a-fifo': async (name = 'meta.json-a-fifo') => {
        await rm(join(await version(name), 'meta.json'));
        execFileSync('mkfifo', [join(await version(name), 'meta.json')]);
      },
      'a-file-where-its-directory-belongs': async (name = 'a-file-where-its-directory-belongs') => {
        await rm(site(name), { recursive: true });
        await writeFile(site(name), 'x');
      },
    };
    for (const [name, damage] of Object.entries(states)) {
      await store.save(name, ec.bundle, ec.meta);
      await damage();
    }
    const names = [...Object.keys(states), 'never-stored'];
    const many = await store.loadMany(names);
    const seen = new Set<string>();
    for (const name of names) {
      const one = await store.load(name);
      assert.deepEqual(many.get(name), one, name);
      seen.add(one.state === 'present' && one.replaced ? 'replaced' : one.state);
    }
    assert.deepEqual([...seen].sort(), ['error', 'missing', 'present', 'replaced', 'unreadable']);
    // A directory a save can neither write through nor replace (a planted link, a plain file) is an error,
    // not "unreadable": renewing would order a certificate only to discard it, on every run (a trial saw
    // three orders in three runs, and no backoff). No attempts are read through it.
    for (const [name, why] of [
      [
        'certificate-directory-a-planted-link',
        /certificate-directory-a-planted-link is not a directory \(a symbolic link\?\)/,
      ],
      ['versions-a-planted-link', /versions is not a directory \(a symbolic link\?\)/],
      ['a-file-where-its-directory-belongs', /a-file-where-its-directory-belongs is a file, not a directory/],
    ] as const) {
      const loaded = many.get(name);
      assert.equal(loaded?.state, 'error', name);
      assert.equal(loaded?.state === 'error' ? loaded.failure.code : '', 'STORE_CORRUPT');
      assert.match(loaded?.state === 'error' ? loaded.failure.oneLine : '', why);
      assert.match(loaded?.state === 'error' ? loaded.failure.oneLine : '', /nothing is renewed until/);
      assert.equal(loaded?.attempts, undefined, name);
    }
    // A FIFO or a directory is never read (a FIFO would block): said the same way by both.
    for (const name of ['cert.pem-a-fifo', 'chain.pem-a-directory', 'meta.json-a-fifo']) {
      const loaded = many.get(name);
      assert.match(loaded?.state === 'unreadable' ? loaded.error : '', /is not a regular file$/, name);
    }
    assert.ok(many.get('a-failed-attempt-beside-it')?.attempts, 'the attempt is read with the set');
    // From LIST_FROM names, loadMany lists the store's directory instead of an lstat per certificate
    // directory (and keeps the listing while the directory is unchanged): the same results.
    const padding = Array.from({ length: LIST_FROM }, (_, i) => `not-stored-${i}`);
    const listed = await store.loadMany([...names, ...padding]);
    for (const name of names) assert.deepEqual(listed.get(name), many.get(name), `${name}, listed`);
    assert.equal(listed.get('not-stored-0')?.state, 'missing');
    // A directory replaced by a link after a listing is seen by the next load (the store's directory changed).
    await rm(site('present'), { recursive: true });
    await symlink(site('a-failed-attempt-beside-it'), site('present'));
    const again = (await store.loadMany([...names, ...padding])).get('present');
    assert.match(
      again?.state === 'error' ? again.failure.oneLine : '',
      /is not a directory \(a symbolic link\?\)/,
    );
    // The link's target holds a failed attempt: not read through the link.
    assert.equal(again?.attempts, undefined);
    assert.deepEqual(again, await store.load('present'));
  });

  test('a damaged attempts.json is said once (no backoff applies), and fields of the wrong type are dropped', async () => {
    counter++;
    const logger = memoryLogger();
    const store = new FilesystemStore(
      'files',
      { type: 'filesystem', path: `store-${counter}` },
      testContext(dir.path, { logger }),
    );
    for (const name of ['garbage', 'no-count', 'odd-fields']) await store.save(name, ec.bundle, ec.meta);
    await writeFile(join(store.root, 'garbage', 'attempts.json'), 'garbage{');
    await writeFile(join(store.root, 'no-count', 'attempts.json'), '{"lastAttempt": "2030-01-01T00:00:00Z"}');
    await writeFile(
      join(store.root, 'odd-fields', 'attempts.json'),
      JSON.stringify({
        lastAttempt: '2030-01-01T00:00:00Z',
        failureCount: 2,
        lastError: { nested: true },
        lastErrorCode: 'NOT_A_CODE',
        retryAfter: 7,
        hooksPending: 'yes',
      }),
    );
    const loaded = await store.loadMany(['garbage', 'no-count', 'odd-fields']);
    await store.loadMany(['garbage', 'no-count']); // read again: said once
    assert.equal(loaded.get('garbage')?.state, 'present');
    assert.equal(loaded.get('garbage')?.attempts, undefined);
    assert.equal(loaded.get('no-count')?.attempts, undefined);
    assert.deepEqual(loaded.get('odd-fields')?.attempts, {
      lastAttempt: '2030-01-01T00:00:00Z',
      failureCount: 2,
    });
    const warned = logger.lines.filter((l) => /attempts\.json/.test(l));
    assert.equal(warned.length, 2, warned.join('\n'));
    assert.match(
      warned[0] ?? '',
      /garbage\/attempts\.json is not JSON: the failed attempts it recorded are not known, so no backoff applies/,
    );
    assert.match(warned[1] ?? '', /no-count\/attempts\.json has no failureCount and lastAttempt/);
  });

  test('a symlink pointing outside the certificate directory is unreadable', async () => {
    const store = openStore();
    await store.save('site', ec.bundle, ec.meta);
    await rm(join(store.root, 'site', 'current'));
    await symlink('/etc', join(store.root, 'site', 'current'));
    const loaded = await store.load('site');
    assert.match(loaded.state === 'unreadable' ? loaded.error : '', /points outside/);
    // `current` pointing at a file in a version: said to be a file, not guessed a link.
    const [version] = await readdir(join(store.root, 'site', 'versions'));
    await rm(join(store.root, 'site', 'current'));
    await symlink(`versions/${version}/cert.pem`, join(store.root, 'site', 'current'));
    const atFile = await store.load('site');
    assert.match(atFile.state === 'unreadable' ? atFile.error : '', /cert\.pem is a file, not a directory$/);
    // Targets that start as cert-renew's own (`versions/<id>`) but climb out are resolved and refused too.
    for (const target of [
      'versions/..',
      'versions/../..',
      'versions/../../site',
      'versions/x/../../..',
      '.',
    ]) {
      await rm(join(store.root, 'site', 'current'));
      await symlink(target, join(store.root, 'site', 'current'));
      const climbed = await store.load('site');
      assert.equal(climbed.state, 'unreadable', target);
      const itself = resolve(join(store.root, 'site'), target) === join(store.root, 'site');
      assert.match(
        climbed.state === 'unreadable' ? climbed.error : '',
        itself ? /points at the certificate directory itself, not a version$/ : /points outside/,
        target,
      );
    }
  });
});

describe('clean-up', () => {
  test('a save removes crash leftovers and versions beyond keep', async () => {
    const store = openStore({ keep: 1 });
    await store.save('site', ec.bundle, ec.meta);
    const site = join(store.root, 'site');
    const versions = join(site, 'versions');
    // What crashes leave: a staged version, an unswitched version, temporary links.
    await mkdir(join(versions, '.new-0123456789abcdef'));
    await writeFile(join(versions, '.new-0123456789abcdef', 'cert.pem'), ec.bundle.certPem);
    await mkdir(join(versions, '000007-20250101T000000Z'));
    await symlink('versions/000007-20250101T000000Z', join(site, '.current-0123.tmp'));
    await writeFile(join(site, '.tmp-0123'), 'half');

    await store.save('site', rsa.bundle, rsa.meta);
    await store.save('site', ec.bundle, ec.meta);
    const left = (await readdir(versions)).sort();
    assert.equal(left.length, 2, `current and one previous: ${left.join(' ')}`);
    assert.match(left[0] as string, /^000008-/, 'numbering goes on after the stray 000007');
    assert.match(left[1] as string, /^000009-/);
    assert.deepEqual(
      (await readdir(site)).filter((entry) => entry.startsWith('.')),
      [],
    );
    assert.equal(await store.rollback('site'), true);
    assert.equal(await store.rollback('site'), false);
  });

  test('with keep 0 nothing is kept and rollback has nothing to restore', async () => {
    const store = openStore({ keep: 0 });
    await store.save('site', ec.bundle, ec.meta);
    await store.save('site', rsa.bundle, rsa.meta);
    assert.equal((await readdir(join(store.root, 'site', 'versions'))).length, 1);
    assert.equal(await store.rollback('site'), false);
  });
});

describe('blobs and checks', () => {
  test('blobs live under .cert-renew/blobs with mode 0600; dot segments are refused', async () => {
    const store = openStore();
    assert.equal(await store.putBlob('account/le/ops%40example.com', 'secret'), true);
    const path = join(store.root, '.cert-renew', 'blobs', 'account', 'le', 'ops%40example.com');
    assert.equal(await readFile(path, 'utf8'), 'secret');
    assert.equal(await mode(path), 0o600);
    await assert.rejects(store.putBlob('account/../../escape', 'x'), { code: 'INTERNAL' });
    await assert.rejects(store.getBlob('./x'), { code: 'INTERNAL' });
    assert.deepEqual((await readdir(join(store.root, '.cert-renew', 'blobs', 'account', 'le'))).sort(), [
      'ops%40example.com',
    ]);
  });

  test('a blob is never read through a link planted above it; a directory found empty is checked again', async () => {
    const outside = join(dir.path, 'outside-blobs');
    await mkdir(join(outside, 'le'), { recursive: true });
    await writeFile(join(outside, 'le', 'k'), 'planted');
    const store = openStore();
    await store.putBlob('renewal-info/a', 'kept');
    // Nothing in account/ yet: read as absent, and not taken as checked.
    assert.equal(await store.getBlob('account/le/k'), undefined);
    await symlink(outside, join(store.root, '.cert-renew', 'blobs', 'account'));
    await assert.rejects(store.getBlob('account/le/k'), /symbolic link inside the store/);
    // A fresh process (store) checks every directory again, also one it read from before.
    assert.equal(await store.getBlob('renewal-info/a'), 'kept');
    await rm(join(store.root, '.cert-renew', 'blobs', 'renewal-info'), { recursive: true });
    await symlink(join(outside, 'le'), join(store.root, '.cert-renew', 'blobs', 'renewal-info'));
    await assert.rejects(
      openStore({ path: store.root }).getBlob('renewal-info/k'),
      /symbolic link inside the store/,
    );
  });

  test('checkWritable writes no certificate and leaves nothing behind', async () => {
    const store = openStore();
    assert.match(await store.checkWritable(), /would be created/);
    await assert.rejects(stat(store.root), { code: 'ENOENT' }, 'a dry run creates no directory');
    await mkdir(store.root);
    assert.match(await store.checkWritable(), /writable/);
    assert.deepEqual(await readdir(store.root), []);
  });

  test('an unusable path is STORE_UNAVAILABLE, naming the path', async () => {
    await writeFile(join(dir.path, 'a-file'), 'x');
    const store = new FilesystemStore(
      'files',
      { type: 'filesystem', path: 'a-file/certs' },
      testContext(dir.path),
    );
    await assert.rejects(store.checkWritable(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.match(error.message, /a-file/);
      return true;
    });
    await assert.rejects(store.save('site', ec.bundle, ec.meta), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'STORE_WRITE_FAILED');
      assert.match(error.message, /certificate site: .*a-file\/certs\/site\/versions \(ENOTDIR\)/);
      return true;
    });
  });
});

describe('deployment state', () => {
  const entry = (deployedAt: string) => ({
    fingerprint: ec.meta.fingerprint,
    serial: ec.meta.serial,
    deployedAt,
  });

  test("another host's entry is seen by the next read; this host's own at once", async () => {
    const store = openStore();
    // Another host: another process with its own view of the same directory.
    const other = new FilesystemStore(
      'files',
      { type: 'filesystem', path: store.root },
      testContext(dir.path),
    );
    await store.recordDeployment('alpha', 'web-1', entry('2030-01-01T00:00:00.000Z'));
    assert.deepEqual(
      [...(await store.loadDeployments(['alpha', 'beta', 'gamma'])).values()],
      [{ 'web-1': entry('2030-01-01T00:00:00.000Z') }, {}, {}],
    );
    // The deployments directory listed above changes: a new certificate's directory, made by the other
    // host, then one of this host's own.
    await other.recordDeployment('beta', 'web-2', entry('2030-01-01T00:01:00.000Z'));
    assert.deepEqual((await store.loadDeployments(['beta'])).get('beta'), {
      'web-2': entry('2030-01-01T00:01:00.000Z'),
    });
    await store.recordDeployment('gamma', 'web-1', entry('2030-01-01T00:02:00.000Z'));
    assert.deepEqual((await store.loadDeployments(['gamma'])).get('gamma'), {
      'web-1': entry('2030-01-01T00:02:00.000Z'),
    });
    // Removed after it was listed (a prune by another host): no entry, no error.
    await rm(join(store.root, '.cert-renew', 'deployments', 'alpha'), { recursive: true });
    assert.deepEqual((await store.loadDeployments(['alpha'])).get('alpha'), {});
    // Forgotten by the other host: the empty directory goes, the next read has no entry.
    assert.equal(await other.forgetDeployment('beta', 'web-2'), true);
    assert.deepEqual((await store.loadDeployments(['beta'])).get('beta'), {});
  });

  test("a store path that cannot be read is the store's error, whichever read comes first", async () => {
    // plan reads the certificates and the deployments at once: both must say the same of the store's path.
    const store = openStore();
    await symlink(`${store.root}-loop`, store.root);
    await symlink(store.root, `${store.root}-loop`);
    const said = /^filesystem store "files": .* cannot be read \(ELOOP\)$/;
    await assert.rejects(store.loadDeployments(['alpha']), (error: Error) => said.test(error.message));
    await assert.rejects(store.loadMany(['alpha']), (error: Error) => said.test(error.message));
  });

  test('an entry that is a link or a FIFO is never read, but still names its host, which prune can forget', async () => {
    const store = openStore();
    await store.recordDeployment('alpha', 'web-1', entry('2030-01-01T00:00:00.000Z'));
    const hosts = join(store.root, '.cert-renew', 'deployments', 'alpha');
    const elsewhere = join(dir.path, 'elsewhere.json');
    await writeFile(elsewhere, JSON.stringify(entry('1999-01-01T00:00:00.000Z')));
    await symlink(elsewhere, join(hosts, 'web-2.json'));
    execFileSync('mkfifo', [join(hosts, 'web-3.json')]);
    await writeFile(join(hosts, 'web-4.json'), 'not json');
    assert.deepEqual((await store.loadDeployments(['alpha'])).get('alpha'), {
      'web-1': entry('2030-01-01T00:00:00.000Z'),
      'web-2': {},
      'web-3': {},
      'web-4': {},
    });
    for (const host of ['web-2', 'web-3', 'web-4'])
      assert.equal(await store.forgetDeployment('alpha', host), true);
    assert.deepEqual((await store.loadDeployments(['alpha'])).get('alpha'), {
      'web-1': entry('2030-01-01T00:00:00.000Z'),
    });
    assert.equal(
      await readFile(elsewhere, 'utf8'),
      JSON.stringify(entry('1999-01-01T00:00:00.000Z')),
      'the link, not its target',
    );
  });
});
