/**
 * Hostile and malformed manifests through the real CLI (issue 14 items 3-8): a password in a malformed
 * Redis URL never reaches any output, world-readable key modes are flagged, a child's escape sequences
 * never reach the terminal raw, huge keys and thousands of misspelled references finish (a hang guard, not
 * a timing assertion), devices and FIFOs are refused, Redis URLs that cannot work are rejected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { hasStackTrace, runCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

/** Generous: only a hang (or a crash into swap) ever reaches it. */
const HANG_GUARD_MS = 120_000;

async function withTmp(t: { after(fn: () => Promise<void>): void }): Promise<TempDir> {
  const tmp = await tempDir('cert-renew-hostile-manifest-');
  t.after(() => tmp.remove());
  return tmp;
}

function redisManifest(url: string): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'shared' },
    issuers: { local: { type: 'local-ca', lifetime: '30d', store: 'shared' } },
    stores: { shared: { type: 'redis', url } },
    certificates: [{ name: 'web', domains: ['web.example.test'] }],
  } as Manifest;
}

describe('a password in a Redis URL is never printed', () => {
  const SECRET = 'S3cret';
  const shapes = [
    `redis://:${SECRET}@127.0.0.1/0 `,
    ` redis://:${SECRET}@127.0.0.1/0`,
    `redis://:${SECRET}@127.0.0.1:99999/0`,
    `redis://:${SECRET}@/0`,
    `redis://:${SECRET}@127.0.0.1/abc`,
    `redis:/:${SECRET}@127.0.0.1/0`,
    `redis://:${SECRET} x@127.0.0.1/0`,
    `redis://user:${SECRET}@127.0.0.1:6379:6380/0`,
    `redis://:${SECRET}@127.0.0.1/0?db=1`,
    `http://:${SECRET}@127.0.0.1/0`,
    `redis://:${SECRET}${'x'.repeat(80)}@127.0.0.1/0 `,
    // Found by trying it as a new operator: mistyped separators and a forgotten '@'.
    `rediss//:${SECRET}@redis.example.com:6379/0`,
    `redis::${SECRET}@127.0.0.1`,
    `redis://:${SECRET}redis.example.com:6379`,
  ];
  for (const [i, url] of shapes.entries()) {
    test(`shape ${i + 1}: ${JSON.stringify(url.replace(SECRET, '<secret>'))}`, async (t) => {
      const tmp = await withTmp(t);
      const manifest = await writeManifest(tmp.path, redisManifest(url));
      for (const format of ['human', 'json', 'github']) {
        const r = await runCli(['-m', manifest, 'validate', '--format', format]);
        assert.equal(r.code, 1, `${format}: invalid\n${r.stdout}${r.stderr}`);
        assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET), `${format} leaks:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /\*\*\*|url/, `${format} names the url`);
      }
      for (const command of [['plan'], ['plan', '--json'], ['run'], ['run', '--json'], ['status']]) {
        const r = await runCli(['-m', manifest, ...command]);
        assert.equal(r.code, 2, `${command.join(' ')}: the manifest is invalid\n${r.stderr}`);
        assert.ok(!`${r.stdout}${r.stderr}`.includes(SECRET), `${command.join(' ')} leaks:\n${r.stderr}`);
        assert.ok(!hasStackTrace(r.stderr), r.stderr);
      }
    });
  }
});

describe('what is echoed is safe', () => {
  test('a world-readable key mode is a warning, an error with --strict', async (t) => {
    const tmp = await withTmp(t);
    for (const mode of ['0644', '0666']) {
      const base = localManifest(join(tmp.path, 'certs'));
      const manifest = await writeManifest(tmp.path, {
        ...base,
        stores: { files: { type: 'filesystem', path: join(tmp.path, 'certs'), mode: { key: mode } } },
      });
      const lax = await runCli(['-m', manifest, 'validate']);
      assert.equal(lax.code, 0, lax.stdout);
      assert.match(lax.stdout, new RegExp(`warning: stores/files/mode/key: '${mode}' lets every user`));
      const strict = await runCli(['-m', manifest, 'validate', '--strict']);
      assert.equal(strict.code, 1, strict.stdout);
    }
  });

  test('terminal escape sequences from a hook never reach the terminal or the log raw', async (t) => {
    const tmp = await withTmp(t);
    const hook = join(tmp.path, 'evil-hook.sh');
    // Sets the window title, clears the screen, moves the cursor, rings the bell; then fails.
    await writeFile(
      hook,
      "#!/bin/sh\nprintf '\\033]0;pwned\\007\\033[2J\\033[1;1Hforged line\\r\\033[31mred\\n' >&2\nprintf '\\033]0;pwned\\007\\n'\nexit 3\n",
    );
    await chmod(hook, 0o755);
    const manifest = await writeManifest(
      tmp.path,
      localManifest(join(tmp.path, 'certs'), {
        defaults: { issuer: 'local', store: 'files', hooks: { postRenew: [{ run: [hook] }] } },
      }),
    );
    for (const args of [['run'], ['run', '--json']]) {
      const r = await runCli(['-m', manifest, ...args, '--force']);
      assert.equal(r.code, 1, r.stderr);
      for (const [where, text] of [
        ['stdout', r.stdout],
        ['stderr', r.stderr],
      ]) {
        assert.ok(
          !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text as string),
          `${where} has a raw control character:\n${JSON.stringify(text)}`,
        );
      }
      assert.match(r.stderr + r.stdout, /exited with code 3/);
    }
  });
});

describe('inputs that must not hang or exhaust memory', () => {
  async function validates(path: string): Promise<{ code: number | null; out: string }> {
    const r = await runCli(['-m', path, 'validate', '--format', 'json'], { killAfterMs: HANG_GUARD_MS });
    assert.equal(r.signal, null, `finished by itself (hang guard ${HANG_GUARD_MS} ms)`);
    assert.ok(!hasStackTrace(r.stderr), r.stderr.slice(0, 2000));
    return { code: r.code, out: r.stdout };
  }

  test('object keys of 16,400 characters, one and up to 4.3 MB of them', async (t) => {
    const tmp = await withTmp(t);
    const key = (i: number) => `${i}${'k'.repeat(16_400)}`;
    const member = (i: number) => `"${key(i)}":"${'0'.repeat(4000)}"`;
    for (const [file, bytes] of [
      ['one.json', 1],
      ['122k.json', 122_000],
      ['4m.json', 4_300_000],
    ] as const) {
      const members: string[] = [];
      for (let i = 0, size = 0; size < bytes; i++) {
        members.push(member(i));
        size += member(i).length;
      }
      const path = join(tmp.path, file);
      await writeFile(
        path,
        `{"version":1,${members.join(',')},"stores":{"s":{"type":"filesystem","path":"x","${key(0)}":1}},"issuers":{"${key(1)}":"x"},"certificates":[{"${key(2)}":0}]}`,
      );
      const r = await validates(path);
      assert.equal(r.code, 1, file);
      const report = JSON.parse(r.out) as { files: { errors: { message: string }[] }[] };
      assert.ok((report.files[0]?.errors.length ?? 0) > 0, file);
      // Messages show a long key cut short, not all 16,400 characters of it.
      for (const e of report.files[0]?.errors ?? [])
        assert.ok(e.message.length < 1000, e.message.slice(0, 200));
    }
  });

  test('4,000 issuers and 4,000 misspelled references', async (t) => {
    const tmp = await withTmp(t);
    const issuers: Record<string, unknown> = {};
    const certificates: unknown[] = [];
    for (let i = 0; i < 4000; i++) {
      const n = String(i).padStart(5, '0');
      issuers[`issuer-number-${n}`] = { type: 'local-ca' };
      certificates.push({
        name: `c${i}`,
        domains: [`c${i}.example.test`],
        issuer: `isuer-number-${n}`,
        store: 's',
      });
    }
    const path = join(tmp.path, 'typos.json');
    await writeFile(
      path,
      JSON.stringify({ version: 1, stores: { s: { type: 'filesystem', path: 'x' } }, issuers, certificates }),
    );
    const r = await validates(path);
    assert.equal(r.code, 1);
    assert.match(
      r.out,
      /isuer-number-00000' is not defined in 'issuers' \(did you mean 'issuer-number-00000'\?\)/,
    );
  });

  test('devices and a FIFO without a writer are refused, not read', async (t) => {
    const tmp = await withTmp(t);
    const fifo = join(tmp.path, 'manifest.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    for (const [path, kind] of [
      ['/dev/zero', 'a device'],
      ['/dev/urandom', 'a device'],
      [fifo, 'a named pipe'],
    ] as const) {
      for (const args of [['validate'], ['plan']]) {
        const r = await runCli(['-m', path, ...args], { killAfterMs: HANG_GUARD_MS });
        assert.equal(r.signal, null, `${path}: finished by itself`);
        assert.equal(r.code, 2, `${path} ${args[0]}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout + r.stderr, new RegExp(`it is ${kind}, not a manifest file`));
      }
    }
  });
});

describe('Redis URLs that cannot work', () => {
  for (const [url, problem] of [
    ['redis://127.0.0.1:99999/0', /not a valid URL/],
    ['redis://127.0.0.1:0/0', /port 0 is out of range/],
    ['redis:///0', /names no host|not a valid URL/],
    ['redis://127.0.0.1:6379/abc', /the path can only be a database number/],
  ] as const) {
    test(url, async (t) => {
      const tmp = await withTmp(t);
      const manifest = await writeManifest(tmp.path, redisManifest(url));
      const r = await runCli(['-m', manifest, 'validate']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, problem);
      assert.match(r.stdout, /stores\/shared\/url/);
    });
  }

  test('a lockTimeout too short to outlive an issuance on a busy machine', async (t) => {
    const tmp = await withTmp(t);
    const manifest = await writeManifest(tmp.path, {
      ...redisManifest('redis://127.0.0.1:6379/0'),
      stores: { shared: { type: 'redis', url: 'redis://127.0.0.1:6379/0', lockTimeout: '2s' } },
    } as Manifest);
    const r = await runCli(['-m', manifest, 'validate']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /stores\/shared\/lockTimeout: '2s' is shorter than 10s/);
  });

  // Each was "valid" to validate and refused by the store at every run (exit 1 per certificate).
  for (const [files, outputs, setting, problem] of [
    [{ cert: 'current' }, undefined, 'files/cert', /is one of the store's own names/],
    [{ cert: 'attempts.json' }, undefined, 'files/cert', /is one of the store's own names/],
    [{ fullchain: 'versions' }, undefined, 'files/fullchain', /is one of the store's own names/],
    [{ cert: 'x.pem', chain: 'x.pem' }, undefined, 'files/chain', /is already the file name for cert/],
    [undefined, { combined: 'privkey.pem' }, 'outputs/combined', /is already the file name for privkey/],
    [undefined, { combined: 'meta.json' }, 'outputs/combined', /is one of the store's own names/],
    [undefined, { pkcs12: { file: 'cert.pem' } }, 'outputs/pkcs12/file', /is already the file name for cert/],
    [{ privkey: '../key.pem' }, undefined, 'files/privkey', /is not a plain file name/],
  ] as const) {
    test(`stable file names the store refuses: ${JSON.stringify(files ?? outputs)}`, async (t) => {
      const tmp = await withTmp(t);
      const manifest = await writeManifest(tmp.path, {
        version: 1,
        defaults: { issuer: 'local', store: 'files' },
        issuers: { local: { type: 'local-ca' } },
        stores: {
          files: {
            type: 'filesystem',
            path: 'certs',
            ...(files ? { files } : {}),
            ...(outputs ? { outputs } : {}),
          },
        },
        certificates: [{ name: 'web', domains: ['web.example.test'] }],
      } as Manifest);
      const r = await runCli(['-m', manifest, 'validate']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`stores/files/${setting}: `));
      assert.match(r.stdout, problem);
      // A run refuses the manifest before it attempts anything.
      const run = await runCli(['-m', manifest, 'run']);
      assert.equal(run.code, 2, run.stderr);
    });
  }
});
