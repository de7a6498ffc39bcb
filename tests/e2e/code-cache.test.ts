/**
 * bin/cert-renew runs the bundle (dist/bundle/cli.cjs) from a V8 code cache beside it, cli.cjs.cache,
 * which the first run that does work (not a help screen, not a command refused with exit 2) writes and later
 * runs reuse. Observed through the
 * file alone, on a copy of the built install (bin/, dist/bundle/, package.json, schemas/; node_modules
 * linked) so other tests' runs of the repository's CLI cannot touch it: the cache is created by the first
 * run and left alone by the next; garbage, a truncated or damaged cache, or one made for another bundle
 * (another digest, another mtime) is never used and is replaced; a directory the user cannot write (a root-owned
 * install run by a monitoring user) runs the same and writes nothing; a FIFO in place of the cache does not hold the run; a run
 * over thousands of certificates, which changes V8's heap flags while it runs, leaves a cache that runs with
 * V8's default flags take. Every run gives the same output and
 * an empty stderr. The manifest validator compiled at build time is inside the bundle, used only for the
 * schema it was compiled from.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  cp,
  mkdir,
  mkdtemp,
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
import { runCommand, type TempDir, tempDir } from '../harness/process.js';
import { cliEnv, REPO } from './cli.js';

let tmp: TempDir;
let install: string;
let bundleDir: string;
let cacheFile: string;
let work: string;

before(async () => {
  tmp = await tempDir('cert-renew-code-cache-');
  install = join(tmp.path, 'install');
  bundleDir = join(install, 'dist', 'bundle');
  cacheFile = join(bundleDir, 'cli.cjs.cache');
  await mkdir(bundleDir, { recursive: true });
  for (const entry of ['bin', 'package.json', 'schemas']) {
    await cp(join(REPO, entry), join(install, entry), { recursive: true });
  }
  for (const file of ['cli.cjs', 'cli.cjs.map', 'checks.cjs'])
    await cp(join(REPO, 'dist', 'bundle', file), join(bundleDir, file));
  await chmod(join(bundleDir, 'cli.cjs'), 0o644);
  await symlink(join(REPO, 'node_modules'), join(install, 'node_modules'), 'dir');
  work = join(tmp.path, 'work');
  await mkdir(work);
  const manifest = {
    version: 1,
    defaults: { issuer: 'ca', store: 'files' },
    issuers: { ca: { type: 'local-ca' } },
    stores: { files: { type: 'filesystem', path: 'certs' } },
    certificates: [
      { name: 'www', domains: ['www.example.test'] },
      { name: 'api', domains: ['api.example.test'], renewBefore: '10d' },
    ],
  };
  await writeFile(join(work, 'manifest.json'), JSON.stringify(manifest));
  // Readable (not writable) by the unprivileged user of the last test.
  for (const dir of [tmp.path, work]) await chmod(dir, 0o755);
});
after(() => tmp?.remove());

/** One `plan --json` through the copied bin/cert-renew (as `prefix`, e.g. setpriv); its report, undated. */
async function plan(prefix: string[] = []): Promise<unknown> {
  const [command, ...args] = [...prefix, process.execPath, join(install, 'bin', 'cert-renew')];
  const result = await runCommand(command as string, [...args, '-m', 'manifest.json', 'plan', '--json'], {
    cwd: work,
    env: cliEnv(),
    timeoutMs: 60_000,
  });
  assert.equal(result.stderr, '', 'nothing on stderr');
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.ok(typeof report.generatedAt === 'string');
  delete report.generatedAt;
  return report;
}

async function cacheState(): Promise<{ ino: number; mtimeMs: number; size: number } | undefined> {
  const s = await stat(cacheFile).catch(() => undefined);
  return s && { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
}

/** The first line of the bundle (the module function's opening) ends naming it: `// cert-renew bundle <sha-256>`. */
async function bundleDigest(): Promise<string> {
  const first = (await readFile(join(bundleDir, 'cli.cjs'), 'latin1')).split('\n', 1)[0] ?? '';
  const match = /\{ \/\/ cert-renew bundle ([0-9a-f]{64})$/.exec(first);
  assert.ok(match, first);
  return match[1] as string;
}

/**
 * The cache's header line, V8's data after it, and the bundle the header names (the line but the data's
 * length and SHA-256).
 */
async function readCache(): Promise<{ header: string; data: Buffer; names: string }> {
  const bytes = await readFile(cacheFile);
  const end = bytes.indexOf(10);
  const header = bytes.toString('latin1', 0, end);
  return {
    header,
    data: bytes.subarray(end + 1),
    names: header.replace(/ \d+ (?:fnv1a64|sha256):[0-9a-f]+$/, ''),
  };
}

/**
 * The cache's checksum as bin/cert-renew writes it where WebAssembly can be used (`fnv1a64`, computed there
 * in WebAssembly), done with BigInts: FNV-1a over the bytes as little-endian 32-bit words (the last padded
 * with zeros), each xored into a 64-bit state then multiplied by FNV's 64-bit prime.
 */
function fnv1a64(bytes: Buffer): string {
  const mask = (1n << 64n) - 1n;
  let hash = 0xcbf29ce484222325n;
  const padded = Buffer.concat([bytes, Buffer.alloc(3)]);
  for (let i = 0; i < bytes.length; i += 4)
    hash = ((hash ^ BigInt(padded.readUInt32LE(i))) * 0x100000001b3n) & mask;
  return `fnv1a64:${hash.toString(16).padStart(16, '0')}`;
}

/**
 * Only the bundle (its map, its checks) and (when `cache`) the cache: no temp file left behind. The
 * manifests' verdicts beside them (cli.cjs.verdict.*.json) are tests/e2e/manifest-verdicts.test.ts's.
 */
async function assertBundleDir(cache: boolean): Promise<void> {
  const bundle = ['checks.cjs', 'cli.cjs', 'cli.cjs.map'];
  assert.deepEqual(
    (await readdir(bundleDir)).filter((name) => !name.startsWith(VERDICTS)).sort(),
    cache ? [...bundle, 'cli.cjs.cache'].sort() : bundle,
  );
}

/** Whether a verdict file is beside the bundle. */
async function hasVerdicts(): Promise<boolean> {
  return (await readdir(bundleDir)).some((name) => name.startsWith(VERDICTS));
}

/** How the manifests' verdict files' names start. */
const VERDICTS = 'cli.cjs.verdict.';

let expected: unknown;

test('the first run writes the cache beside the bundle; the next run uses it and leaves it as it is', async () => {
  await assertBundleDir(false);
  // Help screens compile little of the CLI: they leave the cache to the first run that does work.
  for (const args of [['--help'], ['help', 'plan'], ['plan', '-h']]) {
    const help = await runCommand(process.execPath, [join(install, 'bin', 'cert-renew'), ...args], {
      cwd: work,
      env: cliEnv(),
    });
    assert.match(help.stdout, /^Usage: cert-renew/);
    await assertBundleDir(false);
  }
  // So do commands refused before they start (exit 2): a mistyped command, a manifest that is not there, one
  // that is not valid. An operator's first tries after installing must not leave a cache of little.
  await writeFile(join(work, 'invalid.json'), JSON.stringify({ version: 1, certificates: 'none' }));
  for (const args of [['plna'], ['-m', 'missing.json', 'plan'], ['-m', 'invalid.json', 'status']]) {
    await assert.rejects(
      runCommand(process.execPath, [join(install, 'bin', 'cert-renew'), ...args], {
        cwd: work,
        env: cliEnv(),
      }),
      /failed \(2\): (error|cert-renew): /,
      args.join(' '),
    );
    await assertBundleDir(false);
  }
  // Commands other than the daily ones (run, plan, status) never write it: `validate` in CI, one-offs.
  const validate = await runCommand(
    process.execPath,
    [join(install, 'bin', 'cert-renew'), '-m', 'manifest.json', 'validate'],
    { cwd: work, env: cliEnv() },
  );
  assert.match(validate.stdout, /valid/);
  await assertBundleDir(false);
  assert.equal(await hasVerdicts(), false, 'no verdict kept by validate');
  expected = await plan();
  await assertBundleDir(true);
  assert.ok(await hasVerdicts(), 'the manifest is known valid from now on');
  const written = await cacheState();
  const bundle = await stat(join(bundleDir, 'cli.cjs'));
  const { header, data } = await readCache();
  assert.equal(
    header,
    `cert-renew code cache ${await bundleDigest()} ${bundle.size} ${bundle.mtimeMs} plan ${data.length} ${fnv1a64(data)}`,
  );
  assert.ok(data.length > 1000, 'V8 data follows the header');
  assert.equal((await stat(cacheFile)).mode & 0o777, 0o644, 'as readable as the bundle');

  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), written, 'not rewritten: V8 accepted it');
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), written);
  await assertBundleDir(true);
});

test('a daily command the cache was not written for adds its functions once; other commands never rewrite it', async () => {
  const cli = (...args: string[]) =>
    runCommand(process.execPath, [join(install, 'bin', 'cert-renew'), '-m', 'manifest.json', ...args], {
      cwd: work,
      env: cliEnv(),
    });
  await rm(cacheFile, { force: true });
  assert.deepEqual(await plan(), expected);
  const planOnly = await readCache();
  assert.match(planOnly.header, / plan \d+ fnv1a64:/);
  // `status` (monitoring) is a daily command too: it rewrites the cache once, for both, bigger by its code.
  await cli('status');
  const both = await readCache();
  assert.match(both.header, / plan,status \d+ fnv1a64:/);
  assert.ok(both.data.length > planOnly.data.length, 'the functions status compiled are in it');
  const written = await cacheState();
  for (const args of [['status'], ['plan'], ['validate'], ['status', '--json']]) {
    await cli(...args);
    assert.deepEqual(await cacheState(), written, `${args.join(' ')} leaves it`);
  }
  // A header naming a command that is not a daily one is not this bin's: refused and rewritten.
  const bytes = await readFile(cacheFile);
  const end = bytes.indexOf(10);
  const header = bytes.toString('latin1', 0, end).replace(' plan,status ', ' plan,validate ');
  await writeFile(cacheFile, Buffer.concat([Buffer.from(header), bytes.subarray(end)]));
  const planted = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.notDeepEqual(await cacheState(), planted);
  assert.match((await readCache()).header, / plan \d+ fnv1a64:/);
});

/** The bytes with the first byte of three consecutive words in V8's data changed by +1, -2 and +1. */
function cancelling(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  const start = copy.indexOf(10) + 1;
  // A byte that can take +1 and -2 without carrying into the next one, in the middle of the data.
  let at = start + Math.floor((copy.length - start) / 2);
  while (!((copy[at] as number) < 255 && (copy[at + 4] as number) >= 2 && (copy[at + 8] as number) < 255))
    at++;
  copy[at] = (copy[at] as number) + 1;
  copy[at + 4] = (copy[at + 4] as number) - 2;
  copy[at + 8] = (copy[at + 8] as number) + 1;
  return copy;
}

/** The bytes with one bit of the byte at `fraction` of V8's data changed. */
function flipped(bytes: Buffer, fraction: number, bit = 0x20): Buffer {
  const copy = Buffer.from(bytes);
  const start = copy.indexOf(10) + 1;
  const at = Math.min(start + Math.floor((copy.length - start) * fraction), copy.length - 1);
  copy[at] = (copy[at] as number) ^ bit;
  return copy;
}

test('garbage, a truncated or damaged cache, or data that is not V8 data is never used, and is replaced', async () => {
  const good = await readCache();
  const corruptions: [string, Buffer][] = [
    ['garbage', randomBytes(good.data.length + 200)],
    ['truncated', (await readFile(cacheFile)).subarray(0, 200 + Math.floor(good.data.length / 2))],
    [
      'a right header over random bytes',
      Buffer.concat([Buffer.from(`${good.header}\n`), randomBytes(good.data.length)]),
    ],
    ['empty', Buffer.alloc(0)],
    ['one byte of the data changed', flipped(await readFile(cacheFile), 0.75)],
    ['its first byte changed', flipped(await readFile(cacheFile), 0, 0x01)],
    ['its last byte changed', flipped(await readFile(cacheFile), 1, 0x80)],
    ['a byte near the start changed', flipped(await readFile(cacheFile), 0.01, 0x80)],
    // +1, -2, +1 in one byte of three words in a row: what a checksum of sums (Fletcher's) does not see.
    ['three words changed so that their sums cancel', cancelling(await readFile(cacheFile))],
  ];
  for (const [what, bytes] of corruptions) {
    await writeFile(cacheFile, bytes);
    const before = await cacheState();
    assert.deepEqual(await plan(), expected, what);
    const after = await cacheState();
    assert.notDeepEqual(after, before, `${what}: rewritten`);
    assert.equal((await readCache()).names, good.names, what);
    assert.deepEqual(await cacheState(), after);
    await plan();
    assert.deepEqual(await cacheState(), after, `${what}: the rewritten cache is used`);
  }
  await assertBundleDir(true);
});

test('without WebAssembly (node --jitless) or with a limited address space (ulimit -v), the checksum is SHA-256; runs are the same', async () => {
  // Under `ulimit -v` V8 cannot reserve the ~10 GB a WebAssembly memory takes (under ~1 GB node then aborted
  // starting its threads): bin/cert-renew does not try, and checks the cache with node:crypto instead.
  const limited = (...args: string[]) =>
    runCommand(
      '/bin/sh',
      [
        '-c',
        'ulimit -v 2000000 && exec "$0" "$@"',
        process.execPath,
        join(install, 'bin', 'cert-renew'),
        ...args,
      ],
      { cwd: work, env: cliEnv() },
    );
  const jitless = (...args: string[]) =>
    runCommand(process.execPath, ['--jitless', join(install, 'bin', 'cert-renew'), ...args], {
      cwd: work,
      env: cliEnv(),
    });
  for (const [what, run] of [
    ['ulimit -v', limited],
    ['--jitless', jitless],
  ] as const) {
    for (let i = 0; i < 2; i++) {
      const before = await cacheState();
      const result = await run('-m', 'manifest.json', 'plan', '--json');
      // V8 says it itself, on stderr, when it starts with --jitless: nothing else is written there.
      assert.equal(
        result.stderr.replace(/^Warning: disabling flag --expose_wasm due to conflicting flags\n/, ''),
        '',
      );
      const report = JSON.parse(result.stdout) as Record<string, unknown>;
      delete report.generatedAt;
      assert.deepEqual(report, expected, what);
      const { header, data } = await readCache();
      assert.match(header, / sha256:[0-9a-f]{64}$/, what);
      assert.equal(
        header.slice(header.lastIndexOf(':') + 1),
        createHash('sha256').update(data).digest('hex'),
      );
      if (i === 0) assert.notDeepEqual(await cacheState(), before, `${what}: rewritten with SHA-256`);
      else assert.deepEqual(await cacheState(), before, `${what}: the second run takes it`);
    }
  }
  // A run that can use WebAssembly takes no SHA-256 cache: it writes its own.
  assert.deepEqual(await plan(), expected);
  assert.match((await readCache()).header, / fnv1a64:[0-9a-f]{16}$/);
  const written = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), written);
  await assertBundleDir(true);
});

test('bin/cert-renew required from `node -e` (whose globals include module and exports) runs the command', async () => {
  const result = await runCommand(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(join(install, 'bin', 'cert-renew'))})`,
      'x',
      '-m',
      'manifest.json',
      'plan',
      '--json',
    ],
    { cwd: work, env: cliEnv() },
  );
  assert.equal(result.stderr, '');
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  delete report.generatedAt;
  assert.deepEqual(report, expected);
});

test('a cache made for another bundle (another digest, another mtime) is ignored and replaced', async () => {
  const good = await readCache();
  // The same V8 data, which V8 alone would take (it checks only the source's length), named for another bundle.
  const otherDigest = good.header.replace(await bundleDigest(), 'f'.repeat(64));
  assert.notEqual(otherDigest, good.header);
  await writeFile(cacheFile, Buffer.concat([Buffer.from(`${otherDigest}\n`), good.data]));
  const planted = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.notDeepEqual(await cacheState(), planted, 'rewritten');
  assert.equal((await readCache()).names, good.names);

  // A reinstall: the same bundle path with another mtime. The cache for the old file is replaced.
  const kept = await cacheState();
  await utimes(
    join(bundleDir, 'cli.cjs'),
    new Date('2030-01-02T03:04:05Z'),
    new Date('2030-01-02T03:04:05Z'),
  );
  assert.deepEqual(await plan(), expected);
  const renewed = await cacheState();
  assert.notDeepEqual(renewed, kept, 'rewritten for the new mtime');
  assert.match(
    (await readCache()).header,
    new RegExp(` ${Date.parse('2030-01-02T03:04:05Z')} plan \\d+ fnv1a64:[0-9a-f]{16}$`),
  );
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), renewed);
});

test('a cache others may write, or another user owns, is never run: it is replaced', async () => {
  const good = await readFile(cacheFile);
  // Group- or world-writable: anyone could have put code there.
  for (const mode of [0o666, 0o664, 0o646]) {
    await writeFile(cacheFile, good);
    await chmod(cacheFile, mode);
    const before = await cacheState();
    assert.deepEqual(await plan(), expected, mode.toString(8));
    assert.notDeepEqual(await cacheState(), before, `mode ${mode.toString(8)}: replaced`);
    assert.equal((await stat(cacheFile)).mode & 0o777, 0o644, 'the new cache is writable by its owner only');
  }
  // Owned by a user who is neither the bundle's owner (root) nor the one running (root).
  await writeFile(cacheFile, good);
  await chown(cacheFile, 65534, 65534);
  const planted = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.notDeepEqual(await cacheState(), planted, "another user's cache: replaced");
  assert.equal((await stat(cacheFile)).uid, process.getuid?.());
  const kept = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), kept, 'the replacement is used');
});

test('a FIFO in place of the cache is never opened for reading as a file: the run goes on and replaces it', async () => {
  // Anyone who may write the directory can make one; a blocking open of it would hold the run forever
  // (plan's 60 s hang guard fails the test then).
  await rm(cacheFile);
  await runCommand('mkfifo', [cacheFile]);
  assert.ok((await stat(cacheFile)).isFIFO());
  assert.deepEqual(await plan(), expected);
  assert.ok((await stat(cacheFile)).isFile(), 'replaced by a cache file');
  const kept = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), kept, 'the replacement is used');
});

test('a bundle directory the user cannot write: runs the same, writes nothing, says nothing', async () => {
  // As root (who ignores modes) the CLI runs as nobody, as a monitoring user over a root-owned install.
  const prefix =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  // A cache written by root under a strict umask (a root crontab) is as readable as the bundle.
  await writeFile(cacheFile, 'stale');
  await runCommand(
    'sh',
    [
      '-c',
      'umask 077 && exec "$@"',
      'sh',
      process.execPath,
      join(install, 'bin', 'cert-renew'),
      '-m',
      'manifest.json',
      'plan',
    ],
    {
      cwd: work,
      env: cliEnv(),
      timeoutMs: 60_000,
    },
  );
  assert.equal((await stat(cacheFile)).mode & 0o777, 0o644);
  await chmod(bundleDir, 0o555);
  try {
    const present = await cacheState();
    assert.deepEqual(await plan(prefix), expected);
    assert.deepEqual(await cacheState(), present, 'a valid cache is read, not rewritten');
    await writeFile(cacheFile, 'garbage');
    const garbage = await cacheState();
    assert.deepEqual(await plan(prefix), expected);
    assert.deepEqual(
      await cacheState(),
      garbage,
      'an invalid cache is not replaced: the directory is closed',
    );
    await chmod(bundleDir, 0o755);
    await rm(cacheFile);
    await chmod(bundleDir, 0o555);
    assert.deepEqual(await plan(prefix), expected);
    await assertBundleDir(false);
  } finally {
    await chmod(bundleDir, 0o755);
  }
});

test('a version screen writes no cache; a root-owned cache is taken by the package owner; a directory there costs nothing', async () => {
  const cli = (prefix: string[], ...args: string[]) => {
    const [command, ...rest] = [...prefix, process.execPath, join(install, 'bin', 'cert-renew')];
    return runCommand(command as string, [...rest, '-m', 'manifest.json', ...args], {
      cwd: work,
      env: cliEnv(),
    });
  };
  await rm(cacheFile, { force: true });
  // `plan -V` prints the version: were its little code cached for `plan`, no later plan would add its own.
  for (const flag of ['-V', '--version']) {
    await cli([], 'plan', flag);
    await assertBundleDir(false);
  }
  // The package owned by a user (an install under its home), the cache by root (`plan` run once as root):
  // the owner takes root's cache rather than rewriting it, which root would then rewrite in turn.
  if (process.getuid?.() === 0) {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    assert.deepEqual(await plan(), expected);
    const rootCache = await cacheState();
    await chown(bundleDir, 65534, 65534);
    await chown(join(bundleDir, 'cli.cjs'), 65534, 65534);
    try {
      assert.deepEqual(await plan(nobody), expected);
      assert.deepEqual(await cacheState(), rootCache, "root's cache taken, not rewritten");
      assert.equal((await stat(cacheFile)).uid, 0);
    } finally {
      await chown(join(bundleDir, 'cli.cjs'), 0, 0);
      await chown(bundleDir, 0, 0);
    }
  }
  // A directory where the cache belongs: nothing can replace it; runs go on and leave nothing behind.
  await rm(cacheFile, { force: true });
  await mkdir(cacheFile);
  try {
    assert.deepEqual(await plan(), expected);
    assert.deepEqual(await readdir(cacheFile), []);
    await assertBundleDir(true);
  } finally {
    await rm(cacheFile, { recursive: true });
  }
  assert.deepEqual(await plan(), expected);
  await assertBundleDir(true);
});

test('the bundled validator serves only the schema it was compiled from; another schema is compiled at run time', async () => {
  /** Whether a run compiled ajv (the run-time fallback), from V8's list of the scripts it compiled. */
  async function compilesSchema(): Promise<boolean> {
    const coverage = await mkdtemp(join(tmp.path, 'coverage-'));
    const [command, ...args] = [process.execPath, join(install, 'bin', 'cert-renew')];
    const result = await runCommand(command as string, [...args, 'validate', 'manifest.json'], {
      cwd: work,
      env: cliEnv({ NODE_V8_COVERAGE: coverage }),
      timeoutMs: 60_000,
    });
    assert.equal(result.stderr, '');
    let urls = '';
    for (const file of await readdir(coverage)) urls += await readFile(join(coverage, file), 'utf8');
    assert.match(urls, /\/dist\/bundle\/cli\.cjs"/, 'the bundle ran');
    return urls.includes('/node_modules/ajv/dist/2020.js"');
  }
  const schema = join(install, 'schemas', 'certificate-manifest.schema.json');
  const shipped = await readFile(schema, 'utf8');
  await rm(cacheFile, { force: true });
  assert.equal(await compilesSchema(), false, 'the bundled validator, no ajv');
  // While V8 collects coverage, its bytecode is instrumented: no cache is written (nor read).
  await assertBundleDir(false);
  try {
    await writeFile(schema, `${shipped}\n`); // another text (one newline more)
    assert.equal(await compilesSchema(), true, 'ajv compiles the shipped schema');
    assert.deepEqual(await plan(), expected);
  } finally {
    await writeFile(schema, shipped);
  }
});

test('runs at once with no cache: each writes its own temp file and renames it; the cache is whole', async () => {
  await rm(cacheFile, { force: true });
  const reports = await Promise.all(Array.from({ length: 4 }, () => plan()));
  for (const report of reports) assert.deepEqual(report, expected);
  await assertBundleDir(true);
  const { header, data } = await readCache();
  const bundle = await stat(join(bundleDir, 'cli.cjs'));
  assert.equal(
    header,
    `cert-renew code cache ${await bundleDigest()} ${bundle.size} ${bundle.mtimeMs} plan ${data.length} ${fnv1a64(data)}`,
  );
  const written = await cacheState();
  assert.deepEqual(await plan(), expected);
  assert.deepEqual(await cacheState(), written, 'V8 accepted it');
});

test('the bundle run as a program (node …/cli.cjs run) refuses with exit 2 and names bin/cert-renew', async () => {
  // It only defines the CLI: a unit file whose ExecStart names it instead of bin/cert-renew would otherwise
  // exit 0 having done nothing, a timer that never renews.
  const written = await cacheState();
  await assert.rejects(
    runCommand(process.execPath, [join(bundleDir, 'cli.cjs'), '-m', 'manifest.json', 'run'], {
      cwd: work,
      env: cliEnv(),
    }),
    /failed \(2\): cert-renew: this file is loaded by bin\/cert-renew; run that \(the cert-renew command\) instead$/,
  );
  assert.deepEqual(
    (await readdir(work)).sort(),
    ['invalid.json', 'manifest.json'],
    'nothing issued or stored',
  );
  assert.deepEqual(await cacheState(), written, 'the cache is left as it is');
  // bin/cert-renew, loading the same file (with or without the code cache), runs the command.
  assert.deepEqual(await plan(), expected);
  const sourceMaps = await runCommand(
    process.execPath,
    [join(install, 'bin', 'cert-renew'), '-m', 'manifest.json', 'validate'],
    { cwd: work, env: { ...cliEnv(), NODE_OPTIONS: '--enable-source-maps' } },
  );
  assert.match(sourceMaps.stdout, /manifest\.json: valid \(2 certificates\)/);
});

test('a run over thousands of certificates (V8 heap flags changed while it runs) leaves a cache small runs take', async () => {
  // runtime/heap.ts changes two of V8's flags for a manifest of 1,000 certificates or more, and V8 keys a
  // code cache to the flags in force: the command sets them back before bin/cert-renew writes the cache.
  const big = join(work, 'big.json');
  await writeFile(
    big,
    JSON.stringify({
      version: 1,
      defaults: { issuer: 'ca', store: 'files' },
      issuers: { ca: { type: 'local-ca' } },
      stores: { files: { type: 'filesystem', path: 'big-certs' } },
      certificates: Array.from({ length: 1000 }, (_, i) => ({
        name: `c${i}`,
        domains: [`c${i}.example.test`],
      })),
    }),
  );
  try {
    await rm(cacheFile, { force: true });
    const result = await runCommand(
      process.execPath,
      [join(install, 'bin', 'cert-renew'), '-m', 'big.json', '-v', 'plan', '--json'],
      { cwd: work, env: cliEnv(), timeoutMs: 120_000 },
    );
    assert.match(result.stderr, /at least 1000 certificates: V8's heap kept tight for this run/);
    const report = JSON.parse(result.stdout) as { summary: { total: number; renew: number } };
    assert.deepEqual([report.summary.total, report.summary.renew], [1000, 1000]);
    const written = await cacheState();
    assert.ok(written, 'the large run wrote the cache');
    assert.deepEqual(await plan(), expected);
    assert.deepEqual(await cacheState(), written, 'a small run with default flags took it');
    // A small manifest never changes the flags.
    const small = await runCommand(
      process.execPath,
      [join(install, 'bin', 'cert-renew'), '-m', 'manifest.json', '-v', 'plan'],
      { cwd: work, env: cliEnv() },
    );
    assert.doesNotMatch(small.stderr, /heap kept tight/);
  } finally {
    await rm(big, { force: true });
  }
});

test("temporary files of writers killed before their rename are removed by the next writer; a writer's at work are left", async () => {
  // A pid above Linux's pid_max (no such process), and init's (always there).
  const stale = `${cacheFile}.4194305-oldwriter.tmp`;
  const fresh = `${cacheFile}.1-newwriter.tmp`;
  await writeFile(stale, 'half a cache');
  await writeFile(fresh, 'a cache being written');
  await rm(cacheFile, { force: true });
  assert.deepEqual(await plan(), expected);
  const names = await readdir(bundleDir);
  assert.ok(!names.includes('cli.cjs.cache.4194305-oldwriter.tmp'), 'the stale one is gone');
  assert.ok(names.includes('cli.cjs.cache.1-newwriter.tmp'), 'a writer at work keeps its own');
  await rm(fresh);
  await assertBundleDir(true);
});

test('an installation without its checks says so in one line (exit 1) and writes no code cache; checks.cjs run alone refuses', async () => {
  const checks = join(bundleDir, 'checks.cjs');
  const saved = await readFile(checks);
  await rm(cacheFile, { force: true });
  await rm(checks);
  try {
    // A manifest no verdict is kept for: it must be checked, and cannot be.
    await writeFile(
      join(work, 'other.json'),
      JSON.stringify({ version: 1, defaults: {}, issuers: {}, stores: {}, certificates: [] }),
    );
    for (const args of [
      ['-m', 'other.json', 'plan'],
      ['validate', 'other.json'],
    ]) {
      const result = await runCommand(process.execPath, [join(install, 'bin', 'cert-renew'), ...args], {
        cwd: work,
        env: cliEnv(),
      }).then(
        () => assert.fail(`${args.join(' ')} passed`),
        (error: Error) => error.message,
      );
      assert.match(
        result,
        /failed \(1\): cert-renew: the installation of cert-renew is damaged or incomplete: the manifest's checks cannot be loaded \(Cannot find module '\.\/checks\.cjs'\) \(reinstall cert-renew\)$/,
        args.join(' '),
      );
    }
    assert.equal(await cacheState(), undefined, 'a command that stopped on its own error writes no cache');
  } finally {
    await writeFile(checks, saved);
    await rm(join(work, 'other.json'), { force: true });
  }
  await assert.rejects(
    runCommand(process.execPath, [checks, 'manifest.json'], { cwd: work, env: cliEnv() }),
    /failed \(2\): cert-renew: this file holds the manifest checks bin\/cert-renew loads; run 'cert-renew validate FILE' instead$/,
  );
  assert.deepEqual(await plan(), expected);
  await assertBundleDir(true);
});

test("root's runs over a user's install leave only files there, which the user can remove (an upgrade or uninstall)", async () => {
  assert.equal(process.getuid?.(), 0, 'CI runs the tests as root');
  await chown(bundleDir, 65534, 65534);
  try {
    await writeFile(
      join(work, 'root.json'),
      (await readFile(join(work, 'manifest.json'), 'utf8')).replace('"certs"', '"root-certs"'),
    );
    const [command, ...args] = [
      process.execPath,
      join(install, 'bin', 'cert-renew'),
      '-m',
      'root.json',
      'plan',
    ];
    await runCommand(command as string, args, { cwd: work, env: cliEnv() });
    const entries = await readdir(bundleDir, { withFileTypes: true });
    assert.deepEqual(
      entries.filter((entry) => !entry.isFile()).map((entry) => entry.name),
      [],
      'no directory of root’s',
    );
    assert.ok(
      entries.some((entry) => entry.name.startsWith(VERDICTS)),
      "root's verdict is there",
    );
    // The owner removes every file root left (what npm does to upgrade or uninstall).
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    for (const entry of entries.filter((e) => e.name.startsWith(VERDICTS))) {
      await runCommand(nobody[0] as string, [...nobody.slice(1), 'rm', join(bundleDir, entry.name)]);
    }
  } finally {
    await chown(bundleDir, 0, 0);
    await rm(join(work, 'root.json'), { force: true });
  }
});
