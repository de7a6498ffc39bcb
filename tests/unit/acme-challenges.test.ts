import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { DnsExecSolver, dnsRecordName } from '../../src/issuers/acme/challenges/dns-exec.js';
import { createSolver } from '../../src/issuers/acme/challenges/index.js';
import { parseListenAddress } from '../../src/issuers/acme/challenges/standalone.js';
import type { SolverContext } from '../../src/issuers/acme/challenges/types.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { freePort, type TempDir, tempDir } from '../harness/process.js';

describe('challenge solvers', () => {
  let dir: TempDir;
  let context: SolverContext;
  before(async () => {
    dir = await tempDir();
    context = {
      baseDir: dir.path,
      env: { PATH: process.env.PATH },
      logger: silentLogger,
      getStore: () => Promise.reject(new Error('no stores here')),
      issuerName: 'test',
    };
  });
  after(() => dir.remove());

  const task = { identifier: 'a.test', wildcard: false, token: 'tok_EN-1', value: 'tok_EN-1.thumb' };

  test('webroot is the document root: the token goes under .well-known/acme-challenge/ and is removed', async () => {
    await mkdir(join(dir.path, 'html'));
    const solver = createSolver({ type: 'http-01', webroot: 'html' }, context);
    assert.match(await solver.check(), /webroot .*html is writable/);
    assert.deepEqual(await readdir(join(dir.path, 'html')), [], 'the probe is removed');
    await solver.present(task, new AbortController().signal);
    const tokens = join(dir.path, 'html/.well-known/acme-challenge');
    assert.equal(await readFile(join(tokens, task.token), 'utf8'), task.value);
    assert.deepEqual(await readdir(tokens), [task.token], 'no temporary files left behind');
    await solver.cleanup(task);
    assert.deepEqual(await readdir(tokens), []);
    assert.match(await solver.check(), /writable/);
    assert.deepEqual(await readdir(tokens), [], 'the probe is removed');
  });

  test('challengeDirectory: the token file is written into the directory itself and removed by cleanup', async () => {
    const solver = createSolver({ type: 'http-01', challengeDirectory: 'www/acme' }, context);
    await solver.present(task, new AbortController().signal);
    const directory = join(dir.path, 'www/acme');
    assert.equal(await readFile(join(directory, task.token), 'utf8'), task.value);
    assert.deepEqual(await readdir(directory), [task.token], 'no temporary files left behind');
    await solver.cleanup(task);
    assert.deepEqual(await readdir(directory), []);
    assert.match(await solver.check(), /challengeDirectory .* is writable/);
    assert.deepEqual(await readdir(directory), [], 'the probe is removed');
  });

  test('webroot: unsafe tokens and missing directories are refused', async () => {
    const solver = createSolver({ type: 'http-01', webroot: 'www2' }, context);
    await assert.rejects(solver.present({ ...task, token: '../evil' }, new AbortController().signal), {
      code: ErrorCode.challengeFailed,
    });
    await assert.rejects(createSolver({ type: 'http-01', webroot: 'missing' }, context).check(), {
      code: ErrorCode.challengeFailed,
      message: /webroot .*missing is not a directory/,
    });
    await assert.rejects(createSolver({ type: 'http-01', challengeDirectory: 'missing' }, context).check(), {
      code: ErrorCode.challengeFailed,
      message: /challengeDirectory .*missing is not a directory/,
    });
  });

  test('standalone: answers only known tokens while an order is open, one listener for two orders', async () => {
    const port = await freePort();
    const config = { type: 'http-01' as const, standalone: `127.0.0.1:${port}` };
    const first = createSolver(config, context);
    const second = createSolver(config, context);
    const signal = new AbortController().signal;
    await first.open?.(signal);
    await second.open?.(signal);
    await first.present(task, signal);
    await second.present({ ...task, token: 'other', value: 'other.thumb' }, signal);
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    const answer = await get(`/.well-known/acme-challenge/${task.token}`);
    assert.equal(answer.status, 200);
    assert.equal(await answer.text(), task.value);
    assert.equal(await (await get('/.well-known/acme-challenge/other')).text(), 'other.thumb');
    assert.equal((await get('/.well-known/acme-challenge/unknown')).status, 404);
    assert.equal((await get('/')).status, 404);
    await first.cleanup(task);
    assert.equal((await get(`/.well-known/acme-challenge/${task.token}`)).status, 404);
    await first.close?.();
    assert.equal(
      (await get('/.well-known/acme-challenge/other')).status,
      200,
      'still open for the second order',
    );
    await second.close?.();
    await assert.rejects(get('/.well-known/acme-challenge/other'), 'closed after the last order');
    assert.match(await first.check(), /can be bound/);
  });

  test('standalone: an address in use is a clear error', async () => {
    const { createServer } = await import('node:net');
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const solver = createSolver({ type: 'http-01', standalone: `127.0.0.1:${port}` }, context);
      await assert.rejects(solver.open?.(new AbortController().signal) ?? Promise.resolve(), {
        code: ErrorCode.challengeFailed,
        message: /EADDRINUSE/,
      });
      await assert.rejects(solver.check(), { code: ErrorCode.challengeFailed });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('listen addresses', () => {
    assert.deepEqual(parseListenAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListenAddress('[::]:8080'), { host: '::', port: 8080 });
    assert.deepEqual(parseListenAddress(':80'), { host: '0.0.0.0', port: 80 });
    assert.equal(parseListenAddress('80'), undefined);
    assert.equal(parseListenAddress('host:99999'), undefined);
  });

  test('dns-01 exec: lego convention, record name for wildcards, failures reported', async () => {
    assert.equal(dnsRecordName('example.test'), '_acme-challenge.example.test.');
    assert.equal(dnsRecordName('*.example.test'), '_acme-challenge.example.test.');
    const log = join(dir.path, 'dns.log');
    const hook = join(dir.path, 'hooks', 'dns-hook');
    await mkdir(join(dir.path, 'hooks'), { recursive: true });
    await writeFile(
      hook,
      `#!/bin/sh\nif [ "$3" = fail ]; then echo "provider said no" >&2; exit 3; fi\necho "$1 $2 $3" >> '${log}'\n`,
    );
    await chmod(hook, 0o755);
    // The provider alone (CNAME following and the propagation check are tested against real servers).
    const solver = new DnsExecSolver({ type: 'dns-01', exec: './hooks/dns-hook' }, context);
    const dnsTask = {
      identifier: 'example.test',
      wildcard: true,
      token: 't',
      value: 'digest',
      recordName: '_acme-challenge.example.test.',
    };
    const signal = new AbortController().signal;
    await solver.present(dnsTask, signal);
    await solver.settle?.([dnsTask], signal);
    await solver.cleanup(dnsTask);
    assert.equal(
      await readFile(log, 'utf8'),
      'present _acme-challenge.example.test. digest\ncleanup _acme-challenge.example.test. digest\n',
    );
    await assert.rejects(solver.present({ ...dnsTask, value: 'fail' }, signal), {
      code: ErrorCode.challengeFailed,
      message: /exited with status 3: provider said no/,
    });
    assert.match(await solver.check(), /is executable/);
    await writeFile(join(dir.path, 'not-exec'), 'x');
    await assert.rejects(createSolver({ type: 'dns-01', exec: './not-exec' }, context).check(), {
      code: ErrorCode.challengeFailed,
    });
    assert.match(await createSolver({ type: 'dns-01', exec: 'sh' }, context).check(), /is executable/);
  });

  test('dns-01 exec: a plugged-in propagation check is polled until it passes', async () => {
    const hook = join(dir.path, 'noop-hook');
    await writeFile(hook, '#!/bin/sh\nexit 0\n');
    await chmod(hook, 0o755);
    let checks = 0;
    const solver = createSolver(
      { type: 'dns-01', exec: hook, propagationTimeout: '10s' },
      { ...context, propagationCheck: async () => ++checks >= 2 },
    );
    const dnsTask = { identifier: 'example.test', wildcard: false, token: 't', value: 'v' };
    await solver.settle?.([dnsTask], new AbortController().signal);
    assert.equal(checks, 2);
    const never = createSolver(
      { type: 'dns-01', exec: hook, propagationTimeout: '1s' },
      { ...context, propagationCheck: async () => false },
    );
    await assert.rejects(never.settle?.([dnsTask], new AbortController().signal) ?? Promise.resolve(), {
      code: ErrorCode.challengeFailed,
      message: /did not propagate/,
    });
  });
});
