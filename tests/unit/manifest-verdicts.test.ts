/**
 * The verdicts kept for manifests checked in full (src/manifest/verdicts.ts): the file name's hash against
 * the same steps done with BigInts; a verdict taken only for the very same text (two texts whose hashes
 * collide included), interval and key; files refused when damaged, another bundle's, writable by others,
 * another user's, a link, a FIFO or a directory, and a directory refused when others may write it; at most
 * MAX_VERDICTS kept, the least recently written removed; files readable by their owner alone; temporary files
 * of a killed writer removed, a fresh one (another writer's) left. On real files in a temporary directory
 * (CI runs as root: the other-owner cases use chown).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Diagnostic } from '../../src/manifest/validate.js';
import {
  fnv1a64,
  keepVerdict,
  keptVerdict,
  MAX_VERDICTS,
  parseVerdict,
  useVerdictCache,
} from '../../src/manifest/verdicts.js';
import { type TempDir, tempDir } from '../harness/process.js';

let tmp: TempDir;
let dir: string;
let prefix: string;
const key = 'cert-renew code cache abc 123 456 schema 789 1011 node v20.0.0';
const DAY = 86_400_000;
const warning: Diagnostic = {
  severity: 'warning',
  file: '/etc/cert-renew/manifest.json',
  pointer: '/certificates/0/renewBefore',
  line: 3,
  column: 7,
  message: 'the renewal window is 2d',
};

before(async () => {
  tmp = await tempDir('cert-renew-verdicts-');
  dir = join(tmp.path, 'bundle');
  prefix = join(dir, 'cli.cjs.verdict.');
});
after(() => tmp?.remove());

function use(where: Partial<{ prefix: string; key: string; ownerUid: number }> = {}): void {
  useVerdictCache({ prefix, key, ownerUid: process.getuid?.() ?? 0, ...where });
}

/** A fresh bundle directory with nothing in it (as an install's, writable by its owner). */
async function emptyBundleDir(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o755 });
}

/** The verdict file of `text` at the daily interval. */
const fileOf = (text: string, interval = DAY) => `${prefix}${fnv1a64(text)}-${interval}.json`;

/** The one verdict file's path (the bundle directory holds one in the tests that call this). */
async function onlyFile(): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  assert.equal(names.length, 1, names.join(' '));
  return join(dir, names[0] as string);
}

/** FNV-1a 64 over UTF-16 code units, with BigInts. */
function reference(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash = ((hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & ((1n << 64n) - 1n);
  }
  return hash.toString(16).padStart(16, '0');
}

test('fnv1a64, which names the files, is FNV-1a 64 over the UTF-16 code units', () => {
  const texts = ['', 'a', '{"version": 1}', 'é\u{1F600}\uFEFF\uFFFF\u0000', 'x'.repeat(10_000)];
  for (let i = 0; i < 200; i++) {
    texts.push(
      String.fromCharCode(...Array.from({ length: i * 7 }, (_, j) => (i * 7919 + j * 104729) % 0x10000)),
    );
  }
  for (const text of texts) assert.equal(fnv1a64(text), reference(text), JSON.stringify(text.slice(0, 20)));
  assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
});

test('no location named (a build from tsc alone): nothing is kept or found', async () => {
  await emptyBundleDir();
  useVerdictCache(undefined);
  keepVerdict('{}', DAY, []);
  assert.equal(keptVerdict('{}', DAY, 'm.json'), undefined);
  assert.deepEqual(await readdir(dir), []);
});

test('a verdict is found for the same text and interval only, with its warnings and the path given now', async () => {
  await emptyBundleDir();
  use();
  const text = '{"version": 1, "certificates": []}';
  assert.equal(keptVerdict(text, DAY, 'a.json'), undefined);
  keepVerdict(text, DAY, [warning]);
  const file = await onlyFile();
  assert.equal(file, fileOf(text));
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'the manifest’s text is in it: its owner’s alone');
  assert.equal(JSON.parse(await readFile(file, 'utf8')).text, text);
  assert.deepEqual(keptVerdict(text, DAY, 'other/path.json'), [{ ...warning, file: 'other/path.json' }]);
  assert.equal(keptVerdict(text, DAY / 2, 'a.json'), undefined, 'another interval: checked again');
  assert.equal(keptVerdict(text.replace('1', '2'), DAY, 'a.json'), undefined, 'one character changed');
  assert.equal(keptVerdict(`\uFEFF${text}`, DAY, 'a.json'), undefined, 'a byte-order mark more');
  use({ key: `${key}x` });
  assert.equal(keptVerdict(text, DAY, 'a.json'), undefined, 'another bundle, checks, schema or node: none');
});

test('a text whose hash is another kept text’s is not taken for it', async () => {
  await emptyBundleDir();
  use();
  const kept = '{"version": 1}';
  keepVerdict(kept, DAY, [warning]);
  // The first text's verdict where another text's would be found (as a colliding hash would find it).
  const other = '{"version": 9}';
  await writeFile(fileOf(other), await readFile(fileOf(kept)), { mode: 0o600 });
  assert.equal(keptVerdict(other, DAY, 'm'), undefined, 'the text decides, not the name');
  assert.deepEqual(keptVerdict(kept, DAY, 'm'), [{ ...warning, file: 'm' }]);
});

test(`at most ${MAX_VERDICTS} verdicts, the least recently written removed; temporary files of killed writers removed`, async () => {
  await emptyBundleDir();
  await writeFile(join(dir, 'cli.cjs'), '// the bundle: never touched');
  use();
  const texts = Array.from({ length: MAX_VERDICTS + 3 }, (_, i) => `{"n": ${i}}`);
  for (const [i, text] of texts.entries()) {
    keepVerdict(text, DAY, []);
    // Distinct mtimes, oldest first, whatever the file system's timestamp granularity.
    const at = new Date(Date.UTC(2026, 0, 1, 0, i));
    await utimes(fileOf(text), at, at);
  }
  keepVerdict(texts[0] as string, DAY, [warning]); // written again: the most recent now
  assert.equal(
    (await readdir(dir)).filter((name) => name.startsWith('cli.cjs.verdict.')).length,
    MAX_VERDICTS,
  );
  assert.deepEqual(keptVerdict(texts[0] as string, DAY, 'm'), [{ ...warning, file: 'm' }]);
  // The 17th, 18th and 19th writes removed the three oldest; writing the first again, the next oldest.
  for (const gone of texts.slice(1, 4)) assert.equal(keptVerdict(gone, DAY, 'm'), undefined, gone);
  assert.deepEqual(keptVerdict(texts[4] as string, DAY, 'm'), []);
  assert.deepEqual(keptVerdict(texts.at(-1) as string, DAY, 'm'), []);
  // A killed writer's temporary file (a pid above Linux's pid_max: no such process) is removed by the next
  // write; one of a writer that exists (init, pid 1) is left.
  const stale = `${fileOf('x')}.4194305-abc.tmp`;
  const fresh = `${fileOf('y')}.1-def.tmp`;
  await writeFile(stale, '');
  await writeFile(fresh, '');
  keepVerdict('{"n": "last"}', DAY, []);
  const names = await readdir(dir);
  assert.ok(!names.includes(stale.slice(dir.length + 1)), 'the stale one is gone');
  assert.ok(names.includes(fresh.slice(dir.length + 1)), 'another writer’s is left');
  assert.ok(names.includes('cli.cjs'), 'nothing but its own files is touched');
});

test('a damaged file, or one not as written, holds no verdict', () => {
  const good = { format: 1, key, intervalMs: DAY, warnings: [], text: '{}' };
  const texts: [string, string][] = [
    ['not JSON', '{"format": 1,'],
    ['empty', ''],
    ['another format', JSON.stringify({ ...good, format: 2 })],
    ['another key', JSON.stringify({ ...good, key: 'k' })],
    ['no text', JSON.stringify({ ...good, text: undefined })],
    ['an interval not an integer', JSON.stringify({ ...good, intervalMs: '1' })],
    [
      'an error among the warnings',
      JSON.stringify({ ...good, warnings: [{ ...warning, severity: 'error' }] }),
    ],
    [
      'a warning with more than one holds',
      JSON.stringify({ ...good, warnings: [{ ...warning, hint: 'x' }] }),
    ],
  ];
  for (const [what, text] of texts) assert.equal(parseVerdict(text, key), undefined, what);
  assert.deepEqual(parseVerdict(JSON.stringify(good), key), good);
});

test('a file others may write, another user’s, a link, a FIFO or a directory is no verdict; a file is replaced', async () => {
  const text = '{"version": 1}';
  const plant = async () => {
    await emptyBundleDir();
    use();
    keepVerdict(text, DAY, [warning]);
    return onlyFile();
  };
  for (const mode of [0o666, 0o620, 0o602]) {
    const file = await plant();
    await chmod(file, mode);
    assert.equal(keptVerdict(text, DAY, 'm'), undefined, mode.toString(8));
    keepVerdict(text, DAY, []);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'replaced');
  }
  if (process.getuid?.() === 0) {
    const file = await plant();
    await chown(file, 65534, 65534);
    use({ ownerUid: 0 });
    assert.equal(keptVerdict(text, DAY, 'm'), undefined, "another user's file");
    // The bundle's owner's file is taken (an install owned by a user, run by root).
    use({ ownerUid: 65534 });
    assert.deepEqual(keptVerdict(text, DAY, 'm'), [{ ...warning, file: 'm' }]);
  }
  const file = await plant();
  const elsewhere = join(tmp.path, 'elsewhere.json');
  await rm(elsewhere, { force: true });
  await writeFile(elsewhere, await readFile(file), { mode: 0o600 });
  await rm(file);
  await symlink(elsewhere, file);
  assert.equal(keptVerdict(text, DAY, 'm'), undefined, 'never through a link');
  await rm(file);
  execFileSync('mkfifo', [file]);
  assert.equal(keptVerdict(text, DAY, 'm'), undefined, 'a FIFO is not waited on');
  await rm(file);
  await mkdir(file);
  assert.equal(keptVerdict(text, DAY, 'm'), undefined);
  keepVerdict(text, DAY, []);
  assert.deepEqual(await readdir(file), [], 'nothing written into a directory in its place');
  assert.deepEqual(
    (await readdir(dir)).filter((name) => name.endsWith('.tmp')),
    [],
    'no temporary file left beside it',
  );
});
