/**
 * http-01 standalone: a short-lived HTTP listener on the configured address that answers only
 * `GET /.well-known/acme-challenge/<token>` for tokens of orders in progress. One listener per address
 * is shared by every order running at the same time in this process (several certificates issued
 * concurrently on port 80 cannot each bind it); it closes when the last order is done.
 */
import { createServer, type Server } from 'node:http';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import { ipVersion } from '../../../util/ip.js';
import type { ChallengeSolver, ChallengeTask, SolverContext } from './types.js';

const PREFIX = '/.well-known/acme-challenge/';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `0.0.0.0:80`, `[::]:80`, `127.0.0.1:8080`, `:80` (all interfaces). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && ipVersion(host) !== 6) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

interface Listener {
  server: Server;
  tokens: Map<string, string>;
  users: number;
  ready: Promise<void>;
}

const listeners = new Map<string, Listener>();

function keyOf(address: ListenAddress): string {
  return `${address.host}|${address.port}`;
}

function bindError(address: ListenAddress, error: unknown): CertRenewError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new CertRenewError(
    ErrorCode.challengeFailed,
    `cannot listen on ${address.host}:${address.port} for http-01 (${code})`,
    {
      cause: error,
      hint:
        code === 'EACCES'
          ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
          : 'another server holds the port: use webroot instead, or stop it during renewal',
    },
  );
}

async function acquire(address: ListenAddress): Promise<Listener> {
  const key = keyOf(address);
  let listener = listeners.get(key);
  if (!listener) {
    const tokens = new Map<string, string>();
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const value =
        req.method === 'GET' && path.startsWith(PREFIX) ? tokens.get(path.slice(PREFIX.length)) : undefined;
      if (value === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
    });
    const ready = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    listener = { server, tokens, users: 0, ready };
    listeners.set(key, listener);
    ready.catch(() => {
      if (listeners.get(key) === listener) listeners.delete(key);
    });
  }
  listener.users++;
  try {
    await listener.ready;
  } catch (error) {
    listener.users--;
    throw bindError(address, error);
  }
  return listener;
}

async function release(address: ListenAddress, listener: Listener): Promise<void> {
  listener.users--;
  if (listener.users > 0) return;
  if (listeners.get(keyOf(address)) === listener) listeners.delete(keyOf(address));
  await new Promise<void>((resolve) => {
    listener.server.close(() => resolve());
    listener.server.closeAllConnections();
  });
}

export class StandaloneSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  readonly description: string;
  readonly failureHint: string;
  private readonly address: ListenAddress;
  private listener: Listener | undefined;

  constructor(text: string, _context: SolverContext) {
    const address = parseListenAddress(text);
    if (!address) {
      throw new CertRenewError(
        ErrorCode.manifestInvalid,
        `http-01 standalone address ${JSON.stringify(text)} is not host:port`,
      );
    }
    this.address = address;
    this.description = `http-01 standalone on ${text}`;
    this.failureHint = `make sure port 80 of every domain reaches ${text} on this host`;
  }

  async open(): Promise<void> {
    if (!this.listener) this.listener = await acquire(this.address);
  }

  async present(task: ChallengeTask): Promise<void> {
    await this.open();
    this.listener?.tokens.set(task.token, task.value);
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    this.listener?.tokens.delete(task.token);
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await release(this.address, listener);
  }

  async check(): Promise<string> {
    const key = keyOf(this.address);
    if (listeners.has(key)) return `${this.description}: already listening`;
    const listener = await acquire(this.address);
    await release(this.address, listener);
    return `${this.description}: address can be bound`;
  }
}
