/**
 * `run --dry-run` against a real Pebble, for an issuer whose certificates answer different challenges: a
 * challenge that cannot be answered (a standalone listener on a port another server holds) blocks only the
 * certificates that use it, as the real run then shows.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { closeServer, serveWebroot } from '../integration/acme-fixtures.js';
import { acmeManifest, pebbleIssuer } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

describe('run --dry-run: one issuer, several challenges', () => {
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-dry-run-challenges-');
    pebble = await startPebble();
  });
  after(async () => {
    await pebble?.stop();
    await tmp?.remove();
  });

  test('a standalone port held by another server fails only the certificate that listens there', async () => {
    const webroot = join(tmp.path, 'challenges');
    await mkdir(webroot, { recursive: true });
    const web = await serveWebroot(webroot, pebble.httpPort);
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const manifest = await writeManifest(
        tmp.path,
        acmeManifest(
          pebbleIssuer(pebble, { type: 'http-01', challengeDirectory: webroot }),
          join(tmp.path, 'certs'),
          [
            { name: 'web', domains: ['web.example.test'] },
            {
              name: 'alone',
              domains: ['alone.example.test'],
              challenge: { type: 'http-01', standalone: `127.0.0.1:${busyPort}` },
            },
          ],
        ),
      );

      const dry = await runCli(['-m', manifest, 'run', '--dry-run', '--json']);
      assert.equal(dry.code, 1, dry.stderr);
      assert.ok(!hasStackTrace(dry.stderr), dry.stderr);
      const rehearsal = parseReport(dry.stdout);
      assert.deepEqual(
        rehearsal.certificates.map((c) => [c.name, c.outcome, c.error?.code]),
        [
          ['web', 'would-renew', undefined],
          ['alone', 'failed', 'CHALLENGE_FAILED'],
        ],
      );
      assert.match(rehearsal.certificates[1]?.error?.message ?? '', /EADDRINUSE/);
      const issuerChecks = (rehearsal.checks ?? []).filter((c) => c.kind === 'issuer');
      assert.deepEqual(
        issuerChecks.map((c) => [c.name, c.ok]).sort(),
        [
          ['pebble', false],
          ['pebble', true],
        ],
        JSON.stringify(issuerChecks),
      );

      // The rehearsal said what the run does.
      const real = await runCli(['-m', manifest, 'run', '--json']);
      assert.equal(real.code, 1, real.stderr);
      assert.deepEqual(
        parseReport(real.stdout).certificates.map((c) => [c.name, c.outcome, c.error?.code]),
        [
          ['web', 'renewed', undefined],
          ['alone', 'failed', 'CHALLENGE_FAILED'],
        ],
      );
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
      await closeServer(web);
    }
  });
});
