/**
 * compare: cert-renew, certbot and lego (the Debian packages) against the same Pebble (always-valid mode,
 * so the protocol and the clients are measured, not validation), for the two runs that matter:
 *
 *   issue        100 certificates: one `cert-renew run --concurrency 10`; a sequential lego loop (all 100,
 *                one `lego run` each, as a cron loop would); a sequential certbot loop on a sample of 10,
 *                extrapolated to 100 (certbot spends ~3 s per certificate in its own polling sleeps; the
 *                result says so).
 *   nothing due  10 certificates each tool already holds, none due: `cert-renew run`, `certbot renew`, and a
 *                loop of `lego renew --days 30` over the 10 (lego renews one certificate per invocation).
 *                Medians of RUNS, alternating with a bare `node -e 0`.
 *
 * Every tool uses ECDSA P-256 keys and http-01 on its own listener. Results: bench/results/compare.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/model.js';
import { type Pebble, startPebble } from '../../tests/harness/pebble.js';
import { freePort } from '../../tests/harness/process.js';
import { BIN, median, pebbleManifest, record, type Section, timeCommand } from '../lib.js';

const ISSUE = 100;
const CONCURRENCY = 10;
const CERTBOT_SAMPLE = 10;
const DUE = 10;
const RUNS = 5;

function certbotArgs(dir: string, pebble: Pebble, port: number, extra: string[]): string[] {
  return [
    ...extra,
    '--non-interactive',
    '--agree-tos',
    '--register-unsafely-without-email',
    '--server',
    pebble.directoryUrl,
    '--config-dir',
    join(dir, 'config'),
    '--work-dir',
    join(dir, 'work'),
    '--logs-dir',
    join(dir, 'logs'),
    '--standalone',
    '--http-01-address',
    '127.0.0.1',
    '--http-01-port',
    String(port),
    '--key-type',
    'ecdsa',
  ];
}

function legoArgs(dir: string, pebble: Pebble, port: number, domain: string, command: string[]): string[] {
  return [
    '--accept-tos',
    '--email',
    'bench@example.test',
    '--server',
    pebble.directoryUrl,
    '--http',
    '--http.port',
    `127.0.0.1:${port}`,
    '--key-type',
    'ec256',
    '--path',
    dir,
    '--domains',
    domain,
    ...command,
  ];
}

async function must(what: string, run: Promise<{ code: number | null; stderr: string; ms: number }>) {
  const t = await run;
  if (t.code !== 0) throw new Error(`${what} failed (exit ${t.code}): ${t.stderr.slice(-2000)}`);
  return t.ms;
}

async function compare(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-compare-'));
  const pebble = await startPebble({ alwaysValid: true });
  const load = [loadavg()[0] ?? 0];
  try {
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      NO_COLOR: '1',
      REQUESTS_CA_BUNDLE: pebble.caBundlePath,
      LEGO_CA_CERTIFICATES: pebble.caBundlePath,
    };
    const port = await freePort();

    // --- issue 100
    const issueManifest = join(dir, 'issue.json');
    await writeFile(
      issueManifest,
      JSON.stringify(pebbleManifest(pebble, join(dir, 'issue'), port, 'issue', ISSUE)),
    );
    const oursIssueMs = await must(
      'cert-renew run',
      timeCommand(
        process.execPath,
        [BIN, '-m', issueManifest, '-q', 'run', '--concurrency', String(CONCURRENCY)],
        env,
      ),
    );
    load.push(loadavg()[0] ?? 0);
    const legoDir = join(dir, 'lego');
    const legoIssue: number[] = [];
    for (let i = 0; i < ISSUE; i++) {
      legoIssue.push(
        await must(
          'lego run',
          timeCommand('lego', legoArgs(legoDir, pebble, port, `lego-${i}.example.test`, ['run']), env),
        ),
      );
    }
    load.push(loadavg()[0] ?? 0);
    const certbotDir = join(dir, 'certbot');
    await mkdir(certbotDir);
    const certbotIssue: number[] = [];
    for (let i = 0; i < CERTBOT_SAMPLE; i++) {
      certbotIssue.push(
        await must(
          'certbot certonly',
          timeCommand(
            'certbot',
            certbotArgs(certbotDir, pebble, port, [
              'certonly',
              '--cert-name',
              `certbot-${i}`,
              '-d',
              `certbot-${i}.example.test`,
            ]),
            env,
          ),
        ),
      );
    }
    load.push(loadavg()[0] ?? 0);
    const legoIssueMs = legoIssue.reduce((a, b) => a + b, 0);
    const certbotIssueMs = (certbotIssue.reduce((a, b) => a + b, 0) / CERTBOT_SAMPLE) * ISSUE;

    // --- nothing due: 10 certificates each tool holds (cert-renew's issued here, certbot's and lego's above)
    const dueManifest = join(dir, 'due.json');
    await writeFile(dueManifest, JSON.stringify(pebbleManifest(pebble, join(dir, 'due'), port, 'due', DUE)));
    await must(
      'cert-renew run (issuing the nothing-due set)',
      timeCommand(process.execPath, [BIN, '-m', dueManifest, '-q', 'run'], env),
    );
    const bare: number[] = [];
    const ours: number[] = [];
    const certbot: number[] = [];
    const lego: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      bare.push(await must('node -e 0', timeCommand(process.execPath, ['-e', '0'], env)));
      const t = await timeCommand(process.execPath, [BIN, '-m', dueManifest, 'run', '--json'], env);
      const report = JSON.parse(t.stdout || '{}') as Partial<RunReport>;
      if (t.code !== 0 || report.summary?.renewed !== 0) {
        throw new Error(
          `cert-renew run renewed something or failed (exit ${t.code}): ${t.stderr.slice(-2000)}`,
        );
      }
      ours.push(t.ms);
      // certbot renew checks every lineage it holds (the CERTBOT_SAMPLE issued above).
      certbot.push(
        await must(
          'certbot renew',
          timeCommand('certbot', certbotArgs(certbotDir, pebble, port, ['renew']), env),
        ),
      );
      let legoMs = 0;
      for (let i = 0; i < DUE; i++) {
        legoMs += await must(
          'lego renew',
          timeCommand(
            'lego',
            legoArgs(legoDir, pebble, port, `lego-${i}.example.test`, ['renew', '--days', '30']),
            env,
          ),
        );
      }
      lego.push(legoMs);
    }
    load.push(loadavg()[0] ?? 0);
    const nodeMs = median(bare);
    await record('compare', {
      issue: {
        certificates: ISSUE,
        certRenewMs: Math.round(oursIssueMs),
        certRenewConcurrency: CONCURRENCY,
        legoMs: Math.round(legoIssueMs),
        legoPerCertMedianMs: Math.round(median(legoIssue)),
        certbotEstimatedMs: Math.round(certbotIssueMs),
        certbotSample: CERTBOT_SAMPLE,
        certbotPerCertMedianMs: Math.round(median(certbotIssue)),
        ratioLego: Number((legoIssueMs / oursIssueMs).toFixed(1)),
        ratioCertbot: Number((certbotIssueMs / oursIssueMs).toFixed(1)),
      },
      nothingDue: {
        certificates: DUE,
        runs: RUNS,
        nodeMedianMs: Math.round(nodeMs),
        certRenewRunMedianMs: Math.round(median(ours)),
        certbotRenewMedianMs: Math.round(median(certbot)),
        legoRenewLoopMedianMs: Math.round(median(lego)),
        certRenewOverNode: Number((median(ours) / nodeMs).toFixed(2)),
      },
      loadAverage1m: load.map((l) => Number(l.toFixed(2))),
      versions: {
        certbot: (await timeCommand('certbot', ['--version'], env)).stdout.trim(),
        lego: (await timeCommand('lego', ['--version'], env)).stdout.trim(),
      },
      server:
        'pebble (always-valid, no validation sleeps), http-01, ECDSA P-256; Pebble offers no renewalInfo',
      target: 'issuing 100 ≥ 10× faster than a lego loop; nothing due faster than certbot and lego',
    });
  } finally {
    await pebble.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function register(sections: Map<string, Section>): void {
  sections.set('compare', compare);
}
