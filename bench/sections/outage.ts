/**
 * outage: `cert-renew run` for 1,000 due certificates whose ACME directory is unreachable (a loopback port
 * nobody listens on), at the default concurrency. The issuer's breaker makes the first certificate use up
 * its retries (about 31 s of backoff) and every other one fail at once with the same error, recorded in
 * the store: the figure is the wall time of the whole run (issue 16 item 9: well under a minute).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/model.js';
import { BIN, record, type Section, timeCommand } from '../lib.js';

const CERTIFICATES = 1000;

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const outage: Section = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-outage-'));
  try {
    const manifest = join(dir, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({
        version: 1,
        defaults: { issuer: 'down', store: 'files' },
        issuers: {
          down: {
            type: 'acme',
            directory: `https://127.0.0.1:${await closedPort()}/dir`,
            email: 'ops@example.test',
            challenge: { type: 'http-01', webroot: join(dir, 'webroot') },
          },
        },
        stores: { files: { type: 'filesystem', path: join(dir, 'certs') } },
        certificates: Array.from({ length: CERTIFICATES }, (_, i) => ({
          name: `down-${i}`,
          domains: [`down-${i}.example.test`],
        })),
      }),
    );
    const load = loadavg()[0];
    const run = await timeCommand(BIN, ['-m', manifest, 'run', '--json'], {
      ...process.env,
      NO_COLOR: '1',
    });
    const report = JSON.parse(run.stdout) as RunReport;
    const failedAtOnce = report.certificates.filter((c) =>
      /not tried: certificate/.test(c.error?.message ?? ''),
    );
    await record('outage', {
      certificates: CERTIFICATES,
      concurrency: 'default (4)',
      exitCode: run.code,
      failed: report.summary.failed,
      failedAtOnce: failedAtOnce.length,
      wallSeconds: Math.round(run.ms / 100) / 10,
      loadAverage1m: load,
      target: '1,000 certificates against an unreachable CA in well under a minute',
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

export function register(sections: Map<string, Section>): void {
  sections.set('outage', outage);
}
