/**
 * A run whose post-renew hooks run after another command replaced the stored version (trial 13, fault 4):
 * this host's deployment entry must not say it deployed the older version over the other command's record.
 */
import assert from 'node:assert/strict';
import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StatusReport } from '../../src/report/status.js';
import { tempDir } from '../harness/process.js';
import { runCli, startCli } from './cli.js';
import { readStored } from './e2e-helpers.js';
import { localManifest, writeManifest } from './fixtures.js';

/** Resolves once `path` exists; rejects after `guardMs` (a hang guard, not a timing assertion). */
async function appears(path: string, guardMs = 90_000): Promise<void> {
  const until = Date.now() + guardMs;
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${path} never appeared`);
      await sleep(100);
    }
  }
}

describe('a run racing a revoke', () => {
  test('the hook held while revoke replaces the certificate: status does not say the host serves the revoked serial', async () => {
    const tmp = await tempDir();
    const cleanup: (() => Promise<void>)[] = [];
    try {
      const store = join(tmp.path, 'certs');
      const arm = join(tmp.path, 'arm');
      const held = join(tmp.path, 'held');
      const gate = join(tmp.path, 'gate');
      const log = join(tmp.path, 'hook.log');
      const hook = join(tmp.path, 'hold.sh');
      // The first hook run after `arm` exists waits for `gate` (mkdir: exactly one run holds); others pass.
      await writeFile(
        hook,
        `#!/bin/sh
echo "$CERT_RENEW_SERIAL" >> '${log}'
if [ -f '${arm}' ] && mkdir '${held}' 2>/dev/null; then
  i=0
  while [ ! -f '${gate}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
fi
exit 0
`,
      );
      await chmod(hook, 0o755);
      const manifest = await writeManifest(
        tmp.path,
        localManifest(store, {
          defaults: {
            issuer: 'local',
            store: 'files',
            hooks: { postRenew: [{ run: [hook], timeout: '5m' }] },
          },
          certificates: [{ name: 'web', domains: ['web.example.test'] }],
        }),
      );
      const hostArgs = ['--host-id', 'vm'];
      const first = await runCli(['-m', manifest, 'run', ...hostArgs]);
      assert.equal(first.code, 0, first.stderr);

      await writeFile(arm, '');
      const racing = startCli(['-m', manifest, 'run', '--force', ...hostArgs], { killAfterMs: 180_000 });
      // Whatever fails below, the held hook is let go.
      cleanup.push(async () => {
        await writeFile(gate, '');
        await racing.done;
      });
      await appears(held);
      const older = (await readStored(store, 'web')).serial;

      const revoke = await runCli(
        ['-m', manifest, 'revoke', 'web', '--reason', 'superseded', '--yes', ...hostArgs],
        { killAfterMs: 180_000 },
      );
      assert.equal(revoke.code, 0, revoke.stderr);
      const newer = (await readStored(store, 'web')).serial;
      assert.notEqual(newer, older);

      await writeFile(gate, '');
      const run = await racing.done;
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`serial ${newer} was stored and deployed here while the hooks ran`),
      );

      const entry = JSON.parse(
        await readFile(join(store, '.cert-renew', 'deployments', 'web', 'vm.json'), 'utf8'),
      ) as { serial?: string; pending?: unknown };
      assert.equal(entry.serial, newer, 'the entry names the version the last hook deployed');
      assert.equal(entry.pending, undefined);

      const status = await runCli(['-m', manifest, 'status', '--json', '--only', 'web']);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const report = JSON.parse(status.stdout) as StatusReport;
      const host = report.certificates[0]?.hosts?.find((h: { host: string }) => h.host === 'vm');
      assert.equal(host?.state, 'current', JSON.stringify(host));
      assert.equal(host?.revoked, undefined);
    } finally {
      for (const step of cleanup) await step();
      await tmp.remove();
    }
  });
});
