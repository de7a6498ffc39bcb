/**
 * nothing-due: the run operators execute every day. 10 certificates of an ACME issuer whose directory
 * offers renewal information (RFC 9773), all stored and fine, decided "keep". Two cases, each timed
 * against a bare `node -e 0` in the same loop, alternating, medians:
 *
 * - asking: `cert-renew plan`, which asks the CA for each certificate's suggested window (one directory
 *   fetch and one renewalInfo GET per certificate; `plan` keeps nothing, so every run asks) — a run whose
 *   kept answers have passed their Retry-After, as a daily timer meets them with Let's Encrypt's 6 hours;
 * - kept: `cert-renew run` and `plan` after one `run` kept every answer (the server sends Retry-After: 6 h),
 *   so they decide from the kept windows and send nothing — an hourly timer's runs between two asks.
 *
 * Pebble 2.4 has no renewalInfo, so the CA here is tests/harness/ari.ts, a local HTTPS server answering the
 * directory and renewalInfo GETs (nothing is issued). It counts the requests: what each case sends is
 * checked, not assumed.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../src/manifest/types.js';
import type { Plan } from '../../src/plan/build-plan.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { startAriServer } from '../../tests/harness/ari.js';
import { BIN, CRON_ENV, median, record, type Section, timeCommand } from '../lib.js';
import { benchCertificate, benchContext } from './core.js';

const CERTIFICATES = 10;
const RUNS = 15;
/**
 * The kept runs' loop, the target's: more runs than the asking loop (which loads the test CA), because its
 * medians differ by less than this VM's spread between runs of the section at 15 (±0.2×, ninth round).
 */
const KEPT_RUNS = 41;

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
    // One checked plan first: every certificate kept, through the ARI window, one directory fetch.
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
    const asking: number[] = [];
    const version: number[] = [];
    const load = loadavg()[0] ?? 0;
    for (let i = 0; i < RUNS; i++) {
      bare.push((await timeCommand(process.execPath, ['-e', '0'], env)).ms);
      const t = await timeCommand(BIN, ['-m', manifestPath, 'plan', '--json'], env);
      if (t.code !== 0) throw new Error(`plan failed: ${t.stderr.slice(-2000)}`);
      asking.push(t.ms);
      version.push((await timeCommand(BIN, ['--version'], env)).ms);
    }
    if (ari.counts.renewalInfo !== CERTIFICATES * (RUNS + 1)) {
      throw new Error(`every plan should have asked: ${JSON.stringify(ari.counts)}`);
    }

    // One run keeps every answer; the runs and plans after it send nothing.
    const keeping = await timeCommand(BIN, ['-m', manifestPath, 'run'], env);
    if (keeping.code !== 0) throw new Error(`run failed: ${keeping.stderr.slice(-2000)}`);
    const askedBefore = { ...ari.counts };
    const bareKept: number[] = [];
    const runKept: number[] = [];
    const planKept: number[] = [];
    for (let i = 0; i < KEPT_RUNS; i++) {
      bareKept.push((await timeCommand(process.execPath, ['-e', '0'], env)).ms);
      const r = await timeCommand(BIN, ['-m', manifestPath, 'run'], env);
      if (r.code !== 0) throw new Error(`run failed: ${r.stderr.slice(-2000)}`);
      runKept.push(r.ms);
      const p = await timeCommand(BIN, ['-m', manifestPath, 'plan', '--json'], env);
      if (p.code !== 0) throw new Error(`plan failed: ${p.stderr.slice(-2000)}`);
      planKept.push(p.ms);
    }
    if (JSON.stringify(ari.counts) !== JSON.stringify(askedBefore)) {
      throw new Error(
        `runs with kept answers asked the CA: ${JSON.stringify({ askedBefore, after: ari.counts })}`,
      );
    }
    const nodeMs = median(bare);
    const planMs = median(asking);
    const versionMs = median(version);
    const nodeKeptMs = median(bareKept);
    await record('nothing-due', {
      certificates: CERTIFICATES,
      runs: RUNS,
      nodeMedianMs: Math.round(nodeMs),
      planMedianMs: Math.round(planMs),
      ratio: Number((planMs / nodeMs).toFixed(2)),
      versionMedianMs: Math.round(versionMs),
      versionRatio: Number((versionMs / nodeMs).toFixed(2)),
      requestsPerRun: { directory: 1, renewalInfo: CERTIFICATES },
      kept: {
        runs: KEPT_RUNS,
        nodeMedianMs: Number(nodeKeptMs.toFixed(1)),
        runMedianMs: Number(median(runKept).toFixed(1)),
        runRatio: Number((median(runKept) / nodeKeptMs).toFixed(2)),
        planMedianMs: Number(median(planKept).toFixed(1)),
        planRatio: Number((median(planKept) / nodeKeptMs).toFixed(2)),
        requestsPerRun: { directory: 0, renewalInfo: 0 },
      },
      loadAverage1m: Number(load.toFixed(2)),
      loadAverage1mAfter: Number((loadavg()[0] ?? 0).toFixed(2)),
      server:
        'tests/harness/ari.ts: a local HTTPS server offering a directory with renewalInfo (Pebble 2.4 has none)',
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
