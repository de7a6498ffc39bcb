/**
 * issue-scale: client CPU and peak memory of one `cert-renew run --concurrency 10` issuing N certificates
 * against Pebble in always-valid mode (the CA answers at once, so what is left is the client's own work),
 * for N = 100 and N = 1,000: CPU per certificate, and whether peak RSS stays flat in N. One Pebble per
 * run (Pebble 2.4 can deadlock beyond ~1,200 orders in one instance). The run goes through bench/measure
 * (the CLI in-process), which reports its CPU time and peak RSS.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPebble } from '../../tests/harness/pebble.js';
import { freePort } from '../../tests/harness/process.js';
import { pebbleManifest, record, type Section, timeCommand } from '../lib.js';

const MEASURE = fileURLToPath(new URL('../measure.js', import.meta.url));
const CONCURRENCY = 10;

/** Issues `count` certificates in one run; returns wall ms, CPU ms and peak RSS MB of the client. */
export async function issueRun(count: number, extraArgs: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-issue-'));
  const pebble = await startPebble({ alwaysValid: true });
  try {
    const port = await freePort();
    const manifest = pebbleManifest(pebble, dir, port, 'issue', count);
    const manifestPath = join(dir, 'manifest.json');
    await writeFile(manifestPath, JSON.stringify(manifest));
    const t = await timeCommand(
      process.execPath,
      [...extraArgs, MEASURE, '-m', manifestPath, '-q', 'run', '--concurrency', String(CONCURRENCY)],
      { PATH: process.env.PATH, NO_COLOR: '1' },
      true,
    );
    if (t.code !== 0) throw new Error(`cert-renew run failed (exit ${t.code}): ${t.stderr.slice(-2000)}`);
    return {
      ms: t.ms,
      cpuMs: (t.cpuUs ?? 0) / 1000,
      rssMb: (t.maxRssKb ?? 0) / 1024,
      dir,
    };
  } finally {
    await pebble.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function issueScale(): Promise<void> {
  const results: Record<string, unknown>[] = [];
  for (const count of [100, 1000]) {
    const load = loadavg()[0] ?? 0;
    const r = await issueRun(count);
    results.push({
      certificates: count,
      wallMs: Math.round(r.ms),
      cpuMs: Math.round(r.cpuMs),
      cpuPerCertMs: Number((r.cpuMs / count).toFixed(1)),
      peakRssMb: Math.round(r.rssMb),
      loadAverage1m: Number(load.toFixed(2)),
    });
  }
  await record('issue-scale', {
    concurrency: CONCURRENCY,
    runs: results,
    server: 'pebble (always-valid), one instance per run, http-01 standalone, ECDSA P-256',
    target: '≤ 15 ms client CPU per certificate; peak RSS flat in N (≤ 100 MB issuing 1,000)',
  });
}

export function register(sections: Map<string, Section>): void {
  sections.set('issue-scale', issueScale);
}
