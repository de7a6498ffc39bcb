/**
 * `run --dry-run` with dns-01, against a real BIND and a real PowerDNS (and Pebble for the issuer check):
 * each due certificate's `_acme-challenge` names are resolved as a real run would, so every setup that a
 * real run can only fail — a key the update-policy does not grant, a dangling CNAME, a zone the system
 * resolver cannot see, a nameserver that refuses or is down, a PowerDNS `zone` that does not hold the name,
 * a name in no zone the server serves — fails the rehearsal for that certificate alone, with one line
 * naming what to fix. The permission probe changes nothing in the zone.
 */
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Challenge } from '../../src/manifest/types.js';
import { type BindServer, startBind } from '../harness/bind.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type PowerDnsServer, startPowerDns } from '../harness/powerdns.js';
import { freePort, type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer } from './acme-e2e-fixtures.js';
import { cliEnv, hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

async function serial(server: string, zone: string): Promise<number> {
  // Generous: a DNS server on a busy machine may answer late; only a dead one fails.
  const resolver = new Resolver({ timeout: 10_000, tries: 3 });
  resolver.setServers([server]);
  return (await resolver.resolveSoa(zone)).serial;
}

describe('run --dry-run: the dns-01 names of each certificate', () => {
  let bind: BindServer;
  let pdns: PowerDnsServer;
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-dns-rehearsal-');
    bind = await startBind({
      zones: [
        {
          name: 'example.test',
          records: [
            '_acme-challenge.c 60 IN CNAME c.acme-delegated.test.',
            '_acme-challenge.d 60 IN CNAME loose.nowhere.invalid.',
          ],
        },
        { name: 'acme-delegated.test' },
        { name: 'static.test', grant: 'other-key' },
      ],
    });
    pdns = await startPowerDns({ zones: [{ name: 'pdns.test' }] });
    pebble = await startPebble({ dnsServer: bind.address });
  });
  after(async () => {
    await pebble?.stop();
    await pdns?.stop();
    await bind?.stop();
    await tmp?.remove();
  });

  test('each certificate fails alone, naming what a real run would hit; nothing changes in the zones', async () => {
    const rfc2136 = (extra: Partial<Challenge> = {}): Challenge =>
      ({
        type: 'dns-01',
        rfc2136: { server: bind.address, keyName: bind.keyName, secret: { env: 'TSIG_SECRET' } },
        nameservers: [bind.address],
        ...extra,
      }) as Challenge;
    const powerdns = (zone?: string, nameservers = true): Challenge => ({
      type: 'dns-01',
      powerdns: { url: pdns.apiUrl, apiKey: { env: 'PDNS_API_KEY' }, ...(zone ? { zone } : {}) },
      ...(nameservers ? { nameservers: [pdns.address] } : {}),
    });
    const hook = join(tmp.path, 'dns-hook');
    await writeFile(hook, '#!/bin/sh\nexit 0\n');
    await chmod(hook, 0o755);
    const deadPort = await freePort();
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(pebbleIssuer(pebble, rfc2136()), join(tmp.path, 'certs'), [
        { name: 'good', domains: ['example.test', '*.example.test', 'www.example.test'] },
        { name: 'delegated', domains: ['c.example.test'] },
        { name: 'not-granted', domains: ['b.static.test'] },
        { name: 'dangling', domains: ['d.example.test'] },
        {
          name: 'system-resolver',
          domains: ['n1.example.test'],
          challenge: rfc2136({ nameservers: undefined }),
        },
        {
          name: 'refusing-ns',
          domains: ['r.example.test'],
          challenge: rfc2136({ nameservers: [bind.address, pdns.address] }),
        },
        {
          name: 'dead-ns',
          domains: ['x.example.test'],
          challenge: rfc2136({ nameservers: [bind.address, `127.0.0.1:${deadPort}`] }),
        },
        { name: 'pdns-good', domains: ['a.pdns.test'], challenge: powerdns() },
        { name: 'pdns-other-zone', domains: ['a.example.test'], challenge: powerdns('pdns.test', false) },
        { name: 'pdns-no-zone', domains: ['x.unserved.test'], challenge: powerdns(undefined, false) },
        {
          name: 'exec',
          domains: ['e.example.test'],
          challenge: { type: 'dns-01', exec: hook, nameservers: [bind.address] },
        },
      ]),
    );
    const before = await serial(bind.address, 'example.test');
    const env = cliEnv({ TSIG_SECRET: bind.secret, PDNS_API_KEY: pdns.apiKey });
    const dry = await runCli(['-m', manifest, 'run', '--dry-run', '--json'], { env });
    assert.equal(dry.code, 1, dry.stderr);
    assert.ok(!hasStackTrace(dry.stderr), dry.stderr);
    const report = parseReport(dry.stdout);
    const outcome = (name: string) => report.certificates.find((c) => c.name === name);
    const failed = (name: string, pattern: RegExp) => {
      const cert = outcome(name);
      assert.equal(cert?.outcome, 'failed', `${name}: ${JSON.stringify(cert)}`);
      assert.equal(cert?.error?.code, 'CHALLENGE_FAILED', name);
      assert.match(cert?.error?.message ?? '', pattern, name);
      // One line on stderr names the certificate.
      assert.match(dry.stderr, new RegExp(`dry run: certificate ${name}: .*dns-01 _acme-challenge`), name);
    };
    for (const name of ['good', 'delegated', 'pdns-good', 'exec']) {
      assert.equal(outcome(name)?.outcome, 'would-renew', `${name}: ${JSON.stringify(outcome(name))}`);
    }
    const line = (name: string) =>
      report.checks?.find((c) => c.kind === 'certificate' && c.name === name)?.message ?? '';
    assert.match(line('good'), /_acme-challenge\.example\.test: zone example\.test, key \S+ may update it/);
    assert.match(line('good'), /_acme-challenge\.www\.example\.test/);
    assert.match(line('delegated'), /\(CNAME to c\.acme-delegated\.test\): zone acme-delegated\.test/);
    assert.match(
      line('exec'),
      /is not run by a dry run \(whether it can write the record is known at the first real run\)/,
    );
    assert.match(line('pdns-good'), /zone pdns\.test at/);

    failed('not-granted', /_acme-challenge\.b\.static\.test.*update failed: REFUSED/);
    failed('dangling', /_acme-challenge\.d\.example\.test.*loose\.nowhere\.invalid/);
    failed(
      'system-resolver',
      /_acme-challenge\.n1\.example\.test: cannot find the DNS zone .* at the system resolver/,
    );
    failed(
      'refusing-ns',
      new RegExp(`${pdns.address} does not answer for zone example\\.test \\(EREFUSED\\)`),
    );
    failed('dead-ns', new RegExp(`127\\.0\\.0\\.1:${deadPort} (does not answer|did not answer)`));
    failed('pdns-other-zone', /_acme-challenge\.a\.example\.test.* is not in zone pdns\.test/);
    failed('pdns-no-zone', /holds no zone for _acme-challenge\.x\.unserved\.test/);

    // The permission probe deleted a value that was not there: no record, no new serial.
    assert.equal(await serial(bind.address, 'example.test'), before);
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
  });
});
