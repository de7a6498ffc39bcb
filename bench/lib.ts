/** Shared pieces of the benchmarks: timing child processes, medians, writing results. */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../src/manifest/types.js';
import type { Pebble } from '../tests/harness/pebble.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(REPO, 'bin', 'cert-renew');
export const RESULTS = join(REPO, 'bench', 'results');

/**
 * The environment of a cron job or a systemd timer, for the commands a section times: variables of the
 * benchmarking shell (NODE_EXTRA_CA_CERTS makes every node start-up read a CA bundle, ~38 ms here) would
 * weigh on every run and hide the ratios.
 */
export const CRON_ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH, NO_COLOR: '1' };

export interface Timing {
  ms: number;
  maxRssKb?: number;
  /** User + system CPU of the measured process (µs), for node commands run through `measure`. */
  cpuUs?: number;
}

/** Runs a command; resolves with wall time and, for node commands run through `measure`, its peak RSS. */
export function timeCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  /** stdout to /dev/null instead of a pipe (measure.js runs, whose output is not wanted). */
  discardStdout = false,
): Promise<Timing & { code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', discardStdout ? 'ignore' : 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /^cert-renew-bench maxrss (\d+)$/m.exec(stderr);
      const cpu = /^cert-renew-bench cpu (\d+)$/m.exec(stderr);
      resolve({
        ms,
        code,
        stderr,
        stdout,
        ...(rss ? { maxRssKb: Number(rss[1]) } : {}),
        ...(cpu ? { cpuUs: Number(cpu[1]) } : {}),
      });
    });
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function record(section: string, result: Record<string, unknown>): Promise<void> {
  await mkdir(RESULTS, { recursive: true });
  const body = { section, at: new Date().toISOString(), node: process.version, ...result };
  await writeFile(join(RESULTS, `${section}.json`), `${JSON.stringify(body, null, 2)}\n`);
  console.log(`${section}: ${JSON.stringify(result)}`);
}

export type Section = () => Promise<void>;

/**
 * A manifest of `count` ECDSA P-256 certificates named `<prefix>-000…`, issued by `pebble` over http-01 on a
 * standalone listener at 127.0.0.1:`port`, stored under `<dir>/certs`.
 */
export function pebbleManifest(
  pebble: Pebble,
  dir: string,
  port: number,
  prefix: string,
  count: number,
): Manifest {
  const width = String(Math.max(count - 1, 0)).length;
  return {
    version: 1,
    defaults: { issuer: 'pebble', store: 'files', keyType: 'ecdsa-p256' },
    issuers: {
      pebble: {
        type: 'acme',
        directory: pebble.directoryUrl,
        email: 'bench@example.test',
        caBundle: pebble.caBundlePath,
        challenge: { type: 'http-01', standalone: `127.0.0.1:${port}` },
      },
    },
    stores: { files: { type: 'filesystem', path: join(dir, 'certs') } },
    certificates: Array.from({ length: count }, (_, i) => ({
      name: `${prefix}-${String(i).padStart(width, '0')}`,
      domains: [`${prefix}-${i}.example.test`],
    })),
  };
}
