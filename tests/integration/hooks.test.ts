import * as assert from 'node:assert/strict';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkHookRunnable } from '../../src/hooks/check.js';
import { certificateHookEnv, failureHookEnv } from '../../src/hooks/env.js';
import {
  HOOK_OUTPUT_CAP_BYTES,
  hookCommand,
  hookDisplayName,
  hookIdentity,
  type RunHookOptions,
  runHook,
  TRUNCATED_MARKER,
} from '../../src/hooks/run.js';
import type { HookSpec } from '../../src/manifest/types.js';
import { forgetSecrets } from '../../src/util/text.js';
import { processGone, readWhenWritten, type TempDir, tempDir } from '../harness/process.js';

const node = process.execPath;
const baseEnv = { PATH: process.env.PATH, LANG: 'C' };

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

describe('runHook against real processes', () => {
  let dir: TempDir;
  let options: RunHookOptions;
  const leftovers: number[] = [];
  before(async () => {
    dir = await tempDir('cert-renew-hooks-');
    options = { baseEnv, extraEnv: {}, baseDir: dir.path };
  });
  after(async () => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
    await dir?.remove();
  });

  test('argv is passed literally, without a shell', async () => {
    const tricky = [
      `x; touch ${join(dir.path, 'pwned')}`,
      '$(touch subst)',
      '`touch tick`',
      'a b',
      "it's",
      '*',
    ];
    const result = await runHook(
      { run: [node, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...tricky] },
      options,
    );
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(JSON.parse(result.stdout), tricky);
    assert.equal(await exists(join(dir.path, 'pwned')), false);
    assert.equal(await exists(join(dir.path, 'subst')), false);
    assert.equal(await exists(join(dir.path, 'tick')), false);
    assert.equal(result.exitCode, 0);
    assert.equal(result.timedOut, false);
    assert.match(result.command, /'x; touch .*pwned' '\$\(touch subst\)'/);
  });

  test('a string runs through /bin/sh only with shell: true', async () => {
    const result = await runHook(
      { run: 'echo one && echo two >&2 && echo "name=$CERT_RENEW_NAME"', shell: true },
      { ...options, extraEnv: { CERT_RENEW_NAME: 'web' } },
    );
    assert.equal(result.ok, true, result.error);
    assert.equal(result.stdout, 'one\nname=web\n');
    assert.equal(result.stderr, 'two\n');
    assert.equal(result.command, 'echo one && echo two >&2 && echo "name=$CERT_RENEW_NAME"');

    const refused = await runHook({ run: 'touch refused' }, options);
    assert.equal(refused.ok, false);
    assert.match(
      refused.error ?? '',
      /^hook 'touch refused' was not run: a string command needs "shell": true/,
    );
    assert.equal(await exists(join(dir.path, 'refused')), false);
  });

  test('a non-zero exit is a failure with the code and the last stderr line', async () => {
    const result = await runHook(
      {
        run: ['sh', '-c', 'echo partial; echo first >&2; echo "config test failed" >&2; exit 3'],
        name: 'reload',
      },
      options,
    );
    assert.equal(result.ok, false);
    assert.equal(result.exitCode, 3);
    assert.equal(result.name, 'reload');
    assert.equal(result.stdout, 'partial\n');
    assert.equal(result.error, "hook 'reload' exited with code 3: config test failed");
  });

  test('a missing command, a non-executable file and a missing cwd are clear failures', async () => {
    const missing = await runHook({ run: ['cert-renew-no-such-command', '-s', 'reload'] }, options);
    assert.equal(missing.ok, false);
    assert.equal(missing.exitCode, undefined);
    assert.match(
      missing.error ?? '',
      /^hook 'cert-renew-no-such-command -s reload' failed: not found: cert-renew-no-such-command/,
    );

    await writeFile(join(dir.path, 'plain.sh'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const denied = await runHook({ run: ['./plain.sh'] }, options);
    assert.match(denied.error ?? '', /not executable.*\.\/plain\.sh/);

    const noCwd = await runHook({ run: ['true'], cwd: 'no-such-dir' }, options);
    assert.match(noCwd.error ?? '', /working directory does not exist: .*no-such-dir/);
  });

  test('cwd resolves against the manifest directory; stdin is closed', async () => {
    await mkdir(join(dir.path, 'sub'), { recursive: true });
    const result = await runHook({ run: ['sh', '-c', 'pwd; cat; echo done'], cwd: 'sub' }, options);
    assert.equal(result.ok, true, result.error);
    assert.equal(result.stdout, `${join(dir.path, 'sub')}\ndone\n`);
  });

  test('environment: base, then spec.env, then CERT_RENEW_* (which win); inherited CERT_RENEW_* dropped', async () => {
    const extraEnv = certificateHookEnv(
      [
        {
          name: 'web',
          domains: ['example.test', 'www.example.test'],
          storeName: 'files',
          storeType: 'filesystem',
          issuerName: 'local',
          notAfter: new Date('2030-01-02T03:04:05Z'),
          paths: {
            dir: '/s/web',
            cert: '/s/web/cert.pem',
            chain: '/s/web/chain.pem',
            fullchain: '/s/web/fullchain.pem',
            privkey: '/s/web/privkey.pem',
          },
        },
      ],
      'post-renew',
    );
    const result = await runHook(
      {
        run: [node, '-e', 'process.stdout.write(JSON.stringify(process.env))'],
        env: { FOO: 'spec', BAR: 'spec', CERT_RENEW_NAME: 'from-spec' },
      },
      {
        ...options,
        baseEnv: { ...baseEnv, FOO: 'base', KEEP: 'base', CERT_RENEW_SERIAL: 'stale', UNSET: undefined },
        extraEnv,
      },
    );
    assert.equal(result.ok, true, result.error);
    const env = JSON.parse(result.stdout) as Record<string, string>;
    assert.equal(env.FOO, 'spec');
    assert.equal(env.BAR, 'spec');
    assert.equal(env.KEEP, 'base');
    assert.equal('UNSET' in env, false);
    assert.equal('CERT_RENEW_SERIAL' in env, false);
    assert.equal(env.CERT_RENEW_NAME, 'web');
    assert.equal(env.CERT_RENEW_EVENT, 'post-renew');
    assert.equal(env.CERT_RENEW_DOMAINS, 'example.test www.example.test');
    assert.equal(env.CERT_RENEW_FULLCHAIN_PATH, '/s/web/fullchain.pem');
    assert.equal(env.CERT_RENEW_KEY_PATH, '/s/web/privkey.pem');
    assert.equal(env.CERT_RENEW_NOT_AFTER, '2030-01-02T03:04:05.000Z');
    assert.equal(env.CERT_RENEW_COUNT, '1');
  });

  test("the values of spec.env variables named like secrets are masked in the hook's output and error", async () => {
    const token = 'hook-token-value-31337';
    forgetSecrets();
    try {
      const result = await runHook(
        {
          run: [
            node,
            '-e',
            'console.log("using", process.env.DEPLOY_TOKEN); console.error("denied for", process.env.DEPLOY_TOKEN); process.exit(3)',
          ],
          env: { DEPLOY_TOKEN: token },
        },
        options,
      );
      assert.equal(result.ok, false);
      assert.equal(result.stdout, 'using ***\n');
      assert.equal(result.error, `hook '${result.name}' exited with code 3: denied for ***`);
    } finally {
      forgetSecrets();
    }
  });

  test('stdout and stderr keep only their last 8 KiB, marked as truncated', async () => {
    const result = await runHook(
      {
        run: [
          node,
          '-e',
          "process.stdout.write('a'.repeat(100000) + 'END'); process.stderr.write('é'.repeat(20000) + 'LAST')",
        ],
      },
      options,
    );
    assert.equal(result.ok, true, result.error);
    assert.ok(result.stdout.startsWith(TRUNCATED_MARKER));
    assert.ok(result.stdout.endsWith('aEND'));
    assert.equal(Buffer.byteLength(result.stdout.slice(TRUNCATED_MARKER.length)), HOOK_OUTPUT_CAP_BYTES);
    assert.ok(result.stderr.startsWith(TRUNCATED_MARKER));
    assert.ok(result.stderr.endsWith('éLAST'));
    assert.equal(result.stderr.includes('\uFFFD'), false);
  });

  test('a hook past its timeout is killed with its children', async () => {
    const pidFile = join(dir.path, 'child-term.pid');
    const result = await runHook(
      { run: ['sh', '-c', `sleep 1000 & echo $! > '${pidFile}'; wait`], timeout: '5s' },
      options,
    );
    const child = Number(await readWhenWritten(pidFile));
    leftovers.push(child);
    assert.equal(result.ok, false);
    assert.equal(result.timedOut, true);
    assert.equal(
      result.error,
      "hook 'sh -c 'sleep 1000 & echo $! > '\\''" +
        pidFile +
        "'\\''; wait'' timed out after 5s and was killed",
    );
    assert.equal(await processGone(child), true, `child ${child} of the timed-out hook is still running`);
  });

  test('a hook that ignores SIGTERM is SIGKILLed with its children after the grace period', async () => {
    const pidFile = join(dir.path, 'child-kill.pid');
    const result = await runHook(
      {
        run: ['sh', '-c', `trap '' TERM; sleep 1000 & echo $! > '${pidFile}'; wait; wait`],
        timeout: '5s',
        name: 'stubborn',
      },
      { ...options, killGraceMs: 300 },
    );
    const child = Number(await readWhenWritten(pidFile));
    leftovers.push(child);
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, 'SIGKILL');
    assert.equal(result.error, "hook 'stubborn' timed out after 5s and was killed");
    assert.equal(await processGone(child), true, `child ${child} survived SIGKILL of its group`);
  });

  test('aborting the signal kills the hook and its group', async () => {
    const pidFile = join(dir.path, 'abort.pid');
    const controller = new AbortController();
    const running = runHook(
      { run: ['sh', '-c', `sleep 1000 & echo $! > '${pidFile}'; wait`], name: 'long' },
      { ...options, signal: controller.signal },
    );
    const child = Number(await readWhenWritten(pidFile));
    leftovers.push(child);
    controller.abort();
    const result = await running;
    assert.equal(result.ok, false);
    assert.equal(result.timedOut, false);
    assert.equal(result.error, "hook 'long' was killed: the run was interrupted");
    assert.equal(result.cancelled, true, 'not a failure of the hook');
    assert.equal(await processGone(child), true);
  });

  test('a hook that exits leaving a background child holding its output still finishes', async () => {
    const pidFile = join(dir.path, 'daemon.pid');
    const result = await runHook(
      { run: ['sh', '-c', `sleep 1000 & echo $! > '${pidFile}'; echo started`], timeout: '20s' },
      options,
    );
    const child = Number(await readWhenWritten(pidFile));
    leftovers.push(child);
    assert.equal(result.ok, true, result.error);
    assert.equal(result.stdout, 'started\n');
  });
});

describe('checkHookRunnable (dry run)', () => {
  let dir: TempDir;
  before(async () => {
    dir = await tempDir('cert-renew-hookcheck-');
    await mkdir(join(dir.path, 'bin'));
    await mkdir(join(dir.path, 'work'));
    await writeFile(join(dir.path, 'bin', 'reload.sh'), '#!/bin/sh\ntouch ran\n', { mode: 0o755 });
    await writeFile(join(dir.path, 'bin', 'plain.sh'), '#!/bin/sh\ntouch ran\n', { mode: 0o644 });
    await chmod(join(dir.path, 'bin', 'plain.sh'), 0o644);
  });
  after(() => dir?.remove());

  test('a command on PATH is found and resolved', async () => {
    const result = await checkHookRunnable({ run: ['sh', '-c', 'exit 1'] }, baseEnv, dir.path);
    assert.equal(result.ok, true);
    if (result.ok) assert.match(result.resolved, /\/sh$/);
  });

  test('a missing command is reported, nothing is run', async () => {
    const result = await checkHookRunnable({ run: ['cert-renew-no-such-command'] }, baseEnv, dir.path);
    assert.deepEqual(result, {
      ok: false,
      message: 'not found on PATH: cert-renew-no-such-command',
    });
  });

  test('relative paths resolve against the hook cwd (default: the manifest directory)', async () => {
    const fromBase = await checkHookRunnable({ run: ['./bin/reload.sh'] }, baseEnv, dir.path);
    assert.deepEqual(fromBase, { ok: true, resolved: join(dir.path, 'bin', 'reload.sh') });
    const fromCwd = await checkHookRunnable({ run: ['../bin/reload.sh'], cwd: 'work' }, baseEnv, dir.path);
    assert.deepEqual(fromCwd, { ok: true, resolved: join(dir.path, 'bin', 'reload.sh') });
    const wrongCwd = await checkHookRunnable({ run: ['./bin/reload.sh'], cwd: 'work' }, baseEnv, dir.path);
    assert.equal(wrongCwd.ok, false);
    assert.equal(await exists(join(dir.path, 'ran')), false);
  });

  test('a file without execute permission, a directory and a missing cwd fail', async () => {
    const plain = await checkHookRunnable({ run: ['bin/plain.sh'], name: 'plain' }, baseEnv, dir.path);
    assert.deepEqual(plain, {
      ok: false,
      message: 'not executable: bin/plain.sh (permission denied)',
    });
    const directory = await checkHookRunnable({ run: ['./bin'] }, baseEnv, dir.path);
    assert.equal(directory.ok, false);
    const noCwd = await checkHookRunnable({ run: ['sh'], cwd: 'nope' }, baseEnv, dir.path);
    assert.equal(noCwd.ok, false);
    if (!noCwd.ok) assert.match(noCwd.message, /working directory does not exist/);
  });

  test('spec.env PATH is searched; a non-executable match is named', async () => {
    const found = await checkHookRunnable(
      { run: ['reload.sh'], env: { PATH: join(dir.path, 'bin') } },
      baseEnv,
      dir.path,
    );
    assert.deepEqual(found, { ok: true, resolved: join(dir.path, 'bin', 'reload.sh') });
    const denied = await checkHookRunnable(
      { run: ['plain.sh'], env: { PATH: join(dir.path, 'bin') } },
      baseEnv,
      dir.path,
    );
    assert.equal(denied.ok, false);
    if (!denied.ok) assert.match(denied.message, /not executable: .*plain\.sh/);
  });

  test('shell hooks check /bin/sh only and never parse the string', async () => {
    const result = await checkHookRunnable(
      { run: 'cert-renew-no-such-command && touch ran', shell: true },
      baseEnv,
      dir.path,
    );
    assert.deepEqual(result, { ok: true, resolved: '/bin/sh' });
    const noShell = await checkHookRunnable({ run: 'nginx -s reload' }, baseEnv, dir.path);
    assert.equal(noShell.ok, false);
  });
});

describe('hook identity, names and environment (pure)', () => {
  test('identical hooks share an identity whatever the key order, name or timeout spelling', () => {
    const a: HookSpec = {
      run: ['nginx', '-s', 'reload'],
      timeout: '60s',
      env: { A: '1', B: '2' },
      name: 'x',
    };
    const b: HookSpec = { name: 'y', env: { B: '2', A: '1' }, timeout: '1m', run: ['nginx', '-s', 'reload'] };
    assert.equal(hookIdentity(a), hookIdentity(b));
    assert.equal(hookIdentity({ run: ['true'], shell: false, cwd: './' }), hookIdentity({ run: ['true'] }));
    assert.notEqual(hookIdentity(a), hookIdentity({ ...a, cwd: '/etc' }));
    assert.notEqual(hookIdentity(a), hookIdentity({ ...a, env: { A: '1' } }));
    assert.notEqual(hookIdentity({ run: 'true', shell: true }), hookIdentity({ run: ['true'] }));
  });

  test('display forms quote argv like a shell would read it', () => {
    assert.equal(hookCommand({ run: ['nginx', '-s', 'reload'] }), 'nginx -s reload');
    assert.equal(hookCommand({ run: ['echo', 'a b', "it's", ''] }), `echo 'a b' 'it'\\''s' ''`);
    assert.equal(hookDisplayName({ run: ['nginx'], name: 'reload nginx' }), 'reload nginx');
    assert.equal(
      hookDisplayName({ run: 'systemctl reload haproxy', shell: true }),
      'systemctl reload haproxy',
    );
  });

  test('a shared hook describes the first certificate and lists all', () => {
    const env = certificateHookEnv(
      [
        {
          name: 'a',
          domains: ['a.test'],
          storeName: 'r',
          storeType: 'redis',
          issuerName: 'le',
          serial: '01ab',
        },
        { name: 'b', domains: ['b.test'], storeName: 'r', storeType: 'redis', issuerName: 'le' },
      ],
      'rollback',
    );
    assert.deepEqual(env, {
      CERT_RENEW_EVENT: 'rollback',
      CERT_RENEW_NAMES: 'a b',
      CERT_RENEW_COUNT: '2',
      CERT_RENEW_NAME: 'a',
      CERT_RENEW_DOMAINS: 'a.test',
      CERT_RENEW_STORE: 'r',
      CERT_RENEW_STORE_TYPE: 'redis',
      CERT_RENEW_ISSUER: 'le',
      CERT_RENEW_SERIAL: '01ab',
    });
  });

  test('failure environment has one line per failure', () => {
    assert.deepEqual(
      failureHookEnv([
        { name: 'a', code: 'ISSUER_REJECTED', message: 'rejected\nby CA' },
        { name: 'b', code: 'HOOK_FAILED', message: "hook 'x' exited with code 1" },
      ]),
      {
        CERT_RENEW_EVENT: 'on-failure',
        CERT_RENEW_FAILED_NAMES: 'a b',
        CERT_RENEW_FAILED_COUNT: '2',
        CERT_RENEW_FAILURES:
          "a: ISSUER_REJECTED: rejected by CA\nb: HOOK_FAILED: hook 'x' exited with code 1",
      },
    );
  });
});
