/**
 * The connection to one Redis, Sentinel set-up or Cluster (ioredis), apart from what the store keeps in it:
 * building the client from the manifest entry, connecting once and failing fast, a circuit breaker for a
 * lost connection, a time limit on every operation, and closing. `run` is the only way the store reaches
 * Redis; every failure leaves it as one CertRenewError line (errors.ts).
 *
 * Connections are opened on first use and fail fast: an unreachable Redis is one STORE_UNAVAILABLE line
 * naming the store and its address within seconds, never an endless retry or an unhandled 'error' event.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { CertRenewError, describeError, ErrorCode, ExitCode } from '../../errors.js';
import { redisUrlProblem } from '../../manifest/checks/stores.js';
import type { RedisStoreConfig } from '../../manifest/types.js';
import type { RuntimeContext } from '../../runtime/context.js';
import type { Logger } from '../../runtime/logger.js';
import { trackPending } from '../../runtime/pending.js';
import { ipVersion } from '../../util/ip.js';
import {
  type Access,
  commandError,
  connectionLostError,
  isTlsRefusal,
  type StoreLabel,
  unavailableError,
} from './errors.js';

const CONNECT_TIMEOUT_MS = 5000;
/**
 * A whole operation (one load, save, lock step) that gets no answer within this time fails. Measured here
 * with an unref'd timer: ioredis' own commandTimeout leaves timers behind that delay the exit.
 */
const OPERATION_TIMEOUT_MS = 20_000;
const RECONNECT_WAIT_MS = 3_000;
const FAIL_FAST_MS = 15_000;
/** Reconnection attempts a command waits through before it fails (about 0.6 s with the delays below). */
const MAX_RETRIES_PER_REQUEST = 2;

export type Client = Redis | Cluster;

/** A manifest entry that cannot work (exit code 2). */
export function invalid(message: string): CertRenewError {
  return new CertRenewError(ErrorCode.manifestInvalid, message, { exitCode: ExitCode.usage });
}

function nodesText(nodes: { host: string; port: number }[]): string {
  return nodes.map((n) => `${n.host}:${n.port}`).join(',');
}

/**
 * READONLY replies a Sentinel or Cluster connection reconnects on (and resends) within READONLY_WINDOW_MS
 * before it reports them (a failover takes one or two; a server that stays a replica, all of them).
 */
const READONLY_RECONNECTS = 3;
const READONLY_WINDOW_MS = 60_000;

/**
 * After a failover the old master answers READONLY: a Sentinel or Cluster connection reconnects (and finds
 * the new master) and resends, a few times; then the READONLY reply is the command's error. A plain `url`
 * never does: reconnecting reaches the same replica, and reconnect-and-resend without end only ended in
 * "no answer within 20 s" instead of the server's READONLY line.
 */
function readonlyReconnect(follows: boolean): RedisOptions['reconnectOnError'] {
  if (!follows) return () => false;
  let left = 0;
  let windowStart = Number.NEGATIVE_INFINITY;
  return (error) => {
    if (!error.message.startsWith('READONLY')) return false;
    const now = performance.now();
    if (now - windowStart > READONLY_WINDOW_MS) {
      windowStart = now;
      left = READONLY_RECONNECTS;
    }
    if (left <= 0) return false;
    left--;
    return 2;
  };
}

/**
 * Options shared by every kind of connection (a Cluster passes them to each node). `follows`: the address
 * can move to another server (Sentinel, Cluster), so a READONLY reply is worth a reconnection.
 */
function commonOptions(follows: boolean): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
    // ioredis waits this long for a closed socket's 'close' (2 s by default, which delays the exit).
    disconnectTimeout: 200,
    reconnectOnError: readonlyReconnect(follows),
  };
}

/** Builds the ioredis client (not yet connected) and the address to name in messages. */
export async function buildClient(
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
    // The same rules as validate; never echo the URL: it may carry a password.
    const problem = redisUrlProblem(config.url);
    if (problem) throw invalid(`store "${name}": url ${problem}`);
    const url = new URL(config.url);
    const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const options: RedisOptions = {
      ...commonOptions(false),
      host,
      port: url.port ? Number(url.port) : 6379,
      retryStrategy,
    };
    if (url.username) options.username = decodeURIComponent(url.username);
    if (url.password) options.password = decodeURIComponent(url.password);
    const db = url.pathname.replace(/^\//, '');
    if (db) options.db = Number(db);
    if (url.protocol === 'rediss:' || tls)
      options.tls = { ...(ipVersion(host) ? {} : { servername: host }), ...tls };
    Object.assign(options, auth);
    const address = `${url.protocol}//${url.host}${db ? `/${db}` : ''}`;
    return { client: new Redis(options), address };
  }

  if (config.sentinel !== undefined) {
    const options: RedisOptions = {
      ...commonOptions(true),
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
    // ioredis' own ready check (CLUSTER INFO) reconnects on cluster_state:fail and, once
    // clusterRetryStrategy gives up, leaves connect() pending for ever: an empty event loop then ended the
    // process with exit 0 and no output. RedisConnection checks the state itself, with a message.
    enableReadyCheck: false,
    clusterRetryStrategy: (times: number) => (times > 3 ? null : times * 200),
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    redisOptions: { ...commonOptions(true), ...auth, ...(tls ? { tls } : {}) },
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

/**
 * `work`, or a rejection "no answer within 20 s" after OPERATION_TIMEOUT_MS (`onTimeout` sees that message
 * first). The timer never keeps the process alive.
 */
function withinOperationTimeout<T>(work: Promise<T>, onTimeout?: (message: string) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const message = `no answer within ${OPERATION_TIMEOUT_MS / 1000} s`;
      onTimeout?.(message);
      reject(new Error(message));
    }, OPERATION_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** One client with its connection state; see the file header. */
export class RedisConnection {
  private connecting: Promise<void> | undefined;
  /** A connection refused for a reason that lasts (a cluster that is down), and until when to say it again. */
  private connectFailure: { error: CertRenewError; retryAt: number } | undefined;
  private connected = false;
  private closed = false;
  /** The last connection-level error ioredis reported, for messages about lost connections. */
  private lastConnectionError: string | undefined;
  private lastNodeError: string | undefined;
  /** Sentinels that answered but do not know the master name (nil or "ERR No such master"). */
  private readonly sentinelsWithoutMaster = new Set<string>();
  /**
   * Set when a command failed because the connection was lost, cleared when ioredis is ready again: until
   * then further commands fail at once instead of each waiting through its own reconnection attempts (a
   * dead Redis would otherwise cost seconds per certificate).
   */
  private lostConnection: string | undefined;
  /** One wait for the reconnection shared by every command; after it fails, commands fail at once for a while. */
  private reconnectProbe: Promise<boolean> | undefined;
  private failFastUntil = 0;

  constructor(
    readonly client: Client,
    private readonly label: StoreLabel,
    logger: Logger,
  ) {
    const name = label.name;
    client.on('error', (error: Error) => {
      const text = describeError(error);
      logger.debug(`redis store "${name}": ${text}`);
      // A TLS refusal stays the reason until connected: the next attempt's ECONNRESET says less.
      const last = this.lastConnectionError;
      if (last !== undefined && isTlsRefusal(last) && !isTlsRefusal(text)) return;
      this.lastConnectionError = text;
    });
    // Cluster: the error of one node ("connect ECONNREFUSED …") says more than "Failed to refresh slots cache".
    client.on('node error', (error: Error, address: string) => {
      this.lastNodeError = `${address}: ${describeError(error)}`;
      logger.debug(`redis store "${name}": node ${this.lastNodeError}`);
    });
    // Sentinel: a sentinel that does not monitor the name answers SENTINEL get-master-addr-by-name with nil
    // or (SENTINEL sentinels, Redis 7) "ERR No such master with that name".
    client.on('sentinelError', (error: Error) => {
      const unknown =
        /^connected to sentinel (\S+) successfully, but got an invalid reply: null/.exec(error.message) ??
        /^failed to connect to sentinel (\S+) because ERR No such master/.exec(error.message);
      if (unknown?.[1]) this.sentinelsWithoutMaster.add(unknown[1]);
      logger.debug(`redis store "${name}": ${describeError(error)}`);
    });
    client.on('ready', () => {
      this.lostConnection = undefined;
      this.lastConnectionError = undefined;
      this.lastNodeError = undefined;
    });
  }

  /**
   * Runs commands on a connected client, within OPERATION_TIMEOUT_MS; any failure becomes one
   * CertRenewError line (STORE_UNAVAILABLE, or STORE_WRITE_FAILED for a refused write).
   */
  run<T>(what: string, access: Access, action: (client: Client) => Promise<T>): Promise<T> {
    return trackPending(
      `redis store "${this.label.name}" (${this.label.address}): ${what}`,
      this.runTracked(what, access, action),
    );
  }

  private async runTracked<T>(
    what: string,
    access: Access,
    action: (client: Client) => Promise<T>,
  ): Promise<T> {
    await this.ensureConnected();
    if (
      this.lostConnection !== undefined &&
      this.client.status !== 'ready' &&
      !(await this.awaitReconnect())
    ) {
      throw connectionLostError(this.label, what, this.lostConnection);
    }
    try {
      return await withinOperationTimeout(action(this.client));
    } catch (error) {
      const mapped = commandError(this.label, what, access, error, this.lastConnectionError);
      if (mapped.lost !== undefined) this.lostConnection = mapped.lost;
      throw mapped.error;
    }
  }

  /**
   * The one-line CertRenewError for a read of `key` (`what`: "load certificate \"web\"") that failed with
   * `error`, as `run` makes it, naming the Cluster node serving the key's slot (as ioredis last learnt it):
   * for callers that let some reads of a batch fail (a Cluster node down: `loadMany`, `loadDeployments`).
   */
  keyFailure(what: string, key: string, error: unknown): CertRenewError {
    const node = this.client instanceof Cluster ? this.client.slots[calculateSlot(key)]?.[0] : undefined;
    return commandError(
      this.label,
      `${what}${node ? ` from node ${node}` : ''}`,
      'read',
      error,
      this.lastConnectionError,
    ).error;
  }

  /** Quits cleanly (QUIT, then a hard disconnect if Redis does not answer within a second). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
    if (this.closed) return Promise.reject(unavailableError(this.label, 'the store was closed'));
    if (this.connectFailure && performance.now() < this.connectFailure.retryAt)
      return Promise.reject(this.connectFailure.error);
    this.connecting ??= this.connectWithin().then(
      () => {
        this.connected = true;
      },
      (error: unknown) => {
        // connect() rejects with "Connection is closed."; the 'error' event said why.
        if (error instanceof CertRenewError) {
          // A cluster that is down answers the same for a while: later commands of this run fail at once
          // with the same line (another connect would only end in "no cluster node answered").
          this.client.disconnect();
          const retryAt = performance.now() + FAIL_FAST_MS;
          const rejected = Promise.reject(error);
          rejected.catch(() => undefined);
          this.connecting = undefined;
          this.connectFailure = { error, retryAt };
          return rejected;
        }
        this.connecting = undefined;
        let main = this.lastConnectionError ?? describeError(error);
        if (/^All sentinels are unreachable/.test(main)) {
          const answered = [...this.sentinelsWithoutMaster];
          this.sentinelsWithoutMaster.clear();
          if (answered.length > 0) {
            this.client.disconnect();
            throw unavailableError(
              this.label,
              `the sentinels answered (${answered.join(', ')}) but do not know master "${this.masterName()}" (SENTINEL get-master-addr-by-name: no such master)`,
              error,
              'check the store\'s sentinel.name: it must be the name the sentinels monitor ("sentinel monitor NAME …")',
            );
          }
          main = 'no sentinel answered';
        }
        if (/^(Failed to refresh slots cache|None of startup nodes)/.test(main))
          main = 'no cluster node answered';
        const node = this.lastNodeError;
        const detail =
          node && !/Connection is closed/.test(node) && !main.includes(node) ? `${main} (${node})` : main;
        this.client.disconnect();
        throw unavailableError(this.label, detail, error);
      },
    );
    return this.connecting;
  }

  /**
   * `connect()` within OPERATION_TIMEOUT_MS, like any operation. ioredis' connectTimeout covers only the
   * TCP handshake: a Redis that accepts the connection but does not answer (stopped, blocked by DEBUG SLEEP
   * or a long script, a proxy whose backend is gone) would leave the login and the ready check waiting for
   * ever.
   */
  private connectWithin(): Promise<void> {
    const client = this.client;
    let onEnd: (() => void) | undefined;
    // A client that gives up reconnecting ('end') settles the wait too: ioredis may leave connect() pending.
    const ended = new Promise<never>((_, reject) => {
      onEnd = () => reject(new Error(this.lastConnectionError ?? 'Connection is closed.'));
      client.once('end', onEnd);
    });
    const connected = (async () => {
      await Promise.race([client.connect(), ended]);
      if (client instanceof Cluster) await this.checkClusterState(client);
    })();
    return withinOperationTimeout(connected, (message) => {
      this.lastConnectionError = message;
    }).finally(() => {
      if (onEnd) client.off('end', onEnd);
      ended.catch(() => undefined);
    });
  }

  /**
   * CLUSTER INFO from the first master that answers; throws STORE_UNAVAILABLE when its cluster_state is not
   * ok (a master without a live replica is gone and `cluster-require-full-coverage` is yes: every node
   * refuses every command with CLUSTERDOWN). A cluster in state ok with some slots uncovered is accepted:
   * the certificates on live nodes can be read (`loadMany`).
   */
  private async checkClusterState(client: Cluster): Promise<void> {
    const failures: string[] = [];
    for (const node of client.nodes('master')) {
      const where = `${node.options.host}:${node.options.port}`;
      let info: string;
      try {
        info = String(await node.cluster('INFO'));
      } catch (error) {
        failures.push(`${where}: ${describeError(error)}`);
        continue;
      }
      const state = /^cluster_state:(\S+)/m.exec(info)?.[1];
      if (state === undefined || state === 'ok') return;
      const down =
        failures.length > 0
          ? `; ${failures.join('; ')}`
          : this.lastNodeError
            ? `; node ${this.lastNodeError}`
            : '';
      throw unavailableError(
        this.label,
        `the cluster is down: ${where} says cluster_state:${state} (hash slots without a live master${down})`,
        undefined,
        'check the cluster (redis-cli --cluster check, CLUSTER NODES): a failed master needs a replica to fail over to, or to come back; the next run retries',
      );
    }
    if (failures.length > 0)
      throw new Error(`no cluster node answered CLUSTER INFO (${failures.join('; ')})`);
  }

  /** The Sentinel master name, for messages. */
  private masterName(): string {
    return (this.client as Redis).options.name ?? '';
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
}
