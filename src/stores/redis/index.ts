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
import { show } from '../../manifest/show.js';
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
import { buildClient, type Client, invalid, RedisConnection } from './connection.js';
import { decryptPrivateKey, encryptPrivateKey, type KeyRing, loadKeyRing } from './crypto.js';
import { forgetDeployment, loadDeployments, recordDeployment } from './deployments.js';
import { evictionWarning } from './eviction.js';
import { isWrongType, keyTypes, namingWrongType, wrongTypeError, wrongTypeText } from './key-types.js';
import { appendRedisRevocation, listRedisNames, readRedisRevocations, retireRedis } from './lifecycle.js';
import { INSPECT_LOCK_SCRIPT, type LockCommands, RedisLocker } from './lock.js';
import { announcement, decodeAttempt, decodeCertRecord, encodeAttempt, encodeCertRecord } from './record.js';
import { SAVE_SCRIPT } from './save-script.js';

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

/**
 * How long a save waits for a replica to acknowledge it (WAIT), when the master has replicas. A save no
 * replica acknowledged within this time is not confirmed: a failover could lose it (docs/stores.md).
 * WAIT blocks the connection it is sent on, so this is also how long other commands may queue behind it.
 */
const REPLICA_ACK_TIMEOUT_MS = 5_000;
/** A replica whose last acknowledgement is older than this (INFO `lag`, seconds) is not waited for. */
const STALE_REPLICA_S = 10;

/**
 * A command without keys (INFO, WAIT) sent on the connection that serves `key`: one Redis or Sentinel has
 * one connection; in a Cluster a pipeline with a command on `key` goes, whole, to the node of its slot on
 * that node's one connection — the one the save was written on, which is what WAIT counts from.
 */
async function onKeysNode(client: Client, key: string, command: [string, ...string[]]): Promise<unknown> {
  if (!(client instanceof Cluster)) return client.call(...command);
  const replies =
    (await client
      .pipeline()
      .exists(key)
      .call(...command)
      .exec()) ?? [];
  const [error, reply] = replies[1] ?? [new Error('no reply')];
  if (error) throw error;
  return reply;
}

/** WAIT 1 REPLICA_ACK_TIMEOUT_MS after a save: how many replicas acknowledged it (0: none in time). */
async function waitForReplica(client: Client, key: string): Promise<number> {
  return Number(await onKeysNode(client, key, ['WAIT', '1', String(REPLICA_ACK_TIMEOUT_MS)]));
}

interface Settings {
  keyPrefix: string;
  keep: number;
  lockTimeoutMs: number;
  ring: KeyRing | undefined;
  channel: string | undefined;
  /** For messages: the URL without credentials, or the sentinels / cluster seed nodes. */
  address: string;
  /**
   * Sentinel: failovers are expected, so a save is confirmed on a replica even when the master reports none
   * connected (during a failover the old master loses its replica first, then becomes a replica itself and
   * drops what it took meanwhile).
   */
  sentinel: boolean;
}

export class RedisStore implements Store, ChallengeStore, RevocationLog, Inventory, DeploymentStore {
  readonly type = 'redis' as const;
  private locks: RedisLocker | undefined;
  /** INFO was refused (ACL): warned once; saves are not confirmed on replicas. */
  private infoRefused = false;

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
        sentinel: config.sentinel !== undefined,
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
   * A `cert:{name}` of another type than a string (MGET reads it as nil, GET answers WRONGTYPE) is that
   * certificate's `unreadable`, naming the key and its type: one EXISTS per MGET tells the nils that are
   * missing keys from the ones that are not, and only those are asked their TYPE. An `attempts:{name}` of
   * another type reads as none (attempts are advisory; the next record replaces it).
   */
  async loadMany(names: readonly string[]): Promise<Map<string, LoadResult>> {
    const unique = [...new Set(names)];
    const { keyPrefix } = this.settings;
    const what =
      unique.length === 1 ? `load certificate "${unique[0]}"` : `load ${unique.length} certificates`;
    type Pair = PromiseSettledResult<[string | null, string | null]>;
    /** Key → its type, for keys that hold something else than a string. */
    const wrongTypes = new Map<string, string>();
    const values = await this.connection.run(what, 'read', async (client): Promise<Pair[]> => {
      const typesOf = async (keys: string[]) => {
        const types = await keyTypes(client, keys);
        keys.forEach((key, i) => {
          const type = types[i];
          if (type !== undefined && type !== 'none' && type !== 'string') wrongTypes.set(key, type);
        });
      };
      if (client instanceof Cluster) {
        const wrong: string[] = [];
        const get = (key: string) =>
          client.get(key).catch((error: unknown) => {
            if (!isWrongType(error)) throw error;
            wrong.push(key);
            return null;
          });
        const settled = await Promise.allSettled(
          unique.map((n) =>
            Promise.all([get(redisKeys.cert(keyPrefix, n)), get(redisKeys.attempts(keyPrefix, n))]),
          ),
        );
        // None read: the batch fails as one (the connection's circuit breaker sees it).
        const read = settled.find((s) => s.status === 'fulfilled');
        const failure = settled.find((s) => s.status === 'rejected');
        if (read === undefined && failure !== undefined) throw failure.reason;
        if (wrong.length > 0) await typesOf(wrong);
        return settled;
      }
      const batches: Promise<Pair[]>[] = [];
      for (let i = 0; i < unique.length; i += MGET_BATCH) {
        const chunk = unique.slice(i, i + MGET_BATCH);
        const certKeys = chunk.map((n) => redisKeys.cert(keyPrefix, n));
        batches.push(
          client
            .mget([...certKeys, ...chunk.map((n) => redisKeys.attempts(keyPrefix, n))])
            .then(async (v) => {
              const nils = certKeys.filter((_, j) => (v[j] ?? null) === null);
              // Nils are keys that do not exist, or hold something else than a string.
              if (nils.length > 0 && (await client.exists(...nils)) > 0) await typesOf(nils);
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
      const certKey = redisKeys.cert(keyPrefix, n);
      if (value?.status === 'rejected') {
        failed.set(n, this.connection.keyFailure(`load certificate "${n}"`, certKey, value.reason));
        return;
      }
      const type = wrongTypes.get(certKey);
      if (type !== undefined) {
        const attempts = decodeAttempt(value?.value[1] ?? null);
        // An error, not `unreadable`: a run would issue a certificate the save then refuses to write over
        // the key (an ACME order spent on every run); the key must be fixed by hand first.
        results.set(n, {
          state: 'error',
          failure: wrongTypeError(this, `load certificate "${n}"`, certKey, type, 'string'),
          ...(attempts ? { attempts } : {}),
        });
        return;
      }
      results.set(n, this.decode(n, value?.value[0] ?? null, value?.value[1] ?? null));
    });
    if (failed.size > 0) throw new PartialLoadError(results, failed);
    return results;
  }

  /** The attempts files said to be unusable in this process (a run reads a certificate more than once). */
  private readonly toldUnusable = new Set<string>();

  private decode(name: string, value: string | null, attemptsValue: string | null): LoadResult {
    const attempts = decodeAttempt(attemptsValue);
    if (attempts === undefined && attemptsValue !== null && !this.toldUnusable.has(name)) {
      // As the filesystem store says a damaged attempts.json: the backoff is not silently reset.
      this.toldUnusable.add(name);
      this.context.logger.warn(
        `redis store "${this.name}": ${redisKeys.attempts(this.settings.keyPrefix, name)} is not a failed-attempt record: the failed attempts it recorded are not known, so no backoff applies (the next failure or success rewrites it)`,
      );
    }
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
   * One Lua script (SAVE_SCRIPT): checks the key types, pushes the current value to the history, trims it
   * to `keep`, SETs the new value — all or nothing; a wrongly typed key is STORE_CORRUPT naming it, and
   * nothing is written. The certificate and its key are one value, so a reader sees the old or the new
   * pair, never a mix.
   *
   * Replication: when the master has replicas (INFO replication; a Cluster: the node of the certificate's
   * slot), the save waits for one of them to acknowledge it (`WAIT 1 5000`; not when every replica has
   * been silent for over STALE_REPLICA_S; with Sentinel also when the master reports none connected, as
   * in a failover under way). When none does (or the WAIT fails), the save is not confirmed —
   * Redis replicates asynchronously and a failover now would lose it — and rejects with
   * STORE_WRITE_FAILED (transient) naming what was and was not confirmed: the caller then neither reports
   * it renewed nor runs hooks. The value stays on the master; the next run deploys it if it is still
   * there, or renews again.
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
    const what = `save certificate "${name}"`;
    const outcome = await this.connection.run(what, 'write', async (client) => {
      const replicas = await this.connectedReplicas(client, certKey);
      const reply = await client.eval(SAVE_SCRIPT, 2, certKey, historyKey, value, String(keep));
      if (Array.isArray(reply)) {
        const [key, type] = reply.map(String) as [string, string];
        return { wrongType: { key, type } };
      }
      // A single Redis or a Cluster master without replicas has no failover to lose it in. A Sentinel
      // master without a replica connected may be one a failover is taking over (it loses its replica
      // first, then becomes a replica itself and drops what it took meanwhile): waited for all the same,
      // as a replica (re)attaching may still acknowledge it.
      const expectReplica = this.settings.sentinel && replicas.known;
      if (replicas.connected === 0 && !expectReplica) return { unconfirmed: undefined };
      // Every replica silent for longer than a WAIT would last (hung, partitioned): not waited for.
      if (replicas.connected > 0 && replicas.responsive === 0) {
        return { unconfirmed: `no replica has acknowledged anything for over ${STALE_REPLICA_S} s` };
      }
      try {
        const acks = await waitForReplica(client, certKey);
        if (acks > 0) return { unconfirmed: undefined };
        return {
          unconfirmed:
            replicas.connected === 0
              ? `the master had no replica connected (a failover may be under way) and none acknowledged it within ${REPLICA_ACK_TIMEOUT_MS / 1000} s`
              : `no replica acknowledged it within ${REPLICA_ACK_TIMEOUT_MS / 1000} s`,
        };
      } catch (error) {
        // Written, but the WAIT failed (the master was demoted in a failover, the connection dropped).
        return { unconfirmed: `its replication could not be confirmed (WAIT: ${describeError(error)})` };
      }
    });
    if (outcome.wrongType) {
      const { key, type } = outcome.wrongType;
      throw wrongTypeError(this, what, key, type, key === certKey ? 'string' : 'list');
    }
    if (outcome.unconfirmed !== undefined) {
      throw new CertRenewError(
        ErrorCode.storeWrite,
        `redis store "${this.name}" (${this.settings.address}): certificate "${name}" (serial ${meta.serial}) was written to the master, but ${outcome.unconfirmed}: a failover now would lose it, so it is not reported renewed and no hooks ran`,
        {
          transient: true,
          hint: 'check the replicas with INFO replication (master_link_status, lag); the next run deploys it if the master kept it, or renews it again',
        },
      );
    }
    if (options.announce !== false) await this.announce('renewed', { ...meta, name });
  }

  /**
   * The replicas of the master that holds `key` (a Cluster: the node of its slot), from INFO replication:
   * `connected` (connected_slaves), `responsive` (of those, the ones heard from within STALE_REPLICA_S,
   * INFO `lag`; replicas acknowledge every second). None when INFO is not allowed (an ACL without
   * `+info`): warned once, and saves are then not confirmed on replicas (`known` false).
   */
  private async connectedReplicas(
    client: Client,
    key: string,
  ): Promise<{ connected: number; responsive: number; known: boolean }> {
    let info: string;
    try {
      info = String(await onKeysNode(client, key, ['INFO', 'replication']));
    } catch (error) {
      if (!/^NOPERM/.test(describeError(error))) throw error;
      if (!this.infoRefused) {
        this.infoRefused = true;
        this.context.logger.warn(
          `redis store "${this.name}": INFO is not allowed (${describeError(error)}): saves are not confirmed on replicas (WAIT); allow +info for this user`,
        );
      }
      return { connected: 0, responsive: 0, known: false };
    }
    const connected = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    // Not by `state`: a replica just synced is `online` on the master only after its first acknowledgement.
    const responsive = [...info.matchAll(/^slave\d+:.*(?:^|,)lag=(\d+)/gm)].filter(
      ([, lag]) => Number(lag) <= STALE_REPLICA_S,
    ).length;
    return { connected, responsive, known: true };
  }

  /** Moves the newest history entry back into `cert:{name}` in one Lua script (atomic, one slot). */
  async rollback(name: string, options?: RollbackOptions): Promise<boolean> {
    const { keyPrefix } = this.settings;
    const historyKey = redisKeys.history(keyPrefix, name);
    let expected: string[] = [];
    if (options?.usable) {
      const reading = `read the history of certificate "${name}"`;
      const newest = await this.connection.run(reading, 'read', (client) =>
        namingWrongType(client, this, reading, [[historyKey, 'list']], () => client.lindex(historyKey, 0)),
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
    const rolling = `roll back certificate "${name}"`;
    const restored = await this.connection.run(rolling, 'write', async (client) => {
      const reply = await namingWrongType(client, this, rolling, [[historyKey, 'list']], () =>
        client.eval(ROLLBACK_SCRIPT, 2, redisKeys.cert(keyPrefix, name), historyKey, ...expected),
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
    return appendRedisRevocation(this.connection, this, this.settings.keyPrefix, name, record);
  }

  revocations(names: readonly string[]): Promise<Map<string, RevocationRecord[]>> {
    return readRedisRevocations(this.connection, this.settings.keyPrefix, names, (key, type) =>
      this.context.logger.warn(
        `redis store "${this.name}": the revocation log is not read: ${wrongTypeText(key, type, 'list')}`,
      ),
    );
  }

  async listNames(except?: ReadonlySet<string>): Promise<string[]> {
    const names = await listRedisNames(this.connection, this.settings.keyPrefix);
    return except ? names.filter((n) => !except.has(n)) : names;
  }

  retire(name: string, _now: Date): Promise<RetireResult> {
    return retireRedis(this.connection, this.settings.keyPrefix, name);
  }

  loadDeployments(names: readonly string[]): Promise<Map<string, Deployments>> {
    return loadDeployments(this.connection, this, this.settings.keyPrefix, names);
  }

  recordDeployment(name: string, host: string, deployment: HostDeployment): Promise<void> {
    return recordDeployment(this.connection, this, this.settings.keyPrefix, name, host, deployment);
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
  blobLocation(key: string): string {
    return `the Redis key ${redisKeys.blob(this.settings.keyPrefix, key)}`;
  }

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
