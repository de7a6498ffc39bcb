/**
 * The job line of `examples/crontab`, run as cron runs it: `/bin/sh -c LINE` from `/`, with only the
 * crontab's SHELL and PATH (plus where cert-renew and node are installed). cron mails whatever a job
 * prints, so a day with nothing wrong must print nothing, and a failure must print its error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TempDir, tempDir } from '../harness/process.js';
import { BIN, REPO } from './cli.js';
import { localManifest, writeManifest } from './fixtures.js';

interface Job {
  env: Record<string, string>;
  command: string;
}

/** The crontab's variable lines and its one job's command (the line after the five time fields). */
async function readCrontab(): Promise<Job> {
  const env: Record<string, string> = {};
  let command: string | undefined;
  for (const line of (await readFile(join(REPO, 'examples', 'crontab'), 'utf8')).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const variable = /^([A-Z]+)=(.*)$/.exec(line);
    if (variable) env[variable[1] as string] = variable[2] as string;
    else command = line.trim().split(/\s+/).slice(5).join(' ');
  }
  assert.ok(command, 'examples/crontab has a job line');
  return { env, command };
}

function runShell(
  command: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    });
  });
}

describe('examples/crontab, run as cron runs it', () => {
  let tmp: TempDir;
  let job: Job;
  let env: Record<string, string>;

  before(async () => {
    tmp = await tempDir('cert-renew-cron-');
    job = await readCrontab();
    const bin = join(tmp.path, 'bin');
    await mkdir(bin);
    await symlink(BIN, join(bin, 'cert-renew'));
    env = { ...job.env, PATH: [bin, dirname(process.execPath), job.env.PATH ?? '/usr/bin:/bin'].join(':') };
  });
  after(async () => {
    await tmp?.remove();
  });

  test('silent when nothing is wrong (renewing or not), the error line when a hook fails', async () => {
    const store = join(tmp.path, 'certs');
    const manifest = await writeManifest(tmp.path, localManifest(store));
    const metrics = join(tmp.path, 'cert-renew.prom');
    const line = job.command
      .replace('/etc/cert-renew/certificate-manifest.json', manifest)
      .replace('/var/lib/node_exporter/textfile_collector/cert-renew.prom', metrics);
    assert.notEqual(line, job.command);

    const first = await runShell(line, env);
    assert.equal(first.code, 0, first.output);
    assert.equal(first.output, '', 'the first run renews both, and mails nothing');
    assert.match(await readFile(metrics, 'utf8'), /cert_renew_last_run_success 1/);
    const second = await runShell(line, env);
    assert.equal(second.code, 0, second.output);
    assert.equal(second.output, '', 'a day with nothing due mails nothing');

    await writeManifest(
      tmp.path,
      localManifest(store, {
        defaults: {
          issuer: 'local',
          store: 'files',
          hooks: { postRenew: [{ run: ['/bin/sh', '-c', 'exit 3'], name: 'reload' }] },
        },
      }),
    );
    const failing = await runShell(line.replace(' run ', ' run --force '), env);
    assert.equal(failing.code, 1, failing.output);
    assert.match(failing.output, /^cert-renew error: hook 'reload' exited with code 3/m);
  });
});
