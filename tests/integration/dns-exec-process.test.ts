/**
 * The dns-01 `exec` provider through the one process runner (src/runtime/process.ts), against real
 * processes: a provider past its timeout, or stopped at the deadline, is killed with everything it started
 * (its process group), not only the direct child; the runner is injectable. Waits are generous and the
 * assertions are about what happened, never how fast.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { DnsExecSolver } from '../../src/issuers/acme/challenges/dns-exec.js';
import type { SolverContext } from '../../src/issuers/acme/challenges/types.js';
import { silentLogger } from '../../src/runtime/logger.js';
import type { ProcessRequest } from '../../src/runtime/process.js';
import { processGone, readWhenWritten, type TempDir, tempDir } from '../harness/process.js';

describe('dns-01 exec provider processes', () => {
  let dir: TempDir;
  let context: SolverContext;
  const leftovers: number[] = [];
  const task = { identifier: 'example.test', wildcard: false, token: 't', value: 'v' };

  before(async () => {
    dir = await tempDir('cert-renew-dns-exec-');
    context = {
      baseDir: dir.path,
      env: { PATH: process.env.PATH },
      logger: silentLogger,
      getStore: () => Promise.reject(new Error('no stores here')),
      issuerName: 'test',
    };
    // A provider that starts a long-lived child of its own and waits for it.
    await writeFile(
      join(dir.path, 'provider'),
      '#!/bin/sh\nsleep 1000 &\necho $! > "grandchild-$2pid"\nwait\n',
    );
    await chmod(join(dir.path, 'provider'), 0o755);
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

  test('a provider past its timeout is killed with its own children', async () => {
    const solver = new DnsExecSolver({ type: 'dns-01', exec: './provider' }, context, {
      commandTimeoutMs: 5000,
    });
    await assert.rejects(solver.present(task, new AbortController().signal), (error: Error) => {
      assert.equal((error as { code?: string }).code, ErrorCode.challengeFailed);
      assert.match(error.message, /provider present _acme-challenge\.example\.test\. timed out after 5s$/);
      return true;
    });
    const grandchild = Number(
      await readWhenWritten(join(dir.path, 'grandchild-_acme-challenge.example.test.pid')),
    );
    leftovers.push(grandchild);
    assert.equal(await processGone(grandchild), true, `grandchild ${grandchild} survived the timeout`);
  });

  test('a cleanup that hangs is killed at its own timeout, reported as timed out (a warning)', async () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, warn: (line: string) => void lines.push(line) };
    const solver = new DnsExecSolver(
      { type: 'dns-01', exec: './provider' },
      { ...context, logger },
      {
        commandTimeoutMs: 5000,
      },
    );
    await solver.cleanup({ ...task, identifier: 'cleanup.test' });
    const grandchild = Number(
      await readWhenWritten(join(dir.path, 'grandchild-_acme-challenge.cleanup.test.pid')),
    );
    leftovers.push(grandchild);
    assert.equal(await processGone(grandchild), true, `grandchild ${grandchild} survived the timeout`);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /provider cleanup _acme-challenge\.cleanup\.test\. timed out after 5s$/);
  });

  test('a provider stopped at the deadline is killed with its own children', async () => {
    const solver = new DnsExecSolver({ type: 'dns-01', exec: './provider' }, context);
    const controller = new AbortController();
    const presenting = solver.present({ ...task, identifier: 'deadline.test' }, controller.signal);
    const outcome = assert.rejects(presenting, /was stopped at the deadline$/);
    const grandchild = Number(
      await readWhenWritten(join(dir.path, 'grandchild-_acme-challenge.deadline.test.pid')),
    );
    leftovers.push(grandchild);
    controller.abort();
    await outcome;
    assert.equal(await processGone(grandchild), true, `grandchild ${grandchild} survived the abort`);
  });

  test('the runner comes from the context: argv without a shell, the manifest environment, baseDir', async () => {
    const requests: ProcessRequest[] = [];
    const solver = new DnsExecSolver(
      { type: 'dns-01', exec: 'my-dns' },
      {
        ...context,
        runProcess: async (request) => {
          requests.push(request);
          return { outcome: 'exited', exitCode: 0, stdout: '', stderr: '' };
        },
      },
    );
    await solver.present({ ...task, identifier: '*.example.test' }, new AbortController().signal);
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0]?.argv, ['my-dns', 'present', '_acme-challenge.example.test.', 'v']);
    assert.equal(requests[0]?.shell, undefined);
    assert.equal(requests[0]?.cwd, dir.path);
    assert.deepEqual(requests[0]?.env, { PATH: process.env.PATH });
  });

  test('a bare command name that is not in PATH is "not found in PATH" (dry run and run)', async () => {
    const solver = new DnsExecSolver({ type: 'dns-01', exec: 'no-such-dns-tool' }, context);
    await assert.rejects(
      solver.check(),
      /^CertRenewError: dns-01 command no-such-dns-tool is not found in PATH$|dns-01 command no-such-dns-tool is not found in PATH$/,
    );
    await assert.rejects(
      solver.present(task, new AbortController().signal),
      /dns-01 command no-such-dns-tool present _acme-challenge\.example\.test\. could not run: not found in PATH$/,
    );
    const missing = new DnsExecSolver({ type: 'dns-01', exec: './no-such-file' }, context);
    await assert.rejects(missing.check(), /no-such-file does not exist$/);
  });
});
