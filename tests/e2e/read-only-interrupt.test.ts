/**
 * A stop signal ends a command that changes nothing (plan, status, show, validate) at once, with one line
 * and exit 1 (`status --check`: 2) — not the run's ordered stop, which such a command never looked at: a
 * `plan` sent SIGTERM used to finish and exit 0. Observed while `plan` and `status` wait on a CA that
 * accepts the connection and never answers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AriServer, startAriServer } from '../harness/ari.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, startCli } from './cli.js';
import { ariManifest, filesystemStoreWith } from './e2e-helpers.js';

let dir: TempDir;
let ari: AriServer;
let silent: Server;
const sockets = new Set<Socket>();

before(async () => {
  dir = await tempDir('cert-renew-read-only-interrupt-');
  ari = await startAriServer(dir.path, { retryAfter: '21600', windowStartDays: 40 });
  // Accepts every connection and never says a word: the plan waits on it until it gives up.
  silent = createServer((socket) => {
    sockets.add(socket);
    silent.emit('waiting');
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const port = (silent.address() as { port: number }).port;
  await filesystemStoreWith(join(dir.path, 'certs'), ['www'], 'ca');
  const manifest = ariManifest(
    { directoryUrl: `https://127.0.0.1:${port}/dir`, caBundlePath: ari.caBundlePath },
    'files',
    'certs',
    ['www'],
  );
  await writeFile(join(dir.path, 'manifest.json'), JSON.stringify(manifest, null, 2));
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  silent?.close();
  await ari?.close();
  await dir?.remove();
});

for (const [args, code] of [
  [['plan'], 1],
  [['status', '--check'], 2],
] as const) {
  test(`${args.join(' ')} sent SIGTERM while it waits on the CA stops at once (exit ${code})`, async () => {
    const waiting = once(silent, 'waiting');
    const { child, done } = startCli(['-m', 'manifest.json', ...args], { cwd: dir.path });
    await waiting;
    child.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, code, result.stderr);
    assert.equal(result.stdout, '', 'no report');
    assert.equal(
      result.stderr,
      `cert-renew: SIGTERM received: ${args[0]} stopped (it changes nothing; exit ${code})\n`,
    );
    assert.ok(!hasStackTrace(result.stderr));
  });
}
