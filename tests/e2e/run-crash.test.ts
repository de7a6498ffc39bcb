/**
 * `cert-renew run` killed with SIGKILL at many different moments: every time the store holds a complete
 * set (previous or new) whose key matches its certificate, and the next run finishes the job.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunReport } from '../../src/report/model.js';
import { keyMatchesCertificate } from '../../src/x509/index.js';
import { tempDir } from '../harness/process.js';
import { runCli, startCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

const NAMES = ['a', 'b', 'c'];

async function assertComplete(store: string): Promise<void> {
  for (const name of NAMES) {
    const dir = join(store, name);
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8').catch(() => undefined);
    if (cert === undefined) continue; // never issued yet: nothing to damage
    const key = await readFile(join(dir, 'privkey.pem'), 'utf8');
    const fullchain = await readFile(join(dir, 'fullchain.pem'), 'utf8');
    assert.ok(keyMatchesCertificate(key, cert), `${name}: key matches certificate`);
    assert.ok(fullchain.startsWith(cert.trim()), `${name}: fullchain starts with the certificate`);
  }
}

/** Resolves once `child` wrote `count` stderr lines matching `line` (at once for 0), or has ended. */
function linesSeen(child: ChildProcess, line: RegExp, count: number): Promise<void> {
  if (count === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    let buffer = '';
    const onData = (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      seen += lines.filter((l) => line.test(l)).length;
      if (seen >= count) finish();
    };
    const finish = () => {
      child.stderr?.off('data', onData);
      child.off('close', finish);
      resolve();
    };
    child.stderr?.on('data', onData);
    child.on('close', finish);
  });
}

test('SIGKILL at many points during runs never leaves a half-written or mismatched set', async () => {
  const tmp = await tempDir();
  try {
    const store = join(tmp.path, 'certs');
    const manifest = await writeManifest(
      tmp.path,
      localManifest(store, {
        certificates: NAMES.map((name) => ({
          name,
          domains: [`${name}.example.test`],
          keyType: 'ecdsa-p256' as const,
        })),
      }),
    );
    assert.equal((await runCli(['-m', manifest, 'run'])).code, 0);
    // Kill forced runs at points of their progress (not of the clock, which a fast or a loaded machine
    // moves): while loading, after the first or the last "renewing" line (keys and certificates being
    // made, versions being written), after the first or second "renewed" line (others mid-write), each
    // followed by a few more milliseconds that differ from round to round.
    const points: { line: RegExp; count: number }[] = [
      { line: /^$/, count: 0 },
      { line: /: renewing \(/, count: 1 },
      { line: /: renewing \(/, count: 3 },
      { line: /: renewed, valid until/, count: 1 },
      { line: /: renewed, valid until/, count: 2 },
    ];
    let killed = 0;
    for (let i = 0; i < 25; i++) {
      const { child, done } = startCli(['-m', manifest, 'run', '--force', '--concurrency', '3']);
      const point = points[i % points.length] as { line: RegExp; count: number };
      await linesSeen(child, point.line, point.count);
      await sleep((i * 7) % 30);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        killed += 1;
      }
      await done;
      await assertComplete(store);
    }
    // Only a run that ended between its last line awaited and the kill escapes: most are killed.
    assert.ok(killed > 10, `most runs were killed mid-way (${killed})`);
    // The next run repairs what it can: stale locks of dead processes are taken over at once.
    const r = await runCli(['-m', manifest, 'run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of (JSON.parse(r.stdout) as RunReport).certificates) {
      assert.ok(['ok', 'renewed'].includes(c.outcome), `${c.name}: ${c.outcome} ${c.message}`);
    }
    await assertComplete(store);
  } finally {
    await tmp.remove();
  }
});
