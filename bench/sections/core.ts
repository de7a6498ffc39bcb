/** Start-up time and planning over 10,000 certificates in the filesystem store. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LocalCaIssuer } from '../../src/issuers/local-ca.js';
import type { Manifest, ResolvedCertificate } from '../../src/manifest/types.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { RACY_MS } from '../../src/stores/filesystem/load-cache.js';
import { mapLimit } from '../../src/util/pool.js';
import { createCsr, generateKey, inspectCertificate } from '../../src/x509/index.js';
import { BIN, CRON_ENV, median, record, type Section, timeCommand } from '../lib.js';

const MEASURE = fileURLToPath(new URL('../measure.js', import.meta.url));
export const COUNT = 10_000;

export function benchContext(baseDir: string): RuntimeContext {
  const context: RuntimeContext = {
    clock: systemClock,
    logger: silentLogger,
    env: {},
    baseDir,
    hostname: 'bench',
    pid: process.pid,
    readSecret: async () => '',
    getStore: async () => {
      throw new Error('not in the benchmark');
    },
  };
  return context;
}

/** One real certificate (local CA, ECDSA) to store under many names; every name then plans as `ok`. */
export async function benchCertificate(dir: string) {
  const store = new FilesystemStore('ca', { type: 'filesystem', path: join(dir, 'ca') }, benchContext(dir));
  const issuer = new LocalCaIssuer('local', { type: 'local-ca', lifetime: '90d' }, benchContext(dir));
  const keyPem = await generateKey('ecdsa-p256');
  const domains = ['bench.example.test'];
  const entry = {
    index: 0,
    name: 'bench',
    domains,
    issuerName: 'local',
    issuer: { type: 'local-ca' },
    storeName: 'files',
    store: { type: 'filesystem', path: dir },
    keyType: 'ecdsa-p256',
    reuseKey: false,
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
  } as ResolvedCertificate;
  const issued = await issuer.issue({
    entry,
    keyPem,
    csrPem: await createCsr(keyPem, domains),
    current: undefined,
    store,
    now: new Date(),
    signal: new AbortController().signal,
    logger: silentLogger,
  });
  const info = inspectCertificate(issued.certPem);
  return {
    bundle: { certPem: issued.certPem, chainPem: issued.chainPem, keyPem },
    meta: {
      name: 'bench',
      domains,
      issuer: 'local',
      keyType: 'ecdsa-p256' as const,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      fingerprint: info.fingerprint256,
      serial: info.serial,
      issuedAt: new Date().toISOString(),
    },
  };
}

export function benchManifest(store: Manifest['stores'][string], count: number): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'bench' },
    issuers: { local: { type: 'local-ca', lifetime: '90d' } },
    stores: { bench: store },
    certificates: Array.from({ length: count }, (_, i) => ({
      name: `cert-${String(i).padStart(5, '0')}`,
      domains: ['bench.example.test'],
    })),
  };
}

/**
 * `runs` timed `plan --json` runs of `manifest` through measure.js (peak RSS and CPU from the process itself),
 * `between` awaited after each. Throws when a plan fails.
 */
export async function timedPlans(
  manifest: string,
  runs: number,
  between?: () => Promise<void>,
): Promise<Awaited<ReturnType<typeof timeCommand>>[]> {
  const timings = [];
  for (let i = 0; i < runs; i++) {
    const t = await timeCommand(
      process.execPath,
      [MEASURE, '-m', manifest, 'plan', '--json'],
      CRON_ENV,
      true,
    );
    if (t.code !== 0) throw new Error(`plan failed: ${t.stderr}`);
    timings.push(t);
    await between?.();
  }
  return timings;
}

async function version(): Promise<void> {
  const runs = 15;
  const bare: number[] = [];
  const ours: number[] = [];
  const env = CRON_ENV;
  for (let i = 0; i < runs; i++) {
    bare.push((await timeCommand(process.execPath, ['-e', '0'], env)).ms);
    ours.push((await timeCommand(BIN, ['--version'], env)).ms);
  }
  const nodeMs = median(bare);
  const versionMs = median(ours);
  await record('version', {
    runs,
    nodeMedianMs: Math.round(nodeMs),
    versionMedianMs: Math.round(versionMs),
    ratio: Number((versionMs / nodeMs).toFixed(2)),
    env: 'PATH and NO_COLOR only',
    loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)),
    target: 'within 1.5x of node -e 0',
  });
}

async function planFs(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-'));
  try {
    const storePath = join(dir, 'certs');
    const { bundle, meta } = await benchCertificate(dir);
    const store = new FilesystemStore('bench', { type: 'filesystem', path: storePath }, benchContext(dir));
    const names = Array.from({ length: COUNT }, (_, i) => `cert-${String(i).padStart(5, '0')}`);
    const started = Date.now();
    await mapLimit(names, 32, (name) => store.save(name, bundle, { ...meta, name }));
    const populateMs = Date.now() - started;
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, JSON.stringify(benchManifest({ type: 'filesystem', path: storePath }, COUNT)));
    // Files as a daily run finds them (older than RACY_MS, so the load cache may remember them). A plan
    // before any run wrote the cache reads every certificate in full; then the load cache is written as a
    // run's reads write it (the store's loads, then readsDone: a `run` would also record a deployment per
    // certificate, the fleet case below), and the timed plans take unchanged certificates from it.
    await sleep(RACY_MS + 500);
    const [cold] = await timedPlans(manifest, 1);
    const learning = new FilesystemStore(
      'bench',
      { type: 'filesystem', path: storePath },
      { ...benchContext(dir), keepLoadCache: true },
    );
    const learnStarted = Date.now();
    for (let i = 0; i < names.length; i += 100) await learning.loadMany(names.slice(i, i + 100));
    await learning.readsDone();
    const cacheWriteMs = Date.now() - learnStarted;
    const runs = 3;
    const timings = await timedPlans(manifest, runs);
    // The same store once a host has deployed every certificate (a fleet's store: one deployment entry
    // per certificate under .cert-renew/deployments/), which every plan reads too.
    const deployed = {
      fingerprint: meta.fingerprint,
      serial: meta.serial,
      deployedAt: new Date().toISOString(),
    };
    await mapLimit(names, 32, (name) => store.recordDeployment(name, 'bench-host', deployed));
    const fleet = await timedPlans(manifest, runs);
    await record('plan-fs', {
      certificates: COUNT,
      runs,
      withoutCacheMs: Math.round(cold?.ms ?? 0),
      withoutCachePeakRssMb: Math.round((cold?.maxRssKb ?? 0) / 1024),
      cacheWriteMs,
      planMedianMs: Math.round(median(timings.map((t) => t.ms))),
      planCpuMedianMs: Math.round(median(timings.map((t) => (t.cpuUs ?? 0) / 1000))),
      loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      peakRssMb: Math.round(Math.max(...timings.map((t) => t.maxRssKb ?? 0)) / 1024),
      withDeploymentsMedianMs: Math.round(median(fleet.map((t) => t.ms))),
      withDeploymentsPeakRssMb: Math.round(Math.max(...fleet.map((t) => t.maxRssKb ?? 0)) / 1024),
      populateMs,
      target: 'about a second',
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function register(sections: Map<string, Section>): void {
  sections.set('version', version);
  sections.set('plan-fs', planFs);
}
