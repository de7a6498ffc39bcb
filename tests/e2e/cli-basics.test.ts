/** The CLI's surface: version, help, the manifest option and its environment variable, usage errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCommand, tempDir } from '../harness/process.js';
import { cliEnv, hasStackTrace, REPO, runCli } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

describe('cli basics', () => {
  test('--version prints the package version; --help lists the commands', async () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string })
      .version;
    const v = await runCli(['--version']);
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), version);
    // Through the CLI (commander), whose version the build writes into the bundle: the same.
    for (const args of [
      ['-m', 'x.json', 'plan', '-V'],
      ['-V', 'run'],
      ['-v', '--version'],
    ]) {
      const through = await runCli(args);
      assert.equal(through.code, 0, through.stderr);
      assert.equal(through.stdout, `${version}\n`, args.join(' '));
    }
    const h = await runCli(['--help']);
    assert.equal(h.code, 0);
    for (const command of ['validate', 'plan', 'run', 'status', 'show'])
      assert.match(h.stdout, new RegExp(`\\b${command}\\b`));
    assert.match(h.stdout, /--manifest/);
    // Help and errors are commander's as ever, though a command line naming a command builds only that one.
    for (const args of [['help'], ['help', 'run'], ['-v', 'help', 'run']]) {
      const help = await runCli(args);
      assert.equal(help.code, 0, `${args.join(' ')}: ${help.stderr}`);
      assert.match(help.stdout, args.includes('run') ? /--dry-run/ : /\bprune\b/);
    }
    const runHelp = await runCli(['-m', 'x.json', 'run', '--help']);
    assert.equal(runHelp.code, 0);
    assert.match(runHelp.stdout, /Usage: cert-renew run \[options\]/);
    assert.match(runHelp.stdout, /--lock-wait <duration>/);
    const typo = await runCli(['-m', 'x.json', 'plna']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown command 'plna'/);
    assert.match(typo.stderr, /Did you mean plan\?/);
    const option = await runCli(['--manifest=x.json', 'plan', '--forse']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--forse'/);
    assert.match(option.stderr, /Did you mean --force\?/);
  });

  test('bin/cert-renew runs as an executable, with every argument intact', async () => {
    const tmp = await tempDir();
    try {
      const dir = join(tmp.path, 'a dir with spaces');
      await mkdir(dir);
      const path = await writeManifest(dir, localManifest(join(dir, 'certs')));
      const v = await runCli(['--version'], { direct: true });
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^\d+\.\d+\.\d+/);
      const plan = await runCli(['-m', path, 'plan', '--json'], { direct: true });
      assert.equal(plan.code, 0, plan.stderr);
      assert.equal(JSON.parse(plan.stdout).items.length, 2);
    } finally {
      await tmp.remove();
    }
  });

  test('colour: on a terminal or with FORCE_COLOR; not in a pipe, with NO_COLOR or TERM=dumb', async () => {
    const tmp = await tempDir();
    try {
      const path = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs')));
      const colourCode = /\u001b\[3\dm/;
      const plain = await runCli(['-m', path, 'plan'], { env: { NO_COLOR: '' } });
      assert.match(plain.stdout, /renew/);
      assert.doesNotMatch(plain.stdout, colourCode, 'a pipe: no colour');
      const forced = await runCli(['-m', path, 'plan'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      assert.match(forced.stdout, colourCode, 'FORCE_COLOR');
      // A terminal (script(1) gives the command a pseudo-terminal).
      const command = (env: string) =>
        `env ${env} ${process.execPath} ${join(REPO, 'bin', 'cert-renew')} -m ${path} plan`;
      const tty = await runCommand('script', ['-qec', command('NO_COLOR='), '/dev/null'], { env: cliEnv() });
      assert.match(tty.stdout, colourCode, 'a terminal');
      for (const env of ['NO_COLOR=1', 'NO_COLOR= TERM=dumb']) {
        const off = await runCommand('script', ['-qec', command(env), '/dev/null'], { env: cliEnv() });
        assert.match(off.stdout, /renew/);
        assert.doesNotMatch(off.stdout, colourCode, env);
      }
    } finally {
      await tmp.remove();
    }
  });

  test('SIGTERM or SIGINT at the confirmation prompt stops prune: no hang, exit 1, nothing removed', async () => {
    const tmp = await tempDir();
    try {
      const certs = join(tmp.path, 'certs');
      const path = await writeManifest(tmp.path, localManifest(certs));
      const run = await runCli(['-m', path, 'run']);
      assert.equal(run.code, 0, run.stderr);
      const certificates = localManifest(certs).certificates.slice(0, 1);
      const orphaned = await writeManifest(tmp.path, localManifest(certs, { certificates }), 'one.json');
      for (const signal of ['TERM', 'INT']) {
        // On a pseudo-terminal (script(1)); prune runs in the background with the terminal as stdin (fd 3:
        // a background job's own stdin is /dev/null). The signal goes once readline has put the terminal in
        // raw mode (the question is up); a prune still running 60 s later is killed and reported.
        const shell = [
          'exec 3<&0',
          `${process.execPath} ${join(REPO, 'bin', 'cert-renew')} -m ${orphaned} prune <&3 & p=$!`,
          'until stty -a <&3 | grep -q -- -icanon; do sleep 0.1; done',
          `kill -${signal} $p`,
          'i=0; while kill -0 $p 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
          'kill -0 $p 2>/dev/null && { echo HUNG; kill -KILL $p; }',
          'wait $p; echo RC=$?',
        ].join('; ');
        const tty = await runCommand('script', ['-qec', shell, '/dev/null'], {
          env: cliEnv(),
          timeoutMs: 180_000,
        });
        assert.doesNotMatch(tty.stdout, /HUNG/, `SIG${signal}: ${tty.stdout}`);
        assert.match(tty.stdout, /orphaned certificate\(s\)/, tty.stdout);
        assert.match(tty.stdout, new RegExp(`SIG${signal} received: stopping`), tty.stdout);
        assert.match(
          tty.stdout,
          new RegExp(`interrupted by SIG${signal} at the question: nothing was removed`),
          tty.stdout,
        );
        assert.doesNotMatch(tty.stdout, /next run continues|hooks are killed/, tty.stdout);
        assert.match(tty.stdout, /RC=1\b/, tty.stdout);
        assert.ok(!hasStackTrace(tty.stdout), tty.stdout);
      }
      const status = await runCli(['-m', path, 'status', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const { certificates: held } = JSON.parse(status.stdout) as { certificates: { health: string }[] };
      assert.deepEqual(
        held.map((c) => c.health),
        ['valid', 'valid'],
        'nothing pruned',
      );
    } finally {
      await tmp.remove();
    }
  });

  test('the report reaches a file, a full pipe left non-blocking, /dev/null and a pipe whole', async () => {
    // The CLI writes to a file, pipe or socket with write(2) itself, and to anything else through node's
    // stream (src/util/output.ts); a pipe another process made non-blocking answers EAGAIN while it is full.
    const tmp = await tempDir();
    try {
      const certificates = Array.from({ length: 900 }, (_, i) => ({
        name: `site-${i}`,
        domains: [`site-${i}.example.test`],
      }));
      const path = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs'), { certificates }));
      const args = [join(REPO, 'bin', 'cert-renew'), '-m', path, 'plan', '--json'];
      const piped = await runCli(['-m', path, 'plan', '--json']);
      assert.equal(piped.code, 0, piped.stderr);
      const report = (text: string) => {
        const parsed = JSON.parse(text) as { generatedAt?: string; items: unknown[] };
        delete parsed.generatedAt;
        return parsed;
      };
      const expected = report(piped.stdout);
      assert.equal(expected.items.length, 900);
      assert.ok(piped.stdout.length > 128 * 1024, 'more than a pipe holds');
      // A regular file.
      const file = join(tmp.path, 'report.json');
      await runCommand('sh', ['-c', `exec "$0" "$@" > '${file}'`, process.execPath, ...args], {
        env: cliEnv(),
      });
      assert.deepEqual(report(await readFile(file, 'utf8')), expected);
      // A pipe set non-blocking by its maker and read only after a pause: writes meet EAGAIN until it is.
      const reader = [
        'import os, subprocess, sys, time',
        'r, w = os.pipe()',
        'os.set_blocking(w, False)',
        'child = subprocess.Popen(sys.argv[1:], stdout=w)',
        'os.close(w)',
        'time.sleep(1)',
        'chunks = []',
        'while True:',
        '    chunk = os.read(r, 65536)',
        '    if not chunk: break',
        '    chunks.append(chunk)',
        'sys.stdout.buffer.write(b"".join(chunks))',
        'sys.exit(child.wait())',
      ].join('\n');
      const slow = await runCommand('python3', ['-c', reader, process.execPath, ...args], { env: cliEnv() });
      assert.deepEqual(report(slow.stdout), expected);
      // /dev/null (written to directly, like a file) runs the command to its end.
      const nul = await runCommand('sh', ['-c', 'exec "$0" "$@" > /dev/null', process.execPath, ...args], {
        env: cliEnv(),
      });
      assert.equal(nul.stdout, '');
    } finally {
      await tmp.remove();
    }
  });

  test('output that cannot be written (a full device, a file size limit) is one line on stderr and exit 1; the run still stores', async () => {
    const tmp = await tempDir();
    try {
      const store = join(tmp.path, 'certs');
      const path = await writeManifest(tmp.path, localManifest(store));
      const line =
        /^cert-renew: cannot write to stdout \((ENOSPC|EFBIG)\): the rest of the output is lost; the command carries on \(exit code 1\)$/m;
      // /dev/full: a device, so node's stream; every write fails with ENOSPC.
      const full = await runCli(['-m', path, 'run'], { prefix: ['sh', '-c', 'exec "$@" > /dev/full', 'sh'] });
      assert.equal(full.code, 1, full.stderr);
      assert.match(full.stderr, line);
      assert.equal(hasStackTrace(full.stderr), false, full.stderr);
      const stored = (await readdir(store)).filter((name) => !name.startsWith('.')).sort();
      assert.deepEqual(stored, ['api', 'web'], 'the run stored');
      // --version alone is answered by bin/cert-renew itself: the same kind of line, exit 1.
      const version = await runCli(['--version'], { prefix: ['sh', '-c', 'exec "$@" > /dev/full', 'sh'] });
      assert.equal(version.code, 1);
      assert.match(version.stderr, /^cert-renew: cannot write to stdout \(ENOSPC\)$/m);
      assert.equal(hasStackTrace(version.stderr), false, version.stderr);
      // A regular file past the process's file size limit (written directly): EFBIG, SIGXFSZ ignored.
      const certificates = Array.from({ length: 300 }, (_, i) => ({
        name: `site-${i}`,
        domains: [`site-${i}.example.test`],
      }));
      const big = await writeManifest(tmp.path, localManifest(store, { certificates }), 'big.json');
      const report = join(tmp.path, 'report.json');
      const limited = await runCli(['-m', big, 'plan', '--json'], {
        prefix: ['sh', '-c', `trap '' XFSZ; ulimit -f 8; exec "$@" > '${report}'`, 'sh'],
      });
      assert.equal(limited.code, 1, limited.stderr);
      assert.match(limited.stderr, line);
      assert.equal(hasStackTrace(limited.stderr), false, limited.stderr);
    } finally {
      await tmp.remove();
    }
  });

  test('a reader that stops reading early (| head) costs no stack trace and no exit code', async () => {
    const tmp = await tempDir();
    try {
      const path = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs')));
      for (const args of [['plan', '--json'], ['plan'], ['status'], ['validate', path]]) {
        const read = await runCli(['-m', path, ...args], { direct: true });
        const closed = await runCli(['-m', path, ...args], { direct: true, closeStdout: true });
        assert.equal(closed.code, read.code, `${args.join(' ')}: ${closed.stderr}`);
        assert.ok(!hasStackTrace(closed.stderr), closed.stderr);
        assert.doesNotMatch(closed.stderr, /EPIPE/);
      }
    } finally {
      await tmp.remove();
    }
  });

  test('the manifest comes from -m, else CERT_RENEW_MANIFEST, else ./certificate-manifest.json', async () => {
    const tmp = await tempDir();
    try {
      const path = await writeManifest(tmp.path, localManifest(join(tmp.path, 'certs')));
      const fromEnv = await runCli(['plan', '--json'], { env: { CERT_RENEW_MANIFEST: path } });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      assert.equal(JSON.parse(fromEnv.stdout).items.length, 2);
      const fromCwd = await runCli(['plan', '--json'], { cwd: tmp.path });
      assert.equal(fromCwd.code, 0, fromCwd.stderr);
      const missing = await runCli(['plan'], { cwd: join(tmp.path, 'certs', '..', '..') });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /certificate-manifest\.json/);
    } finally {
      await tmp.remove();
    }
  });

  test('usage errors exit 2 without a stack trace', async () => {
    for (const args of [
      ['frobnicate'],
      ['run', '--concurrency', '0'],
      ['run', '--timeout', 'soon'],
      ['plan', '--shard', '5/4'],
      ['validate', '--format', 'xml'],
      ['-m', 'examples/quickstart.json', 'show', '--json', '--pem', 'example'],
      ['-m', 'examples/quickstart.json', 'show', 'no-such-certificate'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
    }
    const unknown = await runCli(['-m', 'examples/quickstart.json', 'show', 'no-such-certificate']);
    assert.match(unknown.stderr, /no certificate named 'no-such-certificate'/);
    // A bad option value names the option it was given to.
    const zero = await runCli(['run', '--concurrency', '0']);
    assert.match(zero.stderr, /--concurrency/);
  });
});
