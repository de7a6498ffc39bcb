/**
 * Crash safety of the filesystem store: a child process saving versions in a loop is killed with SIGKILL
 * at many different moments. After every kill the store holds a complete set whose key matches its
 * certificate, every stable path resolves to that same set, and the next save succeeds and clears the
 * leftovers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import { keyMatches, makeCertificate, type TestCertificate, testContext } from '../contract/fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';

const here = dirname(fileURLToPath(import.meta.url));
const KILLS = 30;

let dir: TempDir;
let sets: TestCertificate[];

before(async () => {
  dir = await tempDir('cert-renew-fs-crash-');
  sets = [await makeCertificate('web'), await makeCertificate('web'), await makeCertificate('web')];
});
after(async () => {
  await dir?.remove();
});

/**
 * Starts the save loop, lets it run for `delayMs` after it is ready (and, with `afterSave`, after its first
 * save completed), then SIGKILLs it.
 */
async function runAndKill(bundlesFile: string, delayMs: number, afterSave = false): Promise<void> {
  const child = spawn(process.execPath, [join(here, 'fixtures', 'fs-save-loop.js'), dir.path, bundlesFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  try {
    const awaited = afterSave ? 'saved\n' : 'ready\n';
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes(awaited)) resolve();
      });
      child.on('exit', () => reject(new Error(`the save loop exited early: ${stderr}`)));
    });
    await sleep(delayMs);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL', `the save loop died on its own: ${stderr}`);
}

test('a save killed with SIGKILL at any point leaves a complete, matching set', async (t) => {
  const context = testContext(dir.path);
  const store = new FilesystemStore(
    'crash',
    { type: 'filesystem', path: 'certs', outputs: { combined: true } },
    context,
  );
  const known = new Set(sets.map((set) => set.bundle.certPem));
  const bundlesFile = join(dir.path, 'bundles.json');
  await writeFile(bundlesFile, JSON.stringify(sets.slice(1)));
  const first = sets[0] as TestCertificate;
  await store.save('web', first.bundle, first.meta);

  const paths = store.paths('web');
  const versionsDir = join(paths.dir, 'versions');
  let switchedWhileRunning = 0;
  let leftoversSeen = 0;
  let previousTarget = await readlink(join(paths.dir, 'current'));

  for (let kill = 0; kill < KILLS; kill++) {
    // From "at once" to well into the loop, with jitter, so the kill lands on every step of a save. Every
    // fifth kill waits for a completed save first: on a loaded machine 90 ms may not see one finish.
    await runAndKill(bundlesFile, (kill * 3 + Math.random() * 10) % 90, kill % 5 === 4);

    const loaded = await store.load('web');
    assert.equal(loaded.state, 'present', loaded.state === 'unreadable' ? loaded.error : 'missing');
    if (loaded.state !== 'present') return;
    const { certPem, keyPem, chainPem } = loaded.cert;
    assert.ok(known.has(certPem), 'the certificate is one of the sets that were saved');
    assert.ok(keyMatches(certPem, keyPem), `kill ${kill}: the key matches the certificate`);
    const set = sets.find((candidate) => candidate.bundle.certPem === certPem) as TestCertificate;
    assert.equal(keyPem, set.bundle.keyPem);
    assert.deepEqual(loaded.cert.meta, set.meta);

    // Every stable name resolves, to the same set.
    assert.equal(await readFile(paths.cert, 'utf8'), certPem);
    assert.equal(await readFile(paths.chain, 'utf8'), chainPem);
    assert.equal(await readFile(paths.fullchain, 'utf8'), certPem + chainPem);
    assert.equal(await readFile(paths.privkey, 'utf8'), keyPem);
    assert.equal(await readFile(join(paths.dir, 'combined.pem'), 'utf8'), certPem + chainPem + keyPem);

    const target = await readlink(join(paths.dir, 'current'));
    if (target !== previousTarget) switchedWhileRunning++;
    const entries = await readdir(paths.dir);
    const versions = await readdir(versionsDir);
    if (entries.some((entry) => entry.endsWith('.tmp')) || versions.length > 4) leftoversSeen++;

    // The next save finishes the job and clears what the crash left.
    const next = sets[kill % sets.length] as TestCertificate;
    await store.save('web', next.bundle, next.meta);
    const after = await store.load('web');
    assert.equal(after.state === 'present' && after.cert.certPem, next.bundle.certPem);
    assert.deepEqual(
      (await readdir(paths.dir)).filter((entry) => entry.startsWith('.')),
      [],
      'no temporary files are left',
    );
    const remaining = await readdir(versionsDir);
    assert.ok(remaining.length <= 4, `at most current + 3 previous versions, found ${remaining.join(' ')}`);
    for (const version of remaining) {
      assert.deepEqual(
        (await readdir(join(versionsDir, version))).sort(),
        ['cert.pem', 'chain.pem', 'combined.pem', 'fullchain.pem', 'meta.json', 'privkey.pem'],
        `version ${version} is complete`,
      );
    }
    previousTarget = await readlink(join(paths.dir, 'current'));
  }
  t.diagnostic(
    `${KILLS} kills: the loop had switched versions ${switchedWhileRunning} times, left debris ${leftoversSeen} times`,
  );
  assert.ok(switchedWhileRunning > 0, 'some kills came after the loop had saved at least once');
});
