/**
 * A store directory someone else can write to (issue 14): links planted where cert-renew keeps its own
 * files are never followed, a leftover whose writer is provably dead costs nothing, and two processes
 * with the same host name and PID in separate PID namespaces never take each other's live lock.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { processIdentity } from '../../src/runtime/identity.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, runCli, startCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

interface Victim {
  path: string;
  bytes: Buffer;
  mode: number;
}

/** A root-owned-style secret outside the store, whose bytes and mode must never change. */
async function victim(dir: string, file = 'victim.key', text = 'precious bytes\n'): Promise<Victim> {
  const path = join(dir, file);
  await writeFile(path, text);
  await chmod(path, 0o600);
  return { path, bytes: await readFile(path), mode: (await stat(path)).mode };
}

async function assertUntouched(v: Victim): Promise<void> {
  assert.deepEqual(await readFile(v.path), v.bytes, `${v.path}: bytes unchanged`);
  assert.equal((await stat(v.path)).mode, v.mode, `${v.path}: mode unchanged`);
}

function report(stdout: string): {
  certificates: { name: string; outcome: string; error?: { code: string } }[];
} {
  return JSON.parse(stdout);
}

/** A pid that belonged to a process of this host that has exited. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(result.pid);
  return result.pid;
}

const locksDir = (store: string) => join(store, '.cert-renew', 'locks');

async function withTmp(t: { after(fn: () => Promise<void>): void }): Promise<TempDir> {
  const tmp = await tempDir('cert-renew-hostile-');
  t.after(() => tmp.remove());
  return tmp;
}

describe('links planted in a filesystem store are never followed', () => {
  test('a link at the clock probe: waiting for another host’s lock never writes through it', async (t) => {
    const tmp = await withTmp(t);
    const store = join(tmp.path, 'certs');
    const v = await victim(tmp.path);
    await mkdir(locksDir(store), { recursive: true });
    await symlink(v.path, join(locksDir(store), `.clock-${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}`));
    const other = { token: 'abcdefabcdef0001', pid: 1, host: 'elsewhere.invalid', createdAt: 'x' };
    await writeFile(join(locksDir(store), 'web.lock'), JSON.stringify(other));
    const manifest = await writeManifest(tmp.path, localManifest(store));

    const r = await runCli([
      '-m',
      manifest,
      'run',
      '--force',
      '--json',
      '--only',
      'web',
      '--lock-wait',
      '2s',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(report(r.stdout).certificates[0]?.error?.code, 'LOCK_BUSY', r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    await assertUntouched(v);
  });

  test('a link planted as a lock file is removed, not read or written through', async (t) => {
    const tmp = await withTmp(t);
    const store = join(tmp.path, 'certs');
    const v = await victim(tmp.path);
    await mkdir(locksDir(store), { recursive: true });
    await symlink(v.path, join(locksDir(store), 'web.lock'));
    const manifest = await writeManifest(tmp.path, localManifest(store));
    const r = await runCli(['-m', manifest, 'run', '--json', '--only', 'web', '--lock-wait', '1s']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(report(r.stdout).certificates[0]?.outcome, 'renewed');
    await assertUntouched(v);
    assert.deepEqual(await readdir(locksDir(store)).then((e) => e.filter((f) => f.startsWith('web'))), []);
  });

  test('legacy files with a linked privkey.pem are not adopted; the key behind the link is untouched', async (t) => {
    const tmp = await withTmp(t);
    // A real certificate issued elsewhere, copied in as plain files; its key is a link to a foreign key.
    const donor = join(tmp.path, 'donor');
    const issued = await runCli([
      '-m',
      await writeManifest(tmp.path, localManifest(donor), 'donor.json'),
      'run',
    ]);
    assert.equal(issued.code, 0, issued.stderr);
    const v = await victim(tmp.path, 'root.key', await readFile(join(donor, 'api', 'privkey.pem'), 'utf8'));
    const store = join(tmp.path, 'certs');
    await mkdir(join(store, 'web'), { recursive: true });
    for (const file of ['cert.pem', 'chain.pem', 'fullchain.pem']) {
      await writeFile(join(store, 'web', file), await readFile(join(donor, 'web', file)));
    }
    await symlink(v.path, join(store, 'web', 'privkey.pem'));
    const manifest = await writeManifest(tmp.path, localManifest(store));

    const status = await runCli(['-m', manifest, 'plan', '--json', '--only', 'web']);
    assert.match(status.stdout, /symbolic link cert-renew did not create/, status.stdout);
    const r = await runCli(['-m', manifest, 'run', '--json', '--only', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(report(r.stdout).certificates[0]?.outcome, 'renewed');
    await assertUntouched(v);
    const versions = await readdir(join(store, 'web', 'versions'));
    assert.ok(!versions.includes('000000-legacy'), `nothing adopted: ${versions.join(', ')}`);
    assert.ok((await lstat(join(store, 'web', 'privkey.pem'))).isSymbolicLink());
    assert.notDeepEqual(await readFile(join(store, 'web', 'privkey.pem')), v.bytes, 'the new key is served');
  });

  test('plain legacy files whose key does not match the certificate are not kept as a version', async (t) => {
    const tmp = await withTmp(t);
    const donor = join(tmp.path, 'donor');
    const issued = await runCli([
      '-m',
      await writeManifest(tmp.path, localManifest(donor), 'donor.json'),
      'run',
    ]);
    assert.equal(issued.code, 0, issued.stderr);
    const store = join(tmp.path, 'certs');
    await mkdir(join(store, 'web'), { recursive: true });
    for (const file of ['cert.pem', 'chain.pem', 'fullchain.pem']) {
      await writeFile(join(store, 'web', file), await readFile(join(donor, 'web', file)));
    }
    await writeFile(join(store, 'web', 'privkey.pem'), await readFile(join(donor, 'api', 'privkey.pem')));
    const manifest = await writeManifest(tmp.path, localManifest(store));
    const r = await runCli(['-m', manifest, 'run', '--json', '--only', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(await readdir(join(store, 'web', 'versions'))).includes('000000-legacy'));
  });

  for (const linked of ['web', join('web', 'versions')]) {
    test(`a linked ${linked}/ directory is never written through`, async (t) => {
      const tmp = await withTmp(t);
      const store = join(tmp.path, 'certs');
      const outside = join(tmp.path, 'outside');
      await mkdir(outside);
      const v = await victim(outside, 'keep.txt');
      if (linked === 'web') {
        await mkdir(store, { recursive: true });
      } else {
        await mkdir(join(store, 'web'), { recursive: true });
      }
      await symlink(outside, join(store, linked));
      const manifest = await writeManifest(tmp.path, localManifest(store));
      // Every run: an error for that certificate, and nothing ordered (a trial saw each daily run order a
      // certificate from the CA and discard it when the save was refused, with no backoff): here the local
      // CA, created at its first issue, is never created.
      for (let i = 0; i < 2; i++) {
        const r = await runCli(['-m', manifest, 'run', '--json', '--only', 'web']);
        assert.equal(r.code, 1, r.stderr);
        const c = report(r.stdout).certificates[0];
        assert.equal(c?.outcome, 'failed');
        assert.equal(c?.error?.code, 'STORE_CORRUPT');
        assert.match(
          r.stderr,
          /is not a directory \(a symbolic link\?\); cert-renew neither reads nor writes through links/,
        );
        assert.ok(!hasStackTrace(r.stderr), r.stderr);
      }
      await assert.rejects(lstat(join(store, '.cert-renew', 'blobs', 'local-ca', 'local')), /ENOENT/);
      const plan = await runCli(['-m', manifest, 'plan', '--json', '--only', 'web']);
      assert.equal(JSON.parse(plan.stdout).items[0]?.action, 'error', plan.stdout);
      assert.deepEqual(await readdir(outside), ['keep.txt'], 'nothing written outside the store');
      await assertUntouched(v);
    });
  }
});

describe('crash leftovers and lock identity', () => {
  test('a lock and a break claim whose writers are provably dead are taken over at once', async (t) => {
    const tmp = await withTmp(t);
    const store = join(tmp.path, 'certs');
    await mkdir(locksDir(store), { recursive: true });
    const here = { host: hostname(), boot: processIdentity().bootId, pidns: processIdentity().pidNamespace };
    const lock = { token: 'deadbeefdeadbeef', pid: deadPid(), createdAt: new Date().toISOString(), ...here };
    await writeFile(join(locksDir(store), 'web.lock'), JSON.stringify(lock));
    // A breaker that died while taking that lock over left its claim.
    const claim = { token: 'feedfeedfeedfeed', pid: deadPid(), createdAt: new Date().toISOString(), ...here };
    await writeFile(join(locksDir(store), `web.lock.break-${lock.token}`), JSON.stringify(claim));
    const manifest = await writeManifest(tmp.path, localManifest(store));
    // No wait at all: provably dead owners cost nothing.
    const r = await runCli(['-m', manifest, 'run', '--json', '--only', 'web', '--lock-wait', '1s']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(report(r.stdout).certificates[0]?.outcome, 'renewed');
    assert.deepEqual(
      (await readdir(locksDir(store))).filter((f) => f.startsWith('web')),
      [],
    );
  });

  test('same host name, separate PID namespaces: a live lock is respected, a dead one is proven only at home', async (t) => {
    const unshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
    assert.equal(
      unshare.status,
      0,
      `unshare --pid --fork --mount-proc must work here (root): ${unshare.stderr}`,
    );
    const tmp = await withTmp(t);
    const store = join(tmp.path, 'certs');
    // A "Redis" that accepts connections and never answers holds the local CA, so issuing stalls while
    // the certificate's lock is held.
    const sockets = new Set<Socket>();
    const blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    });
    const holePort = (blackHole.address() as { port: number }).port;
    const base = localManifest(store);
    const stalling = await writeManifest(
      tmp.path,
      {
        ...base,
        stores: { ...base.stores, hole: { type: 'redis', url: `redis://127.0.0.1:${holePort}` } },
        issuers: { local: { type: 'local-ca', lifetime: '30d', store: 'hole' } },
      },
      'stalling.json',
    );
    const manifest = await writeManifest(tmp.path, base);

    const holder = startCli(['-m', stalling, 'run', '--only', 'web'], { killAfterMs: 120_000 });
    t.after(() => {
      holder.child.kill('SIGKILL');
    });
    const lockFile = join(locksDir(store), 'web.lock');
    let held = '';
    for (let i = 0; held === ''; i++) {
      assert.ok(i < 1200, 'the stalled run never took its lock (hang guard)');
      held = await readFile(lockFile, 'utf8').catch(() => '');
      if (held === '') await sleep(50);
    }
    const owner = JSON.parse(held) as { pid: number; host: string; pidns: string };
    assert.equal(owner.pid, holder.child.pid);
    assert.equal(owner.host, hostname());

    // In its own PID namespace that PID does not exist, yet the lock is alive: it must be respected.
    const isolated = ['unshare', '--pid', '--fork', '--mount-proc'];
    const busy = await runCli(['-m', manifest, 'run', '--json', '--only', 'web', '--lock-wait', '1s'], {
      prefix: isolated,
    });
    assert.equal(busy.code, 1, busy.stderr);
    assert.equal(report(busy.stdout).certificates[0]?.error?.code, 'LOCK_BUSY', busy.stderr);
    assert.equal(await readFile(lockFile, 'utf8'), held, 'the live lock is left alone');

    holder.child.kill('SIGKILL');
    assert.equal((await holder.done).signal, 'SIGKILL');
    // Dead now, but another PID namespace cannot prove it: still respected there until it ages out.
    const still = await runCli(['-m', manifest, 'run', '--json', '--only', 'web', '--lock-wait', '1s'], {
      prefix: isolated,
    });
    assert.equal(report(still.stdout).certificates[0]?.error?.code, 'LOCK_BUSY', still.stderr);
    // In the holder's own namespace it is provably dead: taken over at once.
    const home = await runCli(['-m', manifest, 'run', '--json', '--only', 'web', '--lock-wait', '1s']);
    assert.equal(home.code, 0, home.stderr);
    assert.equal(report(home.stdout).certificates[0]?.outcome, 'renewed');
  });
});
