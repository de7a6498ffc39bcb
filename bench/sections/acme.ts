/**
 * acme-100: 100 certificates issued by `cert-renew run --concurrency 10` against a local Pebble in
 * always-valid mode (it accepts every challenge without contacting anyone, so this measures the client and
 * the protocol, not validation), against a sequential Debian `certbot` loop on the same Pebble. certbot is
 * timed on a sample of SAMPLE certificates and its per-certificate mean is multiplied by 100: the result
 * says so (`certbotExtrapolated`). Both use ECDSA P-256 keys and http-01 standalone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/model.js';
import { startPebble } from '../../tests/harness/pebble.js';
import { freePort } from '../../tests/harness/process.js';
import { BIN, median, pebbleManifest, record, type Section, timeCommand } from '../lib.js';

const CERTIFICATES = 100;
const CONCURRENCY = 10;
/** certbot certificates actually issued (one after another); the rest is extrapolated. */
const SAMPLE = 10;

async function acme100(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cert-renew-bench-acme-'));
  const pebble = await startPebble({ alwaysValid: true });
  try {
    // cert-renew: one run, 100 certificates, 10 at once.
    const port = await freePort();
    const manifest = pebbleManifest(pebble, dir, port, 'bench', CERTIFICATES);
    const manifestPath = join(dir, 'manifest.json');
    await writeFile(manifestPath, JSON.stringify(manifest));
    const ours = await timeCommand(
      process.execPath,
      [BIN, '-m', manifestPath, '-q', 'run', '--json', '--concurrency', String(CONCURRENCY)],
      { PATH: process.env.PATH, NO_COLOR: '1' },
    );
    const report = JSON.parse(ours.stdout || '{}') as Partial<RunReport>;
    if (ours.code !== 0 || report.summary?.renewed !== CERTIFICATES) {
      throw new Error(`cert-renew run failed (exit ${ours.code}): ${ours.stderr.slice(-2000)}`);
    }

    // certbot: one certificate per invocation, one after another, as a cron loop would.
    const certbotDir = join(dir, 'certbot');
    await mkdir(certbotDir);
    const certbotPort = await freePort();
    const env = { PATH: process.env.PATH, HOME: dir, REQUESTS_CA_BUNDLE: pebble.caBundlePath };
    const certbot: number[] = [];
    for (let i = 0; i < SAMPLE; i++) {
      const t = await timeCommand(
        'certbot',
        [
          'certonly',
          '--non-interactive',
          '--agree-tos',
          '--register-unsafely-without-email',
          '--server',
          pebble.directoryUrl,
          '--standalone',
          '--http-01-address',
          '127.0.0.1',
          '--http-01-port',
          String(certbotPort),
          '--key-type',
          'ecdsa',
          '--cert-name',
          `certbot-${i}`,
          '-d',
          `certbot-${i}.example.test`,
          '--config-dir',
          join(certbotDir, 'config'),
          '--work-dir',
          join(certbotDir, 'work'),
          '--logs-dir',
          join(certbotDir, 'logs'),
        ],
        env,
      );
      if (t.code !== 0) throw new Error(`certbot failed (exit ${t.code}): ${t.stderr.slice(-2000)}`);
      certbot.push(t.ms);
    }
    const certbotSampleMs = certbot.reduce((a, b) => a + b, 0);
    const certbotPerCertMs = certbotSampleMs / SAMPLE;
    const certbotExtrapolatedMs = certbotPerCertMs * CERTIFICATES;
    await record('acme-100', {
      certificates: CERTIFICATES,
      concurrency: CONCURRENCY,
      certRenewMs: Math.round(ours.ms),
      certRenewPerCertMs: Math.round(ours.ms / CERTIFICATES),
      certbotSample: SAMPLE,
      certbotSampleMs: Math.round(certbotSampleMs),
      certbotPerCertMeanMs: Math.round(certbotPerCertMs),
      certbotPerCertMedianMs: Math.round(median(certbot)),
      certbotExtrapolated: true,
      certbotEstimatedMs: Math.round(certbotExtrapolatedMs),
      ratio: Number((certbotExtrapolatedMs / ours.ms).toFixed(1)),
      method: `certbot: ${SAMPLE} certificates issued sequentially, mean × ${CERTIFICATES}; cert-renew: one run of all ${CERTIFICATES}`,
      server: 'pebble (always-valid, no validation sleeps), http-01 standalone, ECDSA P-256',
      target: 'beats a sequential certbot loop many times over',
    });
  } finally {
    await pebble.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function register(sections: Map<string, Section>): void {
  sections.set('acme-100', acme100);
}
