/**
 * Real redis-server processes for the tests: a single server, a three-master cluster, and a master +
 * replica watched by three sentinels. Everything binds 127.0.0.1 on free ports (never 6379: a system
 * service may hold it) and lives in a temporary directory removed by `stop()`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort,
  retryOnPortClash,
  runCommand,
  type ServerProcess,
  startServer,
  type TempDir,
  tempDir,
} from './process.js';

export interface RedisServer {
  port: number;
  host: '127.0.0.1';
  /** `redis://127.0.0.1:PORT` (with the password in it when one is set). */
  url: string;
  dir: string;
  password?: string;
  /** Runs `redis-cli -h 127.0.0.1 -p PORT ARGS…` and returns its output without the final newline. */
  cli(...args: string[]): Promise<string>;
  /** Everything the server printed (for failure messages). */
  output(): string;
  /**
   * SIGTERM and wait, then removes the data directory (unless the server belongs to a cluster or
   * sentinel group, whose `stop()` removes it). Final: to bring a server back, use `kill()` or just
   * `restart()`.
   */
  stop(): Promise<void>;
  /** SIGKILL, for fault tests; the data directory stays so `restart()` can follow. */
  kill(): Promise<void>;
  /** Stops the server if it runs, then starts it again on the same port with the same data directory. */
  restart(): Promise<void>;
}

export interface RedisOptions {
  /** Extra redis-server arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  password?: string;
}

export interface RedisNode {
  host: '127.0.0.1';
  port: number;
}

export interface RedisCluster {
  nodes: RedisNode[];
  servers: RedisServer[];
  stop(): Promise<void>;
}

export interface RedisSentinel {
  sentinels: RedisNode[];
  masterName: string;
  /** The current master: after `failover()` this is the former replica. */
  master: RedisServer;
  /** The current replica: after `failover()` this is the former master. */
  replica: RedisServer;
  /** Runs `redis-cli` against sentinel `index` (default 0). */
  sentinelCli(index: number, ...args: string[]): Promise<string>;
  /** SENTINEL FAILOVER, then waits until every sentinel names the former replica as master. */
  failover(): Promise<void>;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await sleep(100);
  }
}

function cliFor(port: number, password?: string): (...args: string[]) => Promise<string> {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  return async (...args) => {
    const { stdout } = await runCommand('redis-cli', ['-h', HOST, '-p', String(port), ...auth, ...args]);
    return stdout.replace(/\n$/, '');
  };
}

/**
 * One readiness probe: PING answered with PONG. Bounded at 5 s, because startServer asks again: something
 * else that holds the port (a clash) and never answers must not stall the poll that notices the server died.
 */
async function pongs(port: number, password?: string): Promise<boolean> {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  const { stdout } = await runCommand('redis-cli', ['-h', HOST, '-p', String(port), ...auth, 'PING'], {
    timeoutMs: 5_000,
  });
  return stdout.trim() === 'PONG';
}

/** Starts redis-server on `port` with `args`; `stop()` removes `dir` only when it is a TempDir. */
async function launch(
  port: number,
  dir: TempDir | string,
  args: string[],
  password: string | undefined,
  name: string,
): Promise<RedisServer> {
  const path = typeof dir === 'string' ? dir : dir.path;
  const cli = cliFor(port, password);
  const argv = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    path,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...(password === undefined ? [] : ['--requirepass', password]),
    ...args,
  ];
  const start = () =>
    startServer('redis-server', argv, {
      name,
      cwd: path,
      ready: () => pongs(port, password),
    });
  let child: ServerProcess = await start();
  let removed = false;
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  const server: RedisServer = {
    port,
    host: HOST,
    url: `redis://${auth}${HOST}:${port}`,
    dir: path,
    ...(password === undefined ? {} : { password }),
    cli,
    output: () => child.output(),
    stop: async () => {
      await child.stop();
      if (typeof dir !== 'string') {
        removed = true;
        await dir.remove();
      }
    },
    kill: () => child.kill(),
    restart: async () => {
      if (removed)
        throw new Error(`${name} on port ${port} was stopped for good; use kill() before restart()`);
      await child.stop();
      child = await start();
    },
  };
  return server;
}

/** One redis-server without persistence, in its own temporary directory. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  return retryOnPortClash(() => startRedisOnce(options));
}

async function startRedisOnce(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await tempDir('cert-renew-redis-');
  try {
    return await launch(await freePort(), dir, options.args ?? [], options.password, 'redis-server');
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

async function stopAll(servers: { stop(): Promise<void> }[], dir: TempDir): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.stop()));
  await dir.remove();
}

/** Three masters with `--cluster-enabled yes`, joined by `redis-cli --cluster create`, state ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  return retryOnPortClash(() => startRedisClusterOnce());
}

async function startRedisClusterOnce(): Promise<RedisCluster> {
  const dir = await tempDir('cert-renew-redis-cluster-');
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const nodeDir = join(dir.path, `node${i}`);
      await mkdir(nodeDir);
      const args = [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(nodeDir, 'nodes.conf'),
        // The bus defaults to port + 10000, which may be taken or out of range.
        '--cluster-port',
        String(await freePort()),
        '--cluster-node-timeout',
        '2000',
      ];
      servers.push(
        await launch(await freePort(), nodeDir, args, undefined, `redis-server (cluster node ${i})`),
      );
    }
    await runCommand(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((s) => `${HOST}:${s.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeoutMs: 120_000 },
    );
    for (const server of servers) {
      await until(`cluster_state:ok on port ${server.port}`, async () =>
        (await server.cli('CLUSTER', 'INFO')).includes('cluster_state:ok'),
      );
    }
  } catch (error) {
    await stopAll(servers, dir);
    throw error;
  }
  return {
    nodes: servers.map((s) => ({ host: HOST, port: s.port })),
    servers,
    stop: () => stopAll(servers, dir),
  };
}

/** The port of the master a sentinel currently names. */
async function masterPort(cli: (...args: string[]) => Promise<string>, masterName: string): Promise<number> {
  const [, port] = (await cli('SENTINEL', 'get-master-addr-by-name', masterName)).split('\n');
  return Number(port);
}

/**
 * A master, one replica and three sentinels (`sentinel monitor NAME 127.0.0.1 PORT 2`, short timeouts),
 * ready when the replica is in sync and every sentinel knows the replica and the two other sentinels.
 */
export async function startRedisSentinel(options: { masterName?: string } = {}): Promise<RedisSentinel> {
  return retryOnPortClash(() => startRedisSentinelOnce(options));
}

async function startRedisSentinelOnce(options: { masterName?: string } = {}): Promise<RedisSentinel> {
  const masterName = options.masterName ?? 'mymaster';
  const dir = await tempDir('cert-renew-redis-sentinel-');
  const servers: RedisServer[] = [];
  try {
    for (const role of ['master', 'replica']) {
      const nodeDir = join(dir.path, role);
      await mkdir(nodeDir);
      // Full syncs start at once instead of after the default five-second diskless delay.
      const args = ['--repl-diskless-sync-delay', '0'];
      if (role === 'replica') args.push('--replicaof', HOST, String(servers[0]!.port));
      servers.push(await launch(await freePort(), nodeDir, args, undefined, `redis-server (${role})`));
    }
    const [master, replica] = servers as [RedisServer, RedisServer];
    await until('the replica to sync', async () =>
      (await replica.cli('INFO', 'replication')).includes('master_link_status:up'),
    );
    for (let i = 0; i < 3; i++) {
      const sentinelDir = join(dir.path, `sentinel${i}`);
      await mkdir(sentinelDir);
      const port = await freePort();
      const confPath = join(sentinelDir, 'sentinel.conf');
      await writeFile(
        confPath,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${sentinelDir}`,
          `sentinel monitor ${masterName} ${HOST} ${master.port} 2`,
          // Failovers here are asked for (SENTINEL FAILOVER); a master that is slow to answer on a busy
          // machine must not be voted down, nor a slow promotion abort the failover.
          `sentinel down-after-milliseconds ${masterName} 30000`,
          `sentinel failover-timeout ${masterName} 60000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const cli = cliFor(port);
      const child = await startServer('redis-server', [confPath, '--sentinel'], {
        name: `redis-sentinel ${i}`,
        cwd: sentinelDir,
        ready: () => pongs(port),
      });
      servers.push({
        port,
        host: HOST,
        url: `redis://${HOST}:${port}`,
        dir: sentinelDir,
        cli,
        output: () => child.output(),
        stop: () => child.stop(),
        kill: () => child.kill(),
        restart: () => Promise.reject(new Error('restarting a sentinel is not supported')),
      });
    }
    const sentinels = servers.slice(2);
    for (const sentinel of sentinels) {
      await until(`sentinel ${sentinel.port} to know the replica and its peers`, async () => {
        const replicas = await sentinel.cli('SENTINEL', 'replicas', masterName);
        const peers = await sentinel.cli('SENTINEL', 'sentinels', masterName);
        return (
          replicas.includes(String(replica.port)) &&
          sentinels.every((s) => s === sentinel || peers.includes(String(s.port)))
        );
      });
    }
  } catch (error) {
    await stopAll(servers, dir);
    throw error;
  }
  const sentinels = servers.slice(2);
  const group: RedisSentinel = {
    sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
    masterName,
    master: servers[0]!,
    replica: servers[1]!,
    sentinelCli: (index, ...args) => {
      const sentinel = sentinels[index];
      if (!sentinel) throw new Error(`no sentinel ${index}`);
      return sentinel.cli(...args);
    },
    failover: async () => {
      const next = group.replica;
      const previous = group.master;
      const first = sentinels[0]!;
      // NOGOODSLAVE until the sentinel has fresh INFO from the replica; INPROG while one runs.
      await until('SENTINEL FAILOVER to be accepted', async () => {
        const answer = await first.cli('SENTINEL', 'FAILOVER', masterName);
        return answer === 'OK';
      });
      for (const sentinel of sentinels) {
        await until(`sentinel ${sentinel.port} to name port ${next.port} as master`, async () => {
          return (await masterPort(sentinel.cli, masterName)) === next.port;
        });
      }
      await until(`port ${next.port} to be a master`, async () =>
        (await next.cli('INFO', 'replication')).includes('role:master'),
      );
      // Sentinel turns the old master into a replica only at its next INFO round (up to ten seconds);
      // do now what it would do then.
      await previous.cli('REPLICAOF', HOST, String(next.port));
      await until(`port ${previous.port} to replicate from port ${next.port}`, async () => {
        const info = await previous.cli('INFO', 'replication');
        return info.includes(`master_port:${next.port}`) && info.includes('master_link_status:up');
      });
      group.master = next;
      group.replica = previous;
    },
    stop: () => stopAll(servers, dir),
  };
  return group;
}
