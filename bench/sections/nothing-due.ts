/**
 * nothing-due: the run operators execute every day. 10 certificates of an ACME issuer whose directory
 * offers renewal information (RFC 9773), all stored and fine, so `cert-renew plan` reads the store, asks
 * the CA for each certificate's suggested window, and decides "keep". Pebble 2.4 has no renewalInfo, so
 * the benchmark serves the ACME directory itself from a small local HTTPS server that answers the
 * directory and renewalInfo GETs (and nothing else: nothing is issued). Timed against a bare `node -e 0`
 * in the same loop, alternating, medians. The server counts requests: one directory fetch per run and one
 * renewalInfo GET per certificate are checked, not assumed.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../src/manifest/types.js';
import type { Plan } from '../../src/plan/build-plan.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { createCa, createLeaf } from '../../tests/harness/tls.js';
import { BIN, CRON_ENV, median, record, type Section, timeCommand } from '../lib.js';
import { benchCertificate, benchContext } from './core.js';

const CERTIFICATES = 10;
const RUNS = 15;

export interface AriServer {
  directoryUrl: string;
  caBundlePath: string;
  counts: { directory: number; renewalInfo: number; other: number };
  close(): Promise<void>;
}

/**
 * A directory with renewalInfo, and a suggested window `windowStartDays`..+1 day from now for any
 * certificate identifier. Not an ACME server: newNonce/newAccount/newOrder are listed but answer 404.
 */
export async function startAriServer(dir: string, windowStartDays = 60): Promise<AriServer> {
  const ca = await createCa(dir, { name: 'ari-ca', commonName: 'cert-renew bench ARI CA' });
  const leaf = await createLeaf(ca, dir, { names: ['127.0.0.1'], name: 'ari-server' });
  const counts = { directory: 0, renewalInfo: 0, other: 0 };
  let base = '';
  const server = createServer(
    { cert: await readFile(leaf.fullchainPath), key: await readFile(leaf.keyPath) },
    (req, res) => {
      const url = req.url ?? '/';
      if (req.method === 'GET' && url === '/dir') {
        counts.directory++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            newNonce: `${base}/nonce`,
            newAccount: `${base}/account`,
            newOrder: `${base}/order`,
            renewalInfo: `${base}/renewal-info`,
          }),
        );
        return;
      }
      if (req.method === 'GET' && url.startsWith('/renewal-info/')) {
        counts.renewalInfo++;
        const start = Date.now() + windowStartDays * 86_400_000;
        res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' });
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Stores `count` fine certificates issued (in their metadata) by `issuer` and returns the manifest. */
export async function nothingDueFixture(
  dir: string,
  count: number,
  issuer: Manifest['issuers'][string],
): Promise<string> {
  const { bundle, meta } = await benchCertificate(dir);
  const storePath = join(dir, 'certs');
  const store = new FilesystemStore('files', { type: 'filesystem', path: storePath }, benchContext(dir));
  const names = Array.from({ length: count }, (_, i) => `site-${String(i).padStart(3, '0')}`);
  for (const name of names) await store.save(name, bundle, { ...meta, name, issuer: 'ca' });
  const manifest: Manifest = {
    version: 1,
    defaults: { issuer: 'ca', store: 'files' },
    issuers: { ca: issuer },
    stores: { files: { type: 'filesystem', path: storePath } },
    certificates: names.map((name) => ({ name, domains: ['bench.example.test'] })),
  };
  const manifestPath = join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  return manifestPath;
}

async function nothingDue(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-due-'));
  const ari = await startAriServer(dir);
  try {
    const manifestPath = await nothingDueFixture(dir, CERTIFICATES, {
      type: 'acme',
      directory: ari.directoryUrl,
      email: 'bench@example.test',
      caBundle: ari.caBundlePath,
      challenge: { type: 'http-01', standalone: '127.0.0.1:5002' },
    });
    const env = CRON_ENV;
    // One checked run first: every certificate kept, through the ARI window, one directory fetch.
    const check = await timeCommand(BIN, ['-m', manifestPath, 'plan', '--json'], env);
    const plan = JSON.parse(check.stdout || '{}') as Partial<Plan>;
    if (check.code !== 0 || plan.summary?.keep !== CERTIFICATES) {
      throw new Error(`plan did not keep everything (exit ${check.code}): ${check.stderr.slice(-2000)}`);
    }
    if (ari.counts.directory !== 1 || ari.counts.renewalInfo !== CERTIFICATES) {
      throw new Error(
        `expected 1 directory fetch and ${CERTIFICATES} renewalInfo GETs: ${JSON.stringify(ari.counts)}`,
      );
    }
    const bare: number[] = [];
    const ours: number[] = [];
    const version: number[] = [];
    const load = loadavg()[0] ?? 0;
    for (let i = 0; i < RUNS; i++) {
      bare.push((await timeCommand(process.execPath, ['-e', '0'], env)).ms);
      const t = await timeCommand(BIN, ['-m', manifestPath, 'plan', '--json'], env);
      if (t.code !== 0) throw new Error(`plan failed: ${t.stderr.slice(-2000)}`);
      ours.push(t.ms);
      version.push((await timeCommand(BIN, ['--version'], env)).ms);
    }
    const nodeMs = median(bare);
    const planMs = median(ours);
    const versionMs = median(version);
    await record('nothing-due', {
      certificates: CERTIFICATES,
      runs: RUNS,
      nodeMedianMs: Math.round(nodeMs),
      planMedianMs: Math.round(planMs),
      ratio: Number((planMs / nodeMs).toFixed(2)),
      versionMedianMs: Math.round(versionMs),
      versionRatio: Number((versionMs / nodeMs).toFixed(2)),
      requestsPerRun: { directory: 1, renewalInfo: CERTIFICATES },
      loadAverage1m: Number(load.toFixed(2)),
      loadAverage1mAfter: Number((loadavg()[0] ?? 0).toFixed(2)),
      server: 'local HTTPS server offering a directory with renewalInfo (Pebble 2.4 has none)',
      target: 'plan ≤ 2× node -e 0; --version ≤ 1.5×',
    });
  } finally {
    await ari.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function register(sections: Map<string, Section>): void {
  sections.set('nothing-due', nothingDue);
}
