/** mkdirp (src/util/mkdirp.ts): `mkdir -p` that settles where node's recursive mkdir loops forever. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mkdirp } from '../../src/util/mkdirp.js';

test('creates missing parents with the mode, accepts an existing directory, refuses a file in the way', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-mkdirp-'));
  try {
    const deep = join(dir, 'a', 'b', 'c');
    await mkdirp(deep, 0o700);
    assert.ok((await stat(deep)).isDirectory());
    assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o700);
    await mkdirp(deep, 0o700);
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(mkdirp(join(dir, 'file')), { code: 'EEXIST' });
    await assert.rejects(mkdirp(join(dir, 'file', 'below')), { code: 'ENOTDIR' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a parent that cannot hold directories (/proc) is an error, not a hang', async () => {
  await assert.rejects(mkdirp('/proc/cert-renew-nope/certs'), { code: 'ENOENT' });
});

test('a symbolic link in the way says where it leads: nowhere (ENOENT) or to a file (ENOTDIR); to a directory is fine', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-mkdirp-'));
  try {
    await symlink(join(dir, 'unmounted'), join(dir, 'dangling'));
    await assert.rejects(mkdirp(join(dir, 'dangling')), {
      code: 'ENOENT',
      linkTarget: join(dir, 'unmounted'),
      message: `${join(dir, 'dangling')} is a symbolic link to ${join(dir, 'unmounted')}, which does not exist`,
    });
    await assert.rejects(mkdirp(join(dir, 'dangling', 'locks')), {
      code: 'ENOENT',
      linkTarget: join(dir, 'unmounted'),
    });
    await writeFile(join(dir, 'file'), 'x');
    await symlink('file', join(dir, 'to-file'));
    await assert.rejects(mkdirp(join(dir, 'to-file')), { code: 'ENOTDIR', linkTarget: 'file' });
    await mkdir(join(dir, 'real'));
    await symlink('real', join(dir, 'to-dir'));
    await mkdirp(join(dir, 'to-dir', 'below'));
    assert.ok((await stat(join(dir, 'real', 'below'))).isDirectory());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
