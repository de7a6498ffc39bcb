/**
 * The Redis store (ioredis): one Redis, a Sentinel set-up or a Cluster. Layout (see docs/stores.md):
 * `cert:{name}` one JSON value per certificate, `history:{name}` previous values (newest first),
 * `attempts:{name}`, `lock:{name}`, `challenge:<token>`, blobs such as `account:<issuer>:<email>`.
 * `{name}` is a Cluster hash tag, so a certificate's keys share a slot and MULTI/EXEC works in Cluster mode.
 *
 * Connections are opened on first use and fail fast: an unreachable Redis is one STORE_UNAVAILABLE line
 * naming the store and its address within seconds, never an endless retry or an unhandled 'error' event.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, type ClusterOptions, Redis, type RedisOptions, ReplyError } from 'ioredis';
import { CertRenewError, describeError, ErrorCode, ExitCode } from '../errors.js';
import type { RedisStoreConfig } from '../manifest/types.js';
import type { RuntimeContext } from '../runtime/context.js';
import { durationMs } from '../util/duration.js';
import { redisKeys } from './keys.js';
import { decryptPrivateKey, encryptPrivateKey, type KeyRing, loadKeyRing } from './redis-crypto.js';
import { type LockCommands, RedisLocker } from './redis-lock.js';
import {
  announcement,
  decodeAttempt,
  decodeCertRecord,
  encodeAttempt,
  encodeCertRecord,
} from './redis-record.js';
import type {
  AttemptInfo,
  CertificateBundle,
  CertificatePaths,
  ChallengeStore,
  LoadResult,
  Locker,
  SaveOptions,
  Store,
  StoredMeta,
} from './types.js';

export { RedisLocker } from './redis-lock.js';

const DEFAULT_KEEP = 3;
const DEFAULT_LOCK_TIMEOUT = '2m';
const CONNECT_TIMEOUT_MS = 5000;
/**
 * A whole operation (one load, save, lock step) that gets no answer within this time fails. Measured here
 * with an unref'd timer: ioredis' own commandTimeout leaves timers behind that delay the exit.
 */
const OPERATION_TIMEOUT_MS = 20_000;
/** The field of a blob sealed with the store's encryption key. */
const SEALED_BLOB = 'cert_renew_sealed';
const RECONNECT_WAIT_MS = 3_000;
const FAIL_FAST_MS = 15_000;
/** Reconnection attempts a command waits through before it fails (about 0.6 s with the delays below). */
const MAX_RETRIES_PER_REQUEST = 2;
/** Names per MGET: each MGET carries this many `cert:` keys and as many `attempts:` keys. */
const MGET_BATCH = 500;

/** LPOP the newest history entry into `cert:{name}`, atomically; returns it (nil when there is none). */
const ROLLBACK_SCRIPT =
  "local prev = redis.call('LPOP', KEYS[2]) if not prev then return false end redis.call('SET', KEYS[1], prev) return prev";

type Client = Redis | Cluster;
type Access = 'read' | 'write';

interface Settings {
  keyPrefix: string;
  keep: number;
  lockTimeoutMs: number;
  ring: KeyRing | undefined;
  channel: string | undefined;
  /** For messages: the URL without credentials, or the sentinels / cluster seed nodes. */
  address: string;
  cluster: boolean;
}

function invalid(message: string): CertRenewError {
  return new CertRenewError(ErrorCode.manifestInvalid, message, { exitCode: ExitCode.usage });
}

function nodesText(nodes: { host: string; port: number }[]): string {
  return nodes.map((n) => `${n.host}:${n.port}`).join(',');
}

/** Options shared by every kind of connection (a Cluster passes them to each node). */
function commonOptions(): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
    // ioredis waits this long for a closed socket's 'close' (2 s by default, which delays the exit).
    disconnectTimeout: 200,
    // After a failover the old master answers READONLY: reconnect (Sentinel finds the new one) and resend.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
}

async function buildClient(
  name: string,
  config: RedisStoreConfig,
  context: RuntimeContext,
): Promise<{ client: Client; address: string }> {
  const kinds = [config.url, config.sentinel, config.cluster].filter((x) => x !== undefined).length;
  if (kinds !== 1) {
    throw invalid(`store "${name}": give exactly one of url, sentinel or cluster`);
  }
  const auth: RedisOptions = {};
  if (config.username) auth.username = await context.readSecret(config.username);
  if (config.password) auth.password = await context.readSecret(config.password);
  let tls: ConnectionOptions | undefined;
  if (config.tls) {
    tls = {};
    if (config.tls.caBundle) {
      const path = resolve(context.baseDir, config.tls.caBundle);
      try {
        tls.ca = await readFile(path);
      } catch (error) {
        throw new CertRenewError(
          ErrorCode.storeUnavailable,
          `store "${name}": CA bundle ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          { cause: error, hint: 'check tls.caBundle (relative to the manifest)' },
        );
      }
    }
  }
  // Reconnect quickly and forever in the background; commands still fail after MAX_RETRIES_PER_REQUEST.
  const retryStrategy = (times: number) => Math.min(times * 200, 1000);

  if (config.url !== undefined) {
    let url: URL;
    try {
      url = new URL(config.url);
    } catch {
      // Never echo it: a redis URL may carry a password.
      throw invalid(`store "${name}": url is not a valid redis:// or rediss:// URL`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw invalid(`store "${name}": url must start with redis:// or rediss://`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const options: RedisOptions = {
      ...commonOptions(),
      host,
      port: url.port ? Number(url.port) : 6379,
      retryStrategy,
    };
    if (url.username) options.username = decodeURIComponent(url.username);
    if (url.password) options.password = decodeURIComponent(url.password);
    const db = url.pathname.replace(/^\//, '');
    if (db) options.db = Number(db);
    if (url.protocol === 'rediss:' || tls)
      options.tls = { ...(isIP(host) ? {} : { servername: host }), ...tls };
    Object.assign(options, auth);
    const address = `${url.protocol}//${url.host}${db ? `/${db}` : ''}`;
    return { client: new Redis(options), address };
  }

  if (config.sentinel !== undefined) {
    const options: RedisOptions = {
      ...commonOptions(),
      ...auth,
      sentinels: config.sentinel.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: config.sentinel.name,
      retryStrategy,
      // Give up on the sentinels after a few rounds instead of asking them forever.
      sentinelRetryStrategy: (times: number) => (times > 3 ? null : times * 200),
      failoverDetector: true,
      ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    };
    const address = `sentinel master "${config.sentinel.name}" via ${nodesText(config.sentinel.sentinels)}`;
    return { client: new Redis(options), address };
  }

  const cluster = config.cluster!;
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: true,
    // Concurrent single-key commands (loadMany) are sent as one pipeline per node.
    enableAutoPipelining: true,
    clusterRetryStrategy: (times: number) => (times > 3 ? null : times * 200),
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    redisOptions: { ...commonOptions(), ...auth, ...(tls ? { tls } : {}) },
  };
  const address = `cluster ${nodesText(cluster.nodes)}`;
  return {
    client: new Cluster(
      cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      options,
    ),
    address,
  };
}

export class RedisStore implements Store, ChallengeStore {
  readonly type = 'redis' as const;
  private connecting: Promise<void> | undefined;
  private connected = false;
  private closed = false;
  /** The last connection-level error ioredis reported, for messages about lost connections. */
  private lastConnectionError: string | undefined;
  private lastNodeError: string | undefined;
  private redisLocker: RedisLocker | undefined;
  /**
   * Set when a command failed because the connection was lost, cleared when ioredis is ready again: until
   * then further commands fail at once instead of each waiting through its own reconnection attempts (a
   * dead Redis would otherwise cost seconds per certificate).
   */
  private lostConnection: string | undefined;
  /** One wait for the reconnection shared by every command; after it fails, commands fail at once for a while. */
  private reconnectProbe: Promise<boolean> | undefined;
  private failFastUntil = 0;

  private constructor(
    readonly name: string,
    private readonly client: Client,
    private readonly settings: Settings,
    private readonly context: RuntimeContext,
  ) {
    client.on('error', (error: Error) => {
      this.lastConnectionError = describeError(error);
      context.logger.debug(`redis store "${name}": ${this.lastConnectionError}`);
    });
    // Cluster: the error of one node ("connect ECONNREFUSED …") says more than "Failed to refresh slots cache".
    client.on('node error', (error: Error, address: string) => {
      this.lastNodeError = `${address}: ${describeError(error)}`;
      context.logger.debug(`redis store "${name}": node ${this.lastNodeError}`);
    });
    client.on('ready', () => {
      this.lostConnection = undefined;
      this.lastConnectionError = undefined;
      this.lastNodeError = undefined;
    });
  }

  /** Reads secrets and builds the client; the connection itself is opened by the first command. */
  static async open(name: string, config: RedisStoreConfig, context: RuntimeContext): Promise<RedisStore> {
    const ring = config.encryption
      ? await loadKeyRing(name, config.encryption, (r) => context.readSecret(r))
      : undefined;
    const keep = config.keep ?? DEFAULT_KEEP;
    if (!Number.isInteger(keep) || keep < 0)
      throw invalid(`store "${name}": keep must be a whole number ≥ 0`);
    const { client, address } = await buildClient(name, config, context);
    return new RedisStore(
      name,
      client,
      {
        keyPrefix: config.keyPrefix ?? '',
        keep,
        lockTimeoutMs: durationMs(config.lockTimeout ?? DEFAULT_LOCK_TIMEOUT),
        ring,
        channel: config.announce?.channel,
        address,
        cluster: config.cluster !== undefined,
      },
      context,
    );
  }

  /** Where this store connects (no credentials), for messages and `checkWritable`. */
  get address(): string {
    return this.settings.address;
  }

  // ---- certificates -------------------------------------------------------------------------------

  async load(name: string): Promise<LoadResult> {
    const results = await this.loadMany([name]);
    return results.get(name) ?? { state: 'missing' };
  }

  /**
   * One Redis: MGETs of 500 certificates (+ their attempts), all sent at once on one connection.
   * Cluster: one GET per key, auto-pipelined per node by ioredis (MGET cannot cross slots).
   */
  async loadMany(names: readonly string[]): Promise<Map<string, LoadResult>> {
    const unique = [...new Set(names)];
    const { keyPrefix } = this.settings;
    const what =
      unique.length === 1 ? `load certificate "${unique[0]}"` : `load ${unique.length} certificates`;
    const values = await this.run(what, 'read', async (client) => {
      if (client instanceof Cluster) {
        const gets = unique.flatMap((n) => [
          client.get(redisKeys.cert(keyPrefix, n)),
          client.get(redisKeys.attempts(keyPrefix, n)),
        ]);
        return Promise.all(gets);
      }
      const batches: Promise<(string | null)[]>[] = [];
      for (let i = 0; i < unique.length; i += MGET_BATCH) {
        const chunk = unique.slice(i, i + MGET_BATCH);
        batches.push(
          client
            .mget([
              ...chunk.map((n) => redisKeys.cert(keyPrefix, n)),
              ...chunk.map((n) => redisKeys.attempts(keyPrefix, n)),
            ])
            .then((v) => {
              // Reorder to [cert, attempts, cert, attempts, …] like the Cluster branch.
              const out: (string | null)[] = [];
              for (let j = 0; j < chunk.length; j++) out.push(v[j] ?? null, v[chunk.length + j] ?? null);
              return out;
            }),
        );
      }
      return (await Promise.all(batches)).flat();
    });
    const results = new Map<string, LoadResult>();
    unique.forEach((n, i) => {
      results.set(n, this.decode(n, values[2 * i] ?? null, values[2 * i + 1] ?? null));
    });
    return results;
  }

  private decode(name: string, value: string | null, attemptsValue: string | null): LoadResult {
    const attempts = decodeAttempt(attemptsValue);
    const extra = attempts ? { attempts } : {};
    if (value === null) return { state: 'missing', ...extra };
    const decoded = decodeCertRecord(name, value, this.settings.ring);
    if (!decoded.ok) {
      return {
        state: 'unreadable',
        error: `${redisKeys.cert(this.settings.keyPrefix, name)}: ${decoded.error}`,
        ...extra,
      };
    }
    return { state: 'present', cert: decoded.cert, ...extra };
  }

  /**
   * GET the current value, then one MULTI/EXEC: LPUSH it to the history, LTRIM to `keep`, SET the new
   * value. The certificate and its key are one value, so a reader sees the old or the new pair, never a
   * mix. No WATCH: the engine holds the certificate's lock while saving, and WATCH state belongs to a
   * connection that ioredis shares between concurrent commands. Without the lock the worst case is a
   * history that misses one version; `cert:{name}` is always one complete value.
   */
  async save(
    name: string,
    bundle: CertificateBundle,
    meta: StoredMeta,
    options: SaveOptions = {},
  ): Promise<void> {
    const { keyPrefix, keep } = this.settings;
    const certKey = redisKeys.cert(keyPrefix, name);
    const historyKey = redisKeys.history(keyPrefix, name);
    const value = encodeCertRecord(name, bundle, meta, this.settings.ring);
    await this.run(`save certificate "${name}"`, 'write', async (client) => {
      const previous = await client.get(certKey);
      const tx = client.multi();
      if (keep === 0) tx.del(historyKey);
      else if (previous !== null) tx.lpush(historyKey, previous).ltrim(historyKey, 0, keep - 1);
      tx.set(certKey, value);
      const replies = await tx.exec();
      if (!replies) throw new Error('the transaction was aborted');
      for (const [error] of replies) if (error) throw error;
    });
    if (options.announce !== false) await this.announce('renewed', { ...meta, name });
  }

  /** Moves the newest history entry back into `cert:{name}` in one Lua script (atomic, one slot). */
  async rollback(name: string): Promise<boolean> {
    const { keyPrefix } = this.settings;
    const restored = await this.run(`roll back certificate "${name}"`, 'write', async (client) => {
      const reply = await client.eval(
        ROLLBACK_SCRIPT,
        2,
        redisKeys.cert(keyPrefix, name),
        redisKeys.history(keyPrefix, name),
      );
      return typeof reply === 'string' ? reply : undefined;
    });
    if (restored === undefined) return false;
    const decoded = decodeCertRecord(name, restored, this.settings.ring);
    if (decoded.ok && decoded.cert.meta) await this.announce('rolled-back', decoded.cert.meta);
    return true;
  }

  async recordAttempt(name: string, attempt: AttemptInfo | undefined): Promise<void> {
    const key = redisKeys.attempts(this.settings.keyPrefix, name);
    await this.run(`record an attempt for certificate "${name}"`, 'write', async (client) => {
      if (attempt === undefined) await client.del(key);
      else await client.set(key, encodeAttempt(attempt));
    });
  }

  /** PUBLISH on `announce.channel`; a failure is logged, never fatal (the certificate is stored). */
  private async announce(
    event: 'renewed' | 'rolled-back',
    meta: Pick<StoredMeta, 'name' | 'fingerprint' | 'serial' | 'notAfter' | 'domains'>,
  ): Promise<void> {
    const channel = this.settings.channel;
    if (channel === undefined) return;
    try {
      await this.client.publish(channel, announcement(this.name, event, meta));
    } catch (error) {
      this.context.logger.warn(
        `redis store "${this.name}": announcing certificate "${meta.name}" on channel "${channel}" failed: ${describeError(error)}`,
      );
    }
  }

  // ---- blobs, challenges, paths, dry run ---------------------------------------------------------

  /**
   * Blobs hold private keys too (ACME account keys, the local CA's key): with `encryption` configured they
   * are sealed like certificate keys, bound to their blob key. Plain blobs written before encryption was
   * turned on are still read.
   */
  async getBlob(key: string): Promise<string | undefined> {
    const value = await this.run(`read ${key}`, 'read', (client) =>
      client.get(redisKeys.blob(this.settings.keyPrefix, key)),
    );
    if (value === null) return undefined;
    let sealed: unknown;
    try {
      sealed = (JSON.parse(value) as { [SEALED_BLOB]?: unknown })[SEALED_BLOB];
    } catch {
      return value;
    }
    if (sealed === undefined) return value;
    try {
      return decryptPrivateKey(this.settings.ring, `blob:${key}`, sealed);
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.storeCorrupt,
        `redis store "${this.name}": ${key}: ${describeError(error)}`,
        {
          cause: error,
          hint: 'configure the encryption key it was written with (encryption.previousKeys)',
        },
      );
    }
  }

  async putBlob(key: string, value: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const redisKey = redisKeys.blob(this.settings.keyPrefix, key);
    const ring = this.settings.ring;
    const stored = ring
      ? JSON.stringify({ [SEALED_BLOB]: encryptPrivateKey(ring, `blob:${key}`, value) })
      : value;
    const reply = await this.run(`write ${key}`, 'write', (client) =>
      options.ifAbsent ? client.set(redisKey, stored, 'NX') : client.set(redisKey, stored),
    );
    return reply === 'OK';
  }

  async putChallenge(token: string, keyAuthorization: string, ttlMs: number): Promise<void> {
    const key = redisKeys.challenge(this.settings.keyPrefix, token);
    await this.run('write an http-01 challenge', 'write', (client) =>
      client.set(key, keyAuthorization, 'PX', Math.max(1, Math.round(ttlMs))),
    );
  }

  async deleteChallenge(token: string): Promise<void> {
    const key = redisKeys.challenge(this.settings.keyPrefix, token);
    await this.run('delete an http-01 challenge', 'write', (client) => client.del(key));
  }

  paths(_name: string): CertificatePaths | undefined {
    return undefined;
  }

  /** PING, then SET and DEL of a probe key that expires by itself; writes no certificate. */
  async checkWritable(): Promise<string> {
    const { hostname, pid } = this.context;
    const key = `${this.settings.keyPrefix}probe:{cert-renew}:${hostname}:${pid}`;
    await this.run('check that the store is writable', 'write', async (client) => {
      await client.ping();
      await client.set(key, 'dry run', 'PX', 60_000);
      await client.del(key);
    });
    return `redis ${this.settings.address}: reachable and writable`;
  }

  // ---- locks -------------------------------------------------------------------------------------

  /** Locks in this Redis; also usable by a filesystem store whose manifest entry says `locks: "<this>"`. */
  locker(): Locker {
    this.redisLocker ??= this.createLocker();
    return this.redisLocker;
  }

  private createLocker(): RedisLocker {
    const commands: LockCommands = {
      setIfAbsent: async (key, value, ttlMs) =>
        (await this.run('take a lock', 'write', (client) => client.set(key, value, 'PX', ttlMs, 'NX'))) ===
        'OK',
      evalOnKey: async (script, key, ...args) =>
        Number(await this.run('update a lock', 'write', (client) => client.eval(script, 1, key, ...args))),
    };
    return new RedisLocker(commands, {
      keyPrefix: this.settings.keyPrefix,
      ttlMs: this.settings.lockTimeoutMs,
      owner: `${this.context.hostname}:${this.context.pid}`,
      clock: this.context.clock,
      logger: this.context.logger,
    });
  }

  // ---- connection --------------------------------------------------------------------------------

  /** Quits cleanly (QUIT, then a hard disconnect if Redis does not answer within a second). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.redisLocker?.stopAll();
    const client = this.client;
    if (client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise((done) => {
          timer = setTimeout(done, 1000);
        }),
      ]);
      clearTimeout(timer);
    }
    client.disconnect();
  }

  /**
   * Connects once. The first connection must succeed at once: on failure the client is disconnected (no
   * background retries) and the error is one line; the next command tries again. Once connected, ioredis
   * reconnects by itself and a command fails after MAX_RETRIES_PER_REQUEST reconnection attempts.
   */
  private ensureConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(this.unavailable('the store was closed'));
    this.connecting ??= this.client.connect().then(
      () => {
        this.connected = true;
      },
      (error: unknown) => {
        this.connecting = undefined;
        // connect() rejects with "Connection is closed."; the 'error' event said why.
        let main = this.lastConnectionError ?? describeError(error);
        if (/^All sentinels are unreachable/.test(main)) main = 'no sentinel answered';
        if (/^(Failed to refresh slots cache|None of startup nodes)/.test(main))
          main = 'no cluster node answered';
        const node = this.lastNodeError;
        const detail =
          node && !/Connection is closed/.test(node) && !main.includes(node) ? `${main} (${node})` : main;
        this.client.disconnect();
        throw this.unavailable(detail, error);
      },
    );
    return this.connecting;
  }

  private unavailable(detail: string, cause?: unknown): CertRenewError {
    if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(detail)) {
      return new CertRenewError(
        ErrorCode.storeUnavailable,
        `redis store "${this.name}" at ${this.settings.address} refused the login: ${detail}`,
        { cause, hint: "check the store's username and password (secret references) and the ACL" },
      );
    }
    return new CertRenewError(
      ErrorCode.storeUnavailable,
      `redis store "${this.name}" at ${this.settings.address} is unreachable: ${detail}`,
      {
        transient: true,
        cause,
        hint: 'check that Redis runs there and that the address and credentials are right',
      },
    );
  }

  /**
   * A circuit breaker for a lost connection: every waiting command shares one wait of RECONNECT_WAIT_MS for
   * ioredis to be ready again (a restart or a Sentinel failover); when that fails, commands fail at once for
   * FAIL_FAST_MS, then one more wait is allowed. A dead Redis costs seconds per run, not per certificate.
   */
  private awaitReconnect(): Promise<boolean> {
    if (performance.now() < this.failFastUntil) return Promise.resolve(false);
    this.reconnectProbe ??= new Promise<boolean>((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.reconnectProbe = undefined;
        if (!ready) this.failFastUntil = performance.now() + FAIL_FAST_MS;
        resolve(ready);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), RECONNECT_WAIT_MS);
      timer.unref();
      this.client.once('ready', onReady);
    });
    return this.reconnectProbe;
  }

  /** Runs commands on a connected client; any failure becomes one CertRenewError line. */
  private async run<T>(what: string, access: Access, action: (client: Client) => Promise<T>): Promise<T> {
    await this.ensureConnected();
    if (
      this.lostConnection !== undefined &&
      this.client.status !== 'ready' &&
      !(await this.awaitReconnect())
    ) {
      throw new CertRenewError(
        ErrorCode.storeUnavailable,
        `redis store "${this.name}" (${this.settings.address}): cannot ${what}: ${this.lostConnection}`,
        { transient: true, hint: 'check that Redis runs and is reachable; the next run retries' },
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${OPERATION_TIMEOUT_MS / 1000} s`)),
        OPERATION_TIMEOUT_MS,
      );
      timer.unref();
    });
    try {
      return await Promise.race([action(this.client), timeout]);
    } catch (error) {
      throw this.commandError(what, access, error);
    } finally {
      clearTimeout(timer);
    }
  }

  private commandError(what: string, access: Access, error: unknown): CertRenewError {
    if (error instanceof CertRenewError) return error;
    const prefix = `redis store "${this.name}" (${this.settings.address}): cannot ${what}`;
    if (error instanceof ReplyError || (error instanceof Error && error.name === 'ReplyError')) {
      const message = describeError(error);
      if (/^(NOAUTH|WRONGPASS|NOPERM)/.test(message)) {
        return new CertRenewError(ErrorCode.storeUnavailable, `${prefix}: ${message}`, {
          cause: error,
          hint: "check the store's username, password and ACL permissions",
        });
      }
      const transient = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)/.test(message);
      return new CertRenewError(
        access === 'write' ? ErrorCode.storeWrite : ErrorCode.storeUnavailable,
        `${prefix}: ${message}`,
        {
          cause: error,
          transient,
        },
      );
    }
    const message = describeError(error);
    const lost =
      /max retries per request|Connection is closed|Command aborted|Stream isn't writeable|Command timed out/i.test(
        message,
      );
    const detail = lost
      ? `connection lost${this.lastConnectionError ? ` (${this.lastConnectionError})` : ` (${message})`}`
      : message;
    if (lost) this.lostConnection = detail;
    return new CertRenewError(ErrorCode.storeUnavailable, `${prefix}: ${detail}`, {
      cause: error,
      transient: true,
      hint: 'check that Redis runs and is reachable; the next run retries',
    });
  }
}

/** The locker of a Redis store, for engines that lock certificates kept in another store. */
export function redisLocker(store: RedisStore): Locker {
  return store.locker();
}
