/**
 * The certificate's deadline (`run --timeout`) hit during a dns-01 step, through the CLI against a real
 * BIND (and a second one that never gets the record: a lagging nameserver) and Pebble: the ISSUER_TIMEOUT
 * line names the step that was running — the propagation delay, the propagation check with what its last
 * round saw, the provider's present command — and the setting to change; a propagationDelay the deadline
 * cannot fit says no run can succeed instead of "the next run tries again". Records are cleaned up and the
 * stopped command is killed. `validate` warns about the settings beforehand.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Challenge } from '../../src/manifest/types.js';
import { type BindServer, startBind } from '../harness/bind.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer } from './acme-e2e-fixtures.js';
import { cliEnv, hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('run: a deadline hit during dns-01 names the step and the setting', () => {
  let bind: BindServer;
  let lagging: BindServer;
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-dns-deadline-');
    bind = await startBind({ zones: [{ name: 'example.test' }] });
    // Serves the same zone but never gets an update: the nameserver the propagation check waits for.
    lagging = await startBind({ zones: [{ name: 'example.test' }] });
    pebble = await startPebble({ dnsServer: bind.address });
  });
  after(async () => {
    await pebble?.stop();
    await lagging?.stop();
    await bind?.stop();
    await tmp?.remove();
  });

  test('propagation delay, propagation check and a present command that never returns', async () => {
    const rfc2136 = (extra: Partial<Challenge>): Challenge =>
      ({
        type: 'dns-01',
        rfc2136: { server: bind.address, keyName: bind.keyName, secret: { env: 'TSIG_SECRET' } },
        nameservers: [bind.address],
        ...extra,
      }) as Challenge;
    const hook = join(tmp.path, 'dns-hook');
    await writeFile(
      hook,
      '#!/bin/sh\nif [ "$1" = present ]; then echo $$ > "$HOOK_DIR/present.pid"; exec sleep 3600; fi\nexit 0\n',
    );
    await chmod(hook, 0o755);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, rfc2136({})), join(tmp.path, 'certs'), [
        { name: 'long-delay', domains: ['d.example.test'], challenge: rfc2136({ propagationDelay: '1h' }) },
        {
          name: 'lagging-ns',
          domains: ['t.example.test'],
          challenge: rfc2136({ propagationTimeout: '1h', nameservers: [bind.address, lagging.address] }),
        },
        {
          name: 'stuck-command',
          domains: ['p.example.test'],
          challenge: { type: 'dns-01', exec: hook, nameservers: [bind.address] },
        },
      ]),
    );

    const checked = await runCli(['-m', manifest, 'validate']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const said = checked.stdout + checked.stderr;
    assert.match(
      said,
      /propagationDelay 1h is not shorter than run's default per-certificate deadline \(--timeout 10m\)/,
    );
    assert.match(said, /propagationDelay \+ propagationTimeout \(1h\) is not shorter than .*--timeout 10m/);

    const env = cliEnv({ TSIG_SECRET: bind.secret, HOOK_DIR: tmp.path });
    const run = await runCli(['-m', manifest, 'run', '--json', '--timeout', '30s', '--concurrency', '3'], {
      env,
    });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(!hasStackTrace(run.stderr), run.stderr);
    const report = parseReport(run.stdout);
    const error = (name: string) => {
      const cert = report.certificates.find((c) => c.name === name);
      assert.equal(cert?.error?.code, 'ISSUER_TIMEOUT', `${name}: ${JSON.stringify(cert)}`);
      return cert?.error?.message ?? '';
    };

    const delay = error('long-delay');
    assert.match(
      delay,
      /^long-delay: gave up after 30s in the dns-01 propagation delay, propagationDelay \(1h\)/,
    );
    assert.match(delay, /no run can get past it: lower propagationDelay, or raise --timeout/);
    assert.doesNotMatch(delay, /next run|too slow/);

    const check = error('lagging-ns');
    assert.match(
      check,
      new RegExp(
        `^lagging-ns: gave up after 30s in the dns-01 propagation check \\(propagationTimeout 1h\\): after \\d+ round\\(s\\), TXT record _acme-challenge\\.t\\.example\\.test had not reached nameserver ${lagging.address.replace(/\./g, '\\.')} \\(it answers: no TXT record\\)`,
      ),
    );
    assert.match(
      check,
      /the deadline ends the check before propagationTimeout does: lower propagationTimeout or raise --timeout/,
    );

    const present = error('stuck-command');
    assert.match(
      present,
      /^stuck-command: gave up after 30s in the dns-01 present of _acme-challenge\.p\.example\.test \(dns-01 command .*dns-hook present _acme-challenge\.p\.example\.test\. was stopped at the deadline\)/,
    );
    assert.match(present, /make it return once the record is set/);
    assert.doesNotMatch(run.stderr, /the issuer or store is too slow/);

    // Cleaned up as before: no record left, the stopped command killed.
    assert.deepEqual(await bind.txt('_acme-challenge.d.example.test'), []);
    assert.deepEqual(await bind.txt('_acme-challenge.t.example.test'), []);
    const pid = Number((await readFile(join(tmp.path, 'present.pid'), 'utf8')).trim());
    assert.ok(pid > 0 && !alive(pid), `the present command ${pid} still runs`);
  });
  test("the wait for the CA's DNS cache of a name another certificate validated names that wait", async () => {
    const challenge: Challenge = {
      type: 'dns-01',
      rfc2136: { server: bind.address, keyName: bind.keyName, secret: { env: 'TSIG_SECRET' } },
      nameservers: [bind.address],
    };
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, challenge), join(tmp.path, 'shared'), [
        { name: 'first', domains: ['s.example.test'] },
        { name: 'second', domains: ['*.s.example.test'] },
      ]),
      'shared.json',
    );
    const env = cliEnv({ TSIG_SECRET: bind.secret });
    // The second certificate waits the record's TTL (60s) + 2s after the first's validation: longer than 30s.
    const run = await runCli(['-m', manifest, 'run', '--json', '--timeout', '30s', '--concurrency', '1'], {
      env,
    });
    assert.equal(run.code, 1, run.stderr);
    const report = parseReport(run.stdout);
    assert.deepEqual(
      report.certificates.map((c) => [c.name, c.outcome]),
      [
        ['first', 'renewed'],
        ['second', 'failed'],
      ],
      run.stderr,
    );
    const second = report.certificates[1]?.error;
    assert.equal(second?.code, 'ISSUER_TIMEOUT');
    assert.match(
      second?.message ?? '',
      /^second: gave up after 30s in the wait for the CA's DNS cache of _acme-challenge\.s\.example\.test: validated for certificate first .*lower the record's ttl or raise --timeout \(now 30s\)/,
    );
    assert.deepEqual(await bind.txt('_acme-challenge.s.example.test'), []);
  });
});
