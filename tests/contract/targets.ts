/**
 * The stores the contract runs against, each as a ContractTarget: every `open()` gives a new, empty store
 * that shares nothing with any other (its own directory, or its own key prefix on a Redis shared by the
 * file), and `openReadOnly()` one that is reachable but refuses writes.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FilesystemStoreConfig, RedisStoreConfig } from '../../src/manifest/types.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import type { Store } from '../../src/stores/types.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { testContext } from './fixtures.js';

export interface StoreUnderTest {
  store: Store;
  /** Everything the store holds, sorted: files and links under its directory, or keys under its prefix. */
  contents(): Promise<string[]>;
  /** Damages the saved certificate `name` behind the store's back (its private key is no longer PEM). */
  corrupt(name: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ReadOnlyStore {
  /** The store's `checkWritable` (possibly run in a process of an unprivileged user). */
  checkWritable(): Promise<string>;
  contents(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export interface ContractTarget {
  /** A new, empty store with the default `keep` (3). */
  open(): Promise<StoreUnderTest>;
  /** A store of the same kind that can be reached but not written. */
  openReadOnly(): Promise<ReadOnlyStore>;
}

async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true }).catch((): string[] => []);
  return entries.map((entry) => relative(root, join(root, entry))).sort();
}

// ---- filesystem ------------------------------------------------------------------------------------

/**
 * A filesystem store in a new temporary directory. With `locks`, its manifest entry says
 * `locks: "<locks.name>"` and each store gets a lock store of its own from `locks.open()`.
 */
export function filesystemTarget(locks?: { name: string; target: ContractTarget }): ContractTarget {
  const extra: Partial<FilesystemStoreConfig> = locks ? { locks: locks.name } : {};
  return {
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'cert-renew-fs-contract-'));
      const lockStore = locks ? await locks.target.open() : undefined;
      const getStore = async (name: string): Promise<Store> => {
        if (lockStore && name === locks?.name) return lockStore.store;
        throw new Error(`no store ${name} in this test`);
      };
      const context = testContext(dir, { getStore });
      const store = new FilesystemStore('files', { type: 'filesystem', path: 'certs', ...extra }, context);
      return {
        store,
        contents: () => listTree(join(dir, 'certs')),
        corrupt: (name) => writeFile(join(dir, 'certs', name, 'current', 'privkey.pem'), 'not a key\n'),
        cleanup: async () => {
          if (lockStore) {
            await lockStore.store.close();
            await lockStore.cleanup();
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
    async openReadOnly() {
      const dir = await mkdtemp(join(tmpdir(), 'cert-renew-fs-contract-ro-'));
      await chmod(dir, 0o755);
      const path = join(dir, 'certs');
      await mkdir(path);
      await chmod(path, 0o555);
      const config: FilesystemStoreConfig = { type: 'filesystem', path: 'certs', ...extra };
      const cleanup = async () => {
        await chmod(path, 0o755).catch(() => {});
        await rm(dir, { recursive: true, force: true });
      };
      if (process.getuid?.() !== 0) {
        const store = new FilesystemStore('files', config, testContext(dir));
        return { checkWritable: () => store.checkWritable(), contents: () => listTree(path), cleanup };
      }
      // root writes through any mode: ask from a process of an unprivileged user instead.
      return {
        checkWritable: () => checkWritableAsNobody(dir, config),
        contents: () => listTree(path),
        cleanup,
      };
    },
  };
}

/** Runs FilesystemStore#checkWritable in a child process as uid/gid 65534 (nobody). */
function checkWritableAsNobody(baseDir: string, config: FilesystemStoreConfig): Promise<string> {
  const module = fileURLToPath(new URL('../../src/stores/filesystem/index.js', import.meta.url));
  const script = `
    const { FilesystemStore } = await import(${JSON.stringify(module)});
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const context = { clock: { now: () => new Date() }, logger, env: {}, baseDir: ${JSON.stringify(baseDir)},
      hostname: 'h', pid: process.pid, readSecret: () => Promise.reject(new Error('none')),
      getStore: () => Promise.reject(new Error('none')) };
    const store = new FilesystemStore('files', ${JSON.stringify(config)}, context);
    try {
      console.log(JSON.stringify({ description: await store.checkWritable() }));
    } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.message }));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    uid: 65534,
    gid: 65534,
    cwd: baseDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      let result: { description?: string; code?: string; message?: string };
      try {
        result = JSON.parse(stdout.trim()) as typeof result;
      } catch {
        reject(new Error(`the unprivileged check exited ${code}: ${stderr || stdout}`));
        return;
      }
      if (result.description !== undefined) resolve(result.description);
      else reject(Object.assign(new Error(result.message), { code: result.code }));
    });
  });
}

// ---- Redis -----------------------------------------------------------------------------------------

const READER = { user: 'contract-reader', password: 'contract-reader-secret' };

/**
 * One redis-server for the whole test file (started in `before`, stopped in `after`), with a user that may
 * only read. Each store opened on it gets a key prefix of its own.
 */
export function sharedRedis(): () => RedisServer {
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedis();
    await server.cli(
      'ACL',
      'SETUSER',
      READER.user,
      'on',
      `>${READER.password}`,
      '~*',
      '&*',
      '+@read',
      '+ping',
      '+info',
    );
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the Redis server was not started');
    return server;
  };
}

let prefixes = 0;

async function keysUnder(server: RedisServer, prefix: string): Promise<string[]> {
  const out = await server.cli('--scan', '--pattern', `${prefix}*`);
  return out
    .split('\n')
    .filter((line) => line !== '')
    .sort();
}

/** A Redis store on `server()`; `extra` adds settings. With `encrypted`, private keys are sealed at rest. */
export function redisTarget(
  server: () => RedisServer,
  options: { encrypted?: boolean; extra?: Partial<RedisStoreConfig> } = {},
): ContractTarget {
  const configFor = async (url: string): Promise<RedisStoreConfig> => {
    const prefix = `contract${++prefixes}:`;
    const config: RedisStoreConfig = { type: 'redis', url, keyPrefix: prefix, ...options.extra };
    if (options.encrypted) {
      const keyFile = `${prefix.slice(0, -1)}.key`;
      await writeFile(join(server().dir, keyFile), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
      config.encryption = { key: { file: keyFile } };
    }
    return config;
  };
  return {
    async open() {
      const redis = server();
      const config = await configFor(redis.url);
      const store = await RedisStore.open('shared', config, testContext(redis.dir));
      const prefix = config.keyPrefix ?? '';
      return {
        store,
        contents: () => keysUnder(redis, prefix),
        corrupt: async (name) => {
          await redis.cli('SET', `${prefix}cert:{${name}}`, '{"not": "a certificate"}');
        },
        cleanup: async () => {
          const keys = await keysUnder(redis, prefix);
          if (keys.length > 0) await redis.cli('DEL', ...keys);
        },
      };
    },
    async openReadOnly() {
      const redis = server();
      const url = `redis://${READER.user}:${READER.password}@127.0.0.1:${redis.port}`;
      const config = await configFor(url);
      const store = await RedisStore.open('shared', config, testContext(redis.dir));
      const prefix = config.keyPrefix ?? '';
      return {
        checkWritable: () => store.checkWritable(),
        contents: () => keysUnder(redis, prefix),
        cleanup: () => store.close(),
      };
    },
  };
}
