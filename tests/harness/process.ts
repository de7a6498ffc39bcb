/**
 * Shared pieces of the test-server harness: free ports, temporary directories, and child processes that
 * are always stopped (the test's `after`, and a last-resort kill when the test process exits).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * The kernel's ephemeral range (`ip_local_port_range`), from which it picks both `listen(0)` ports and the
 * source ports of outgoing TCP connections and UDP queries. A port taken from that range and handed to a
 * server a moment later can meanwhile become some other test's source port, so test servers get theirs
 * from outside it.
 */
async function ephemeralRange(): Promise<[number, number]> {
  try {
    const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // not Linux: assume the IANA dynamic range
  }
  return [49152, 65535];
}

/** Ports this process has handed out, never handed out twice. */
const handedOut = new Set<number>();

/** True when 127.0.0.1:port can be bound for TCP and for UDP (DNS servers need both) right now. */
async function bindable(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolve) => {
    const socket = createSocket('udp4');
    socket.unref();
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 that nobody listens on (TCP or UDP) right now, chosen at random outside the
 * kernel's ephemeral range so that no outgoing connection takes it before the server binds it. Parallel
 * test files can still, rarely, pick the same one: harnesses start their servers through
 * {@link retryOnPortClash}.
 */
export async function freePort(): Promise<number> {
  const [low, high] = await ephemeralRange();
  // The larger stretch outside the ephemeral range, above the well-known/registered ports most daemons use.
  const below: [number, number] = [10_000, low - 1];
  const above: [number, number] = [high + 1, 65_535];
  const [from, to] = below[1] - below[0] >= above[1] - above[0] ? below : above;
  if (to - from >= 1000) {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const port = from + Math.floor(Math.random() * (to - from + 1));
      if (handedOut.has(port)) continue;
      if (await bindable(port)) {
        handedOut.add(port);
        return port;
      }
    }
  }
  // No room outside the ephemeral range: the kernel's choice.
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => {
          if (address && typeof address === 'object') resolve(address.port);
          else reject(new Error('no port'));
        });
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** What servers print when a port they were given is taken (Go, redis, nginx, BIND, PowerDNS). */
const PORT_CLASH = /address already in use|EADDRINUSE|address in use|could not bind|unable to bind/i;

/**
 * Runs `start` (which picks its ports with {@link freePort}) again, with new ports, when the server it
 * starts fails because one of them was taken in between; up to `attempts` times. Other failures are
 * thrown at once.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts || !PORT_CLASH.test(error instanceof Error ? error.message : String(error)))
        throw error;
    }
  }
}

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

export async function tempDir(prefix = 'cert-renew-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash). */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Resolves true when the server (process `pid`) is ready; polled until `timeoutMs` (a hang guard; default
   * 60 s). Prefer a check that only this server can pass ({@link listensOn}, an answer only it gives): a
   * mere connection can be accepted by another test's server that took the same port.
   */
  ready: (pid: number) => Promise<boolean>;
  timeoutMs?: number;
  name?: string;
}

/** The last three non-empty lines of a server's output, joined with ` | `. */
function lastLines(out: string): string {
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-3)
    .join(' | ');
}

/** Starts a server in its own process group and waits until `ready` says so. */
export async function startServer(
  command: string,
  args: string[],
  options: StartOptions,
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
    child.on('error', (error) => {
      out += `\nspawn error: ${error.message}`;
      running.delete(child);
      resolve(null);
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const server: ServerProcess = {
    child,
    output: () => out,
    exited,
    stop: async (graceMs = 5000) => {
      if (gone) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill: async () => {
      if (gone) return;
      signal('SIGKILL');
      await exited;
    },
  };
  // A hang guard, not a speed check: a server that loses a race for two busy cores may take many seconds.
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const name = options.name ?? command;
  for (;;) {
    // The last lines first: they say why (a port taken, a bad config) and survive a truncated log.
    if (gone) throw new Error(`${name} exited before it was ready: ${lastLines(out)}\n${out}`);
    try {
      if (child.pid !== undefined && (await options.ready(child.pid))) return server;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${name} was not ready in time: ${lastLines(out)}\n${out}`);
    }
    await sleep(50);
  }
}

/**
 * True when process `pid` itself has a TCP socket listening on `port` (any address), read from /proc (the
 * socket inodes among its file descriptors, matched in /proc/net/tcp and tcp6). Unlike a connection test, no
 * other process holding the port (a parallel test's server after a port clash) can make it true.
 */
export async function listensOn(pid: number, port: number): Promise<boolean> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const listening = fields[3] === '0A';
      if (listening && fields[1]?.endsWith(hexPort) && inodes.has(fields[9] ?? '')) return true;
    }
  }
  return false;
}

/** True when something accepts TCP connections on host:port. */
export async function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion (no shell) and returns its output; rejects with the command line, exit
 * status and stderr when it fails or outlives `timeoutMs` (a hang guard; default 2 minutes).
 */
export async function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<CommandResult> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error) {
          const status = error.code ?? error.signal ?? 'unknown';
          reject(new Error(`${command} ${args.join(' ')} failed (${status}): ${String(stderr).trim()}`));
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Alive unless gone from /proc or a zombie (an orphan's zombie may never be reaped in a container). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Whether the process is gone within a generous minute (a hang guard: a busy machine never fails it). */
export async function processGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if (!(await processAlive(pid))) return true;
    await sleep(100);
  }
  return false;
}

/** The trimmed text of `path` once something was written to it (within a minute; throws otherwise). */
export async function readWhenWritten(path: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const text = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (text !== '') return text;
    await sleep(100);
  }
  throw new Error(`${path} never appeared`);
}
