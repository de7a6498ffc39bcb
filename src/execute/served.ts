/**
 * `verify`: is the stored certificate the one being served? Connects with TLS to each endpoint after the
 * hooks (and for `status --probe`) and compares the served leaf's SHA-256 fingerprint with the stored one.
 * Not to be confused with execute/verify.ts, which checks a newly issued certificate before it is stored.
 *
 * Trust is not the question here (the stored certificate was verified when it was issued), so the peer is
 * not validated: only its leaf is compared, byte for byte through its fingerprint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { VerifySettings } from '../manifest/types.js';
import { durationMs } from '../util/duration.js';
import { parseEndpoint } from '../util/endpoint.js';
import { ipVersion } from '../util/ip.js';

export const DEFAULT_VERIFY_TIMEOUT_MS = 5_000;
export const DEFAULT_VERIFY_RETRIES = 3;
/** Pause between attempts on one endpoint, ms (a server reloading gracefully serves the old leaf a moment). */
export const VERIFY_RETRY_DELAY_MS = 1_000;

/** What one endpoint served. */
export interface ServedCheck {
  endpoint: string;
  serverName: string;
  /** The served leaf is the stored certificate. */
  ok: boolean;
  /** The served leaf (absent when nothing could be read). */
  fingerprint?: string;
  serial?: string;
  /** Why not ok: another certificate is served, or the connection failed. One line. */
  error?: string;
  /** True when the endpoint could not be reached at all (no leaf read). */
  unreachable?: boolean;
}

/** One TLS handshake: the leaf served for `serverName`. Rejects with a one-line Error. */
async function servedLeaf(
  host: string,
  port: number,
  serverName: string,
  timeoutMs: number,
): Promise<{ fingerprint: string; serial: string }> {
  // Loaded when a certificate is verified, not by every run that could (node:tls and node:net, ~4 ms).
  const { connect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(ipVersion(serverName) ? {} : { servername: serverName }),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(false);
      socket.end();
      socket.destroy();
      if (!peer?.fingerprint256) reject(new Error('the server sent no certificate'));
      else resolve({ fingerprint: peer.fingerprint256.toUpperCase(), serial: peer.serialNumber });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(error.code ? `${error.code}: ${error.message.split('\n')[0]}` : error.message));
    });
  });
}

export interface ProbeOptions {
  signal?: AbortSignal;
  /** Pause between attempts, ms; default VERIFY_RETRY_DELAY_MS. */
  retryDelayMs?: number;
}

/**
 * Checks every endpoint of `settings` for the leaf with `fingerprint` (StoredMeta.fingerprint), retrying each
 * up to `retries` more times. SNI is `serverName`, else the first of `domains`. Never throws.
 */
export async function probeServed(
  settings: VerifySettings,
  domains: readonly string[],
  fingerprint: string,
  options: ProbeOptions = {},
): Promise<ServedCheck[]> {
  const serverName = settings.serverName ?? domains[0] ?? 'localhost';
  const timeoutMs = settings.timeout ? durationMs(settings.timeout) : DEFAULT_VERIFY_TIMEOUT_MS;
  const attempts = 1 + (settings.retries ?? DEFAULT_VERIFY_RETRIES);
  const wanted = fingerprint.toUpperCase();
  return Promise.all(
    settings.endpoints.map(async (endpoint): Promise<ServedCheck> => {
      const parsed = parseEndpoint(endpoint);
      if (!parsed) {
        return { endpoint, serverName, ok: false, unreachable: true, error: `${endpoint}: not host:port` };
      }
      const { host, port } = parsed;
      let last: ServedCheck = { endpoint, serverName, ok: false, error: 'not checked' };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (options.signal?.aborted) break;
        try {
          const leaf = await servedLeaf(host, port, serverName, timeoutMs);
          last = { endpoint, serverName, ok: leaf.fingerprint === wanted, ...leaf };
          if (last.ok) return last;
          last.error = `${endpoint} (SNI ${serverName}) serves serial ${leaf.serial}, not the stored certificate`;
        } catch (error) {
          last = {
            endpoint,
            serverName,
            ok: false,
            unreachable: true,
            error: `${endpoint} (SNI ${serverName}): ${(error as Error).message}`,
          };
        }
        if (attempt < attempts) {
          await sleep(options.retryDelayMs ?? VERIFY_RETRY_DELAY_MS, undefined, {
            ...(options.signal ? { signal: options.signal } : {}),
          }).catch(() => {});
        }
      }
      return last;
    }),
  );
}
