/**
 * An HTTPS server that answers an ACME directory with `renewalInfo` and the renewalInfo GETs (RFC 9773 §4),
 * for tests and benchmarks of renewal information: Pebble 2.4 has no renewalInfo (shared notes), so this
 * serves the one resource it lacks. It issues nothing (newNonce, newAccount and newOrder answer 404), and it
 * checks what a CA would: the identifier must be `base64url(AKI).base64url(serial)`, else 400. It counts the
 * requests, so a test proves how many were sent rather than assuming it.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, createLeaf } from './tls.js';

export interface AriServerOptions {
  /** The suggested window starts this many days from now and lasts one day (default 60). */
  windowStartDays?: number;
  /** The Retry-After header sent with each renewalInfo answer; undefined sends none (default '21600'). */
  retryAfter?: string | undefined;
  /** Answer this resource with 503 Service Unavailable (a CA that is down or overloaded). */
  unavailable?: 'directory' | 'renewalInfo' | undefined;
  /** A directory without `renewalInfo` (a CA that offers none, as Pebble 2.4). */
  noRenewalInfo?: boolean;
}

export interface AriServer {
  directoryUrl: string;
  /** The CA certificate the server's TLS certificate chains to (a manifest's `caBundle`). */
  caBundlePath: string;
  counts: { directory: number; renewalInfo: number; other: number };
  /** The identifiers asked, in order. */
  asked: string[];
  /** What the next answers say; change it between runs. */
  options: AriServerOptions;
  close(): Promise<void>;
}

const IDENTIFIER = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Starts the server on 127.0.0.1 (a free port), its CA and TLS certificate made in `dir`. */
export async function startAriServer(dir: string, options: AriServerOptions = {}): Promise<AriServer> {
  const ca = await createCa(dir, { name: 'ari-ca', commonName: 'cert-renew test ARI CA' });
  const leaf = await createLeaf(ca, dir, { names: ['127.0.0.1'], name: 'ari-server' });
  const counts = { directory: 0, renewalInfo: 0, other: 0 };
  const asked: string[] = [];
  const state: AriServerOptions = { windowStartDays: 60, retryAfter: '21600', ...options };
  let base = '';
  const server = createServer(
    { cert: await readFile(leaf.fullchainPath), key: await readFile(leaf.keyPath) },
    (req, res) => {
      const url = req.url ?? '/';
      if (req.method === 'GET' && url === '/dir') {
        counts.directory++;
        if (state.unavailable === 'directory') {
          res.writeHead(503);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            newNonce: `${base}/nonce`,
            newAccount: `${base}/account`,
            newOrder: `${base}/order`,
            ...(state.noRenewalInfo ? {} : { renewalInfo: `${base}/renewal-info` }),
          }),
        );
        return;
      }
      if (req.method === 'GET' && url.startsWith('/renewal-info/')) {
        counts.renewalInfo++;
        const identifier = url.slice('/renewal-info/'.length);
        asked.push(identifier);
        if (state.unavailable === 'renewalInfo') {
          res.writeHead(503);
          res.end();
          return;
        }
        if (!IDENTIFIER.test(identifier)) {
          res.writeHead(400, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'bad identifier' }));
          return;
        }
        const start = Date.now() + (state.windowStartDays ?? 60) * 86_400_000;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (state.retryAfter !== undefined) headers['retry-after'] = state.retryAfter;
        res.writeHead(200, headers);
        res.end(
          JSON.stringify({
            suggestedWindow: {
              start: new Date(start).toISOString(),
              end: new Date(start + 86_400_000).toISOString(),
            },
          }),
        );
        return;
      }
      counts.other++;
      res.writeHead(404);
      res.end();
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    directoryUrl: `${base}/dir`,
    caBundlePath: ca.certPath,
    counts,
    asked,
    options: state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
