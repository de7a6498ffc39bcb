/**
 * The verdicts kept for manifests checked in full (src/manifest/verdicts.ts): the text's hash against the
 * same steps done with BigInts; a verdict found only for the same text, interval and key; the file refused
 * when damaged, another bundle's, writable by others, another user's, a FIFO or a directory; at most
 * MAX_VERDICTS kept, the most recent first; written readable by its owner alone, with no temporary file left.
 * On real files in a temporary directory (the process runs as root in CI: the other-owner case uses chown).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Diagnostic } from '../../src/manifest/validate.js';
import {
  checkedInFull,
  fnv1a64,
  keepVerdict,
  keptVerdict,
  MAX_VERDICTS,
  parseVerdicts,
  useVerdictCache,
} from '../../src/manifest/verdicts.js';
import { type TempDir, tempDir } from '../harness/process.js';

let tmp: TempDir;
let file: string;
const key = 'cert-renew code cache abc 123 456 schema 789 1011';
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
  file = join(tmp.path, 'cli.cjs.manifests');
});
after(() => tmp?.remove());

/** A new process's view: the cache named again, nothing read yet. */
function fresh(where = { file, key, ownerUid: process.getuid?.() ?? 0 }): void {
  useVerdictCache(where);
}

/** FNV-1a 64 over UTF-16 code units, with BigInts. */
function reference(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash = ((hash ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & ((1n << 64n) - 1n);
  }
  return hash.toString(16).padStart(16, '0');
}

test('fnv1a64 is FNV-1a 64 over the UTF-16 code units', () => {
  const texts = ['', 'a', '{"version": 1}', 'é\u{1F600}\uFEFF\uFFFF\u0000', 'x'.repeat(10_000)];
  for (let i = 0; i < 200; i++) {
    texts.push(
      String.fromCharCode(...Array.from({ length: i * 7 }, (_, j) => (i * 7919 + j * 104729) % 0x10000)),
    );
  }
  for (const text of texts) assert.equal(fnv1a64(text), reference(text), JSON.stringify(text.slice(0, 20)));
  // Known value: FNV-1a 64 of "a" (one code unit, 0x61).
  assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
});

test('no cache named (a build from tsc alone): nothing is kept or found', async () => {
  useVerdictCache(undefined);
  keepVerdict('{}', DAY, []);
  assert.equal(keptVerdict('{}', DAY, 'm.json'), undefined);
  assert.deepEqual(await readdir(tmp.path), []);
  assert.equal(checkedInFull(), true, 'a full check is a full check, cache or not');
});

test('a verdict is found for the same text and interval only, with its warnings and the path given now', async () => {
  fresh();
  const text = '{"version": 1, "certificates": []}';
  assert.equal(keptVerdict(text, DAY, 'a.json'), undefined);
  keepVerdict(text, DAY, [warning]);
  const written = await stat(file);
  assert.equal(written.mode & 0o777, 0o600, 'readable by its owner alone: warnings echo the manifest');
  assert.deepEqual(await readdir(tmp.path), ['cli.cjs.manifests'], 'no temporary file left');
  fresh();
  assert.deepEqual(keptVerdict(text, DAY, 'other/path.json'), [{ ...warning, file: 'other/path.json' }]);
  assert.equal(keptVerdict(text, DAY / 2, 'a.json'), undefined, 'another interval: checked again');
  assert.equal(keptVerdict(text.replace('1', '2'), DAY, 'a.json'), undefined, 'one character changed');
  assert.equal(keptVerdict(`${text} `, DAY, 'a.json'), undefined, 'one character more');
  fresh({ file, key: `${key}x`, ownerUid: 0 });
  assert.equal(keptVerdict(text, DAY, 'a.json'), undefined, 'another bundle or schema: none');
});

test(`at most ${MAX_VERDICTS} verdicts, the most recent first; the same text again is not kept twice`, async () => {
  await rm(file, { force: true });
  fresh();
  const texts = Array.from({ length: MAX_VERDICTS + 3 }, (_, i) => `{"n": ${i}}`);
  for (const text of texts) keepVerdict(text, DAY, []);
  keepVerdict(texts[5] as string, DAY, [warning]);
  const kept = parseVerdicts(await readFile(file, 'utf8'), key);
  assert.equal(kept.length, MAX_VERDICTS);
  assert.equal(kept[0]?.fnv, fnv1a64(texts[5] as string));
  assert.equal(kept.filter((v) => v.fnv === fnv1a64(texts[5] as string)).length, 1);
  fresh();
  assert.equal(keptVerdict(texts[0] as string, DAY, 'm'), undefined, 'the oldest went');
  assert.deepEqual(keptVerdict(texts[5] as string, DAY, 'm'), [{ ...warning, file: 'm' }]);
  assert.deepEqual(keptVerdict(texts.at(-1) as string, DAY, 'm'), []);
});

test('a damaged file, or one with any entry not as written, holds no verdict', () => {
  const good = { length: 2, fnv: fnv1a64('{}'), intervalMs: DAY, warnings: [] };
  const texts: [string, string][] = [
    ['not JSON', '{"format": 1,'],
    ['empty', ''],
    ['another format', JSON.stringify({ format: 2, key, verdicts: [good] })],
    ['another key', JSON.stringify({ format: 1, key: 'k', verdicts: [good] })],
    ['verdicts not a list', JSON.stringify({ format: 1, key, verdicts: good })],
    ['a hash not of 16 hex digits', JSON.stringify({ format: 1, key, verdicts: [{ ...good, fnv: 'abc' }] })],
    ['a length not an integer', JSON.stringify({ format: 1, key, verdicts: [{ ...good, length: '2' }] })],
    [
      'an error among the warnings',
      JSON.stringify({
        format: 1,
        key,
        verdicts: [{ ...good, warnings: [{ ...warning, severity: 'error' }] }],
      }),
    ],
    [
      'a warning with more than a warning holds',
      JSON.stringify({
        format: 1,
        key,
        verdicts: [good, { ...good, warnings: [{ ...warning, hint: 'x' }] }],
      }),
    ],
  ];
  for (const [what, text] of texts) assert.deepEqual(parseVerdicts(text, key), [], what);
  assert.equal(parseVerdicts(JSON.stringify({ format: 1, key, verdicts: [good] }), key).length, 1);
});

test('a file others may write, another user owns, a FIFO or a directory is no verdict; it is replaced when it can be', async () => {
  const text = '{"version": 1}';
  const plant = async () => {
    await rm(file, { recursive: true, force: true });
    fresh();
    keepVerdict(text, DAY, [warning]);
  };
  for (const mode of [0o666, 0o620, 0o602]) {
    await plant();
    await chmod(file, mode);
    fresh();
    assert.equal(keptVerdict(text, DAY, 'm'), undefined, mode.toString(8));
    keepVerdict(text, DAY, []);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'replaced');
  }
  if (process.getuid?.() === 0) {
    await plant();
    await chown(file, 65534, 65534);
    fresh({ file, key, ownerUid: 0 });
    assert.equal(keptVerdict(text, DAY, 'm'), undefined, "another user's file");
    // The bundle's owner's file is taken (an install owned by a user, run by root).
    fresh({ file, key, ownerUid: 65534 });
    assert.deepEqual(keptVerdict(text, DAY, 'm'), [{ ...warning, file: 'm' }]);
  }
  await rm(file, { force: true });
  execFileSync('mkfifo', [file]);
  fresh();
  assert.equal(keptVerdict(text, DAY, 'm'), undefined, 'a FIFO is not waited on');
  await rm(file);
  await mkdir(file);
  fresh();
  assert.equal(keptVerdict(text, DAY, 'm'), undefined);
  keepVerdict(text, DAY, []);
  assert.deepEqual(await readdir(file), [], 'nothing written into the directory');
  assert.deepEqual(await readdir(tmp.path), ['cli.cjs.manifests'], 'no temporary file beside it');
  await rm(file, { recursive: true });
});
