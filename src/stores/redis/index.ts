/**
 * The Redis store (ioredis): one Redis, a Sentinel set-up or a Cluster. Layout (keys.ts; docs/stores.md):
 * `cert:{name}` one JSON value per certificate, `history:{name}` previous values (newest first),
 * `attempts:{name}`, `lock:{name}`, `challenge:<token>`, blobs such as `account:<issuer>:<email>`.
 * `{name}` is a Cluster hash tag, so a certificate's keys share a slot and MULTI/EXEC works in Cluster mode.
 *
 * This file is what the store keeps and how; reaching Redis (client, fail-fast connect, circuit breaker,
 * timeouts) is connection.ts, turning ioredis errors into CertRenewErrors is errors.ts, the stored JSON is
 * record.ts, key encryption crypto.ts, locks lock.ts.
 */
import { Cluster } from 'ioredis';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import { redisKeyPrefixProblem } from '../../manifest/checks/stores.js';
import { show } from '../../manifest/schema.js';
import type { RedisStoreConfig } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { durationMs } from '../../util/duration.js';
import { redisKeys } from '../keys.js';
import { PartialLoadError } from '../partial.js';
import type {
  AttemptInfo,
  CertificateBundle,
  CertificatePaths,
  ChallengeStore,
  DeploymentStore,
  Deployments,
  HostDeployment,
  Inventory,
  LoadResult,
  Locker,
  RetireResult,
  RevocationLog,
  RevocationRecord,
  RollbackOptions,
  SaveOptions,
  Store,
  StoredMeta,
} from '../types.js';
import { MIN_LOCK_TIMEOUT_MS } from '../types.js';
import { checkRedisWritable } from './check.js';
import { buildClient, invalid, RedisConnection } from './connection.js';
import { decryptPrivateKey, encryptPrivateKey, type KeyRing, loadKeyRing } from './crypto.js';
import { forgetDeployment, loadDeployments, recordDeployment } from './deployments.js';
import { evictionWarning } from './eviction.js';
import { appendRedisRevocation, listRedisNames, readRedisRevocations, retireRedis } from './lifecycle.js';
import { INSPECT_LOCK_SCRIPT, type LockCommands, RedisLocker } from './lock.js';
import { announcement, decodeAttempt, decodeCertRecord, encodeAttempt, encodeCertRecord } from './record.js';

const DEFAULT_KEEP = 3;
const DEFAULT_LOCK_TIMEOUT = '2m';
/** The field of a blob sealed with the store's encryption key. */
const SEALED_BLOB = 'cert_renew_sealed';
/** Names per MGET: each MGET carries this many `cert:` keys and as many `attempts:` keys. */
const MGET_BATCH = 500;

/**
 * LPOP the newest history entry into `cert:{name}`, atomically; returns it (nil when there is none). With
 * ARGV[1], only when the newest entry is exactly that value (the one the caller judged usable).
 */
const ROLLBACK_SCRIPT =
  "local prev = redis.call('LINDEX', KEYS[2], 0) if not prev then return false end if ARGV[1] and ARGV[1] ~= prev then return false end redis.call('LPOP', KEYS[2]) redis.call('SET', KEYS[1], prev) return prev";

interface Settings {
  keyPrefix: string;
  keep: number;
  lockTimeoutMs: number;
  ring: KeyRing | undefined;
  channel: string | undefined;
  /** For messages: the URL without credentials, or the sentinels / cluster seed nodes. */
  address: string;
}

export class RedisStore implements Store, ChallengeStore, RevocationLog, Inventory, DeploymentStore {
  readonly type = 'redis' as const;
  private locks: RedisLocker | undefined;

  private constructor(
    readonly name: string,
    private readonly connection: RedisConnection,
    private readonly settings: Settings,
    private readonly context: RuntimeContext,
  ) {}

  /** Reads secrets and builds the client; the connection itself is opened by the first command. */
  static async open(name: string, config: RedisStoreConfig, context: RuntimeContext): Promise<RedisStore> {
    const ring = config.encryption
      ? await loadKeyRing(name, config.encryption, (r) => context.readSecret(r))
      : undefined;
    const prefixProblem =
      config.keyPrefix === undefined ? undefined : redisKeyPrefixProblem(config.keyPrefix);
    if (prefixProblem) throw invalid(`store "${name}": keyPrefix ${show(config.keyPrefix)} ${prefixProblem}`);
    const keep = config.keep ?? DEFAULT_KEEP;
    if (!Number.isInteger(keep) || keep < 0)
      throw invalid(`store "${name}": keep must be a whole number ≥ 0`);
    const lockTimeoutMs = durationMs(config.lockTimeout ?? DEFAULT_LOCK_TIMEOUT);
    if (lockTimeoutMs < MIN_LOCK_TIMEOUT_MS) {
      throw invalid(
        `store "${name}": lockTimeout "${config.lockTimeout}" is shorter than ${MIN_LOCK_TIMEOUT_MS / 1000}s; a lock that short can expire while a busy machine issues`,
      );
    }
    const { client, address } = await buildClient(name, config, context);
    return new RedisStore(
      name,
      new RedisConnection(client, { name, address }, context.logger),
      {
        keyPrefix: config.keyPrefix ?? '',
        keep,
        lockTimeoutMs,
        ring,
        channel: config.announce?.channel,
        address,
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
   * Cluster: one GET per key, auto-pipelined per node by ioredis (MGET cannot cross slots). When some
   * nodes answer and others do not (a master down, `cluster-require-full-coverage no`), rejects with a
   * PartialLoadError: what was read, and one error per certificate that could not be, naming its node.
   */
  async loadMany(names: readonly string[]): Promise<Map<string, LoadResult>> {
    const unique = [...new Set(names)];
    const { keyPrefix } = this.settings;
    const what =
      unique.length === 1 ? `load certificate "${unique[0]}"` : `load ${unique.length} certificates`;
    type Pair = PromiseSettledResult<[string | null, string | null]>;
    const values = await this.connection.run(what, 'read', async (client): Promise<Pair[]> => {
      if (client instanceof Cluster) {
        const settled = await Promise.allSettled(
          unique.map((n) =>
            Promise.all([
              client.get(redisKeys.cert(keyPrefix, n)),
              client.get(redisKeys.attempts(keyPrefix, n)),
            ]),
          ),
        );
        // None read: the batch fails as one (the connection's circuit breaker sees it).
        const read = settled.find((s) => s.status === 'fulfilled');
        const failure = settled.find((s) => s.status === 'rejected');
        if (read === undefined && failure !== undefined) throw failure.reason;
        return settled;
      }
      const batches: Promise<Pair[]>[] = [];
      for (let i = 0; i < unique.length; i += MGET_BATCH) {
        const chunk = unique.slice(i, i + MGET_BATCH);
        batches.push(
          client
            .mget([
              ...chunk.map((n) => redisKeys.cert(keyPrefix, n)),
              ...chunk.map((n) => redisKeys.attempts(keyPrefix, n)),
            ])
            .then((v) => {
              // Pairs [cert, attempts] per name, like the Cluster branch.
              const out: Pair[] = [];
              for (let j = 0; j < chunk.length; j++)
                out.push({ status: 'fulfilled', value: [v[j] ?? null, v[chunk.length + j] ?? null] });
              return out;
            }),
        );
      }
      return (await Promise.all(batches)).flat();
    });
    const results = new Map<string, LoadResult>();
    const failed = new Map<string, CertRenewError>();
    unique.forEach((n, i) => {
      const value = values[i];
      if (value?.status === 'rejected') {
        const certKey = redisKeys.cert(keyPrefix, n);
        const node = this.connection.nodeOf(certKey);
        failed.set(
          n,
          this.connection.failure(
            `load certificate "${n}"${node ? ` from node ${node}` : ''}`,
            'read',
            value.reason,
          ),
        );
        return;
      }
      results.set(n, this.decode(n, value?.value[0] ?? null, value?.value[1] ?? null));
    });
    if (failed.size > 0) throw new PartialLoadError(results, failed);
    return results;
  }

  private decode(name: string, value: string | null, attemptsValue: string | null): LoadResult {
    const attempts = decodeAttempt(attemptsValue);
    const extra = attempts ? { attempts } : {};
    if (value === null) return { state: 'missing', ...extra };
    const decoded = decodeCertRecord(name, value, this.settings.ring);
    if (!decoded.ok && decoded.wrongKey) {
      return { state: 'error', failure: this.wrongKeyError(name, decoded.wrongKey.kid), ...extra };
    }
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
   * A value sealed under a key id this store has, with a key that is not this store's (authentication
   * fails): two hosts sharing the store with different keys under one keyId would otherwise each reissue
   * and overwrite the other's certificates on every run. A configuration error (STORE_CORRUPT), never
   * reissued over. A key id this store does not know stays `unreadable` (docs/stores.md, rotation).
   */
  private wrongKeyError(name: string, kid: string): CertRenewError {
    const key = redisKeys.cert(this.settings.keyPrefix, name);
    return new CertRenewError(
      ErrorCode.storeCorrupt,
      `${name}: redis store "${this.name}": ${key}: the private key does not decrypt with the configured encryption key "${kid}": the key that wrote it differs (another host's?), or the value was altered; not reissued over it`,
      {
        hint: `give every host sharing this store the same key for keyId "${kid}" — a new key needs a new keyId`,
      },
    );
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
    await this.connection.run(`save certificate "${name}"`, 'write', async (client) => {
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
  async rollback(name: string, options?: RollbackOptions): Promise<boolean> {
    const { keyPrefix } = this.settings;
    const historyKey = redisKeys.history(keyPrefix, name);
    let expected: string[] = [];
    if (options?.usable) {
      const newest = await this.connection.run(
        `read the history of certificate "${name}"`,
        'read',
        (client) => client.lindex(historyKey, 0),
      );
      if (newest === null) return false;
      const decoded = decodeCertRecord(name, newest, this.settings.ring);
      if (!decoded.ok || !options.usable(decoded.cert)) {
        this.context.logger.info(
          `redis store "${this.name}": the previous version of certificate "${name}" is not valid now; not restored`,
        );
        return false;
      }
      expected = [newest];
    }
    const restored = await this.connection.run(`roll back certificate "${name}"`, 'write', async (client) => {
      const reply = await client.eval(
        ROLLBACK_SCRIPT,
        2,
        redisKeys.cert(keyPrefix, name),
        historyKey,
        ...expected,
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
    await this.connection.run(`record an attempt for certificate "${name}"`, 'write', async (client) => {
      if (attempt === undefined) await client.del(key);
      else await client.set(key, encodeAttempt(attempt));
    });
  }

  recordRevocation(name: string, record: RevocationRecord): Promise<void> {
    return appendRedisRevocation(this.connection, this.settings.keyPrefix, name, record);
  }

  revocations(names: readonly string[]): Promise<Map<string, RevocationRecord[]>> {
    return readRedisRevocations(this.connection, this.settings.keyPrefix, names);
  }

  async listNames(except?: ReadonlySet<string>): Promise<string[]> {
    const names = await listRedisNames(this.connection, this.settings.keyPrefix);
    return except ? names.filter((n) => !except.has(n)) : names;
  }

  retire(name: string, _now: Date): Promise<RetireResult> {
    return retireRedis(this.connection, this.settings.keyPrefix, name);
  }

  loadDeployments(names: readonly string[]): Promise<Map<string, Deployments>> {
    return loadDeployments(this.connection, this.settings.keyPrefix, names);
  }

  recordDeployment(name: string, host: string, deployment: HostDeployment): Promise<void> {
    return recordDeployment(this.connection, this.settings.keyPrefix, name, host, deployment);
  }

  forgetDeployment(name: string, host: string): Promise<boolean> {
    return forgetDeployment(this.connection, this.settings.keyPrefix, name, host);
  }

  /** PUBLISH on `announce.channel`; a failure is logged, never fatal (the certificate is stored). */
  private async announce(
    event: 'renewed' | 'rolled-back',
    meta: Pick<StoredMeta, 'name' | 'fingerprint' | 'serial' | 'notAfter' | 'domains'>,
  ): Promise<void> {
    const channel = this.settings.channel;
    if (channel === undefined) return;
    try {
      await this.connection.client.publish(channel, announcement(this.name, event, meta));
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
    const value = await this.connection.run(`read ${key}`, 'read', (client) =>
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
    const reply = await this.connection.run(`write ${key}`, 'write', (client) =>
      options.ifAbsent ? client.set(redisKey, stored, 'NX') : client.set(redisKey, stored),
    );
    return reply === 'OK';
  }

  async putChallenge(token: string, keyAuthorization: string, ttlMs: number): Promise<void> {
    const key = redisKeys.challenge(this.settings.keyPrefix, token);
    await this.connection.run('write an http-01 challenge', 'write', (client) =>
      client.set(key, keyAuthorization, 'PX', Math.max(1, Math.round(ttlMs))),
    );
  }

  async deleteChallenge(token: string): Promise<void> {
    const key = redisKeys.challenge(this.settings.keyPrefix, token);
    await this.connection.run('delete an http-01 challenge', 'write', (client) => client.del(key));
  }

  paths(_name: string): CertificatePaths | undefined {
    return undefined;
  }

  /** What a run does, on probe keys no certificate can have (check.ts); writes no certificate. */
  async checkWritable(): Promise<string> {
    const checked = await checkRedisWritable({
      connection: this.connection,
      label: { name: this.name, address: this.settings.address },
      keyPrefix: this.settings.keyPrefix,
      channel: this.settings.channel,
      hostname: this.context.hostname,
      pid: this.context.pid,
      logger: this.context.logger,
    });
    return `${checked}${await this.evictionNote()}`;
  }

  /** `; warning: …` when this Redis evicts keys without a TTL (eviction.ts), logged too; else ''. */
  private async evictionNote(): Promise<string> {
    const warning = await this.connection
      .run('read INFO memory', 'read', (client) => evictionWarning(client, this.settings.address))
      .catch(() => undefined);
    if (warning === undefined) return '';
    this.context.logger.warn(`store ${this.name}: ${warning}`);
    return `; warning: ${warning}`;
  }

  // ---- locks -------------------------------------------------------------------------------------

  /** Locks in this Redis; also what a filesystem store whose manifest entry says `locks: "<this>"` uses. */
  locker(): Locker {
    this.locks ??= this.createLocker();
    return this.locks;
  }

  private createLocker(): RedisLocker {
    const run = this.connection.run.bind(this.connection);
    const commands: LockCommands = {
      setIfAbsent: async (key, value, ttlMs) =>
        (await run('take a lock', 'write', (client) => client.set(key, value, 'PX', ttlMs, 'NX'))) === 'OK',
      evalOnKey: async (script, key, ...args) =>
        Number(await run('update a lock', 'write', (client) => client.eval(script, 1, key, ...args))),
      inspect: async (key) => {
        const reply = (await run('read a lock', 'read', (client) =>
          client.eval(INSPECT_LOCK_SCRIPT, 1, key),
        )) as [string | null, number];
        return { value: reply[0] ?? null, pttlMs: Number(reply[1]) };
      },
    };
    return new RedisLocker(commands, {
      keyPrefix: this.settings.keyPrefix,
      ttlMs: this.settings.lockTimeoutMs,
      hostname: this.context.hostname,
      pid: this.context.pid,
      clock: this.context.clock,
      logger: this.context.logger,
    });
  }

  /** Stops extending held locks (they expire unless released), then quits the connection. */
  async close(): Promise<void> {
    this.locks?.stopAll();
    await this.connection.close();
  }
}
