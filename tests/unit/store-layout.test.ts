/**
 * The filesystem store's paths (stores/keys.ts): built by concatenation for plain names (path.join's
 * normalisation was a quarter of a large plan's allocations), always equal to what path.join gives.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { childPath, FilesystemLayout } from '../../src/stores/keys.js';

test('childPath is path.join for every kind of name under a normalised directory', () => {
  const dirs = ['/srv/certs', '/', '/srv/certs/', '/srv/.cert-renew', '/a..b'];
  const names = [
    'cert.pem',
    'current',
    '.cert-renew',
    'a..b',
    '.',
    '..',
    'sub/file.pem',
    '../escape',
    'x/',
    '',
  ];
  for (const dir of dirs)
    for (const name of names) assert.equal(childPath(dir, name), join(dir, name), `${dir} + ${name}`);
});

test('FilesystemLayout normalises its root, so every path is the one path.join gives', () => {
  for (const root of ['/srv//certs/./x/..', '/srv/certs/', '/srv/certs', '/']) {
    const layout = new FilesystemLayout(root, 'files');
    const base = join(root, '.');
    const clean = base.length > 1 && base.endsWith('/') ? base.slice(0, -1) : base;
    assert.equal(layout.root, clean);
    assert.equal(layout.certDir('www'), join(root, 'www'));
    assert.equal(layout.current('www'), join(root, 'www', 'current'));
    assert.equal(layout.versionsDir('www'), join(root, 'www', 'versions'));
    assert.equal(
      layout.versionDir('www', '000001-20260101T000000Z'),
      join(root, 'www', 'versions', '000001-20260101T000000Z'),
    );
    assert.equal(layout.attempts('www'), join(root, 'www', 'attempts.json'));
    assert.equal(layout.revocations('www'), join(root, 'www', 'revocations.json'));
    assert.equal(layout.stable('www', 'fullchain.pem'), join(root, 'www', 'fullchain.pem'));
    assert.equal(layout.stable('www', 'live/cert.pem'), join(root, 'www', 'live', 'cert.pem'));
    assert.equal(layout.archiveDir, join(root, '.cert-renew', 'archive'));
    assert.equal(layout.lock('www'), join(root, '.cert-renew', 'locks', 'www.lock'));
    assert.equal(layout.deploymentsDir('www'), join(root, '.cert-renew', 'deployments', 'www'));
    assert.equal(
      layout.deployment('www', 'web-1'),
      join(root, '.cert-renew', 'deployments', 'www', 'web-1.json'),
    );
    assert.equal(layout.blob('renewal-info/www'), join(root, '.cert-renew', 'blobs', 'renewal-info', 'www'));
    assert.equal(
      layout.blob('account/le/ops%40example.com'),
      join(root, '.cert-renew', 'blobs', 'account', 'le', 'ops%40example.com'),
    );
  }
  for (const key of ['', 'a//b', 'a/../b', './a', 'a\\b']) {
    assert.throws(() => new FilesystemLayout('/srv', 'files').blob(key), /invalid blob key/);
  }
  assert.throws(() => new FilesystemLayout('/srv', 'files').certDir('../etc'), /not a safe file name/);
});
