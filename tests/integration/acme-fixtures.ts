/**
 * Shared set-up for the ACME issuer tests against Pebble: a runtime context, a filesystem store, a
 * resolved certificate, and one call of `issue()` with a fresh key and CSR.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AcmeIssuer, AcmeIssuerOptions } from '../../src/issuers/acme/issuer.js';
import type { IssueResult } from '../../src/issuers/types.js';
import { readSecret } from '../../src/manifest/secrets.js';
import type { AcmeIssuerConfig, Challenge, KeyType, ResolvedCertificate } from '../../src/manifest/types.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { createLogger, type Logger, silentLogger } from '../../src/runtime/logger.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import type { Store } from '../../src/stores/types.js';
import { createCsr } from '../../src/x509/build.js';
import { verifyChain } from '../../src/x509/chain.js';
import { generateKey } from '../../src/x509/keys.js';

/** Retries fast in tests (the production policy waits 1 s, 2 s, 4 s …). */
export const FAST: AcmeIssuerOptions = {
  retry: { initialDelayMs: 20, maxDelayMs: 200, maxAttempts: 4 },
  poll: { initialMs: 50, maxMs: 500, timeoutMs: 30_000 },
};

export function makeContext(
  baseDir: string,
  options: { env?: Record<string, string>; stores?: Map<string, Store> } = {},
): RuntimeContext {
  const env = { PATH: process.env.PATH, ...options.env };
  const context: RuntimeContext = {
    clock: systemClock,
    logger: silentLogger,
    env,
    baseDir,
    hostname: 'test-host',
    pid: process.pid,
    readSecret: (ref) => readSecret(ref, env, baseDir),
    getStore: async (name) => {
      const store = options.stores?.get(name);
      if (!store) throw new Error(`no store ${name} in this test`);
      return store;
    },
  };
  return context;
}

export function filesystemStore(context: RuntimeContext, path: string): FilesystemStore {
  return new FilesystemStore('files', { type: 'filesystem', path }, context);
}

export function resolved(
  name: string,
  domains: string[],
  issuer: AcmeIssuerConfig,
  options: { keyType?: KeyType; challenge?: Challenge } = {},
): ResolvedCertificate {
  return {
    index: 0,
    name,
    domains,
    issuerName: 'pebble',
    issuer,
    storeName: 'files',
    store: { type: 'filesystem', path: 'store' },
    keyType: options.keyType ?? 'ecdsa-p256',
    reuseKey: undefined,
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
    ...(options.challenge ? { challenge: options.challenge } : {}),
  };
}

export interface Issued extends IssueResult {
  keyPem: string;
}

export async function issueOne(
  issuer: AcmeIssuer,
  store: Store,
  cert: ResolvedCertificate,
  options: { timeoutMs?: number; logger?: Logger } = {},
): Promise<Issued> {
  const keyPem = await generateKey(cert.keyType);
  const csrPem = await createCsr(keyPem, cert.domains);
  const result = await issuer.issue({
    entry: cert,
    keyPem,
    csrPem,
    current: undefined,
    store,
    now: new Date(),
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    logger: options.logger ?? silentLogger,
  });
  return { ...result, keyPem };
}

/** The SAN DNS names of a PEM certificate, sorted. */
export function dnsNames(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
    .sort();
}

/** Throws unless the chain verifies up to one of Pebble's roots. */
export function assertChainVerifies(result: IssueResult, rootsPem: string): void {
  const verdict = verifyChain(result.certPem, result.chainPem, [rootsPem], new Date());
  if (!verdict.ok) throw new Error(`chain does not verify: ${verdict.reason}`);
}

/** A tiny static server for `/.well-known/acme-challenge/<file>` out of `webroot` on 127.0.0.1:port. */
export async function serveWebroot(webroot: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    try {
      if (!match) throw new Error('not found');
      const body = await readFile(join(webroot, match[1] as string));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** A proxy that answers challenges from Redis (`challenge:<token>`), as the Redis variant expects. */
export async function serveFromRedis(
  get: (key: string) => Promise<string | null>,
  port: number,
): Promise<Server> {
  const server = createServer(async (req, res) => {
    const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const value = match ? await get(`challenge:${match[1]}`).catch(() => null) : null;
    if (value === null) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

export function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A debug logger that keeps its lines. */
export function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(
    createLogger((line) => lines.push(line), 'debug'),
    { lines },
  );
}
