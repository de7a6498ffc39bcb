/**
 * Certificates of one run that share a dns-01 validation name (an apex and its wildcard in two
 * certificates, a certificate holding both, a name whose _acme-challenge is a CNAME to the same record),
 * issued by the CLI through rfc2136 into BIND while Pebble resolves through a recursive BIND that caches
 * answers for their full TTL, as a CA's resolver does. Without turns at the shared name the later orders
 * are checked against the earlier order's cached TXT values and fail; with them every certificate issues,
 * at --concurrency 1 and 3, and -v says why an order waited. The TTL is small (a few seconds): each
 * later order waits about TTL + 2 s after the validation before it, whatever the machine's speed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CertificateConfig } from '../../src/manifest/types.js';
import { type BindServer, startBind, startBindResolver } from '../harness/bind.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { acmeManifest, pebbleIssuer, readAndVerify } from './acme-e2e-fixtures.js';
import { cliEnv, hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';

/** TTL (s) of the TXT records cert-renew writes; the resolver keeps each answer this long. */
const TTL = 4;
/** A hang guard only: a run here takes well under a minute. */
const KILL_AFTER_MS = 300_000;

describe('dns-01: certificates of one run that share a validation name, through a caching resolver', () => {
  let bind: BindServer;
  let resolver: BindServer;
  let pebble: Pebble;
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('cert-renew-e2e-shared-');
    bind = await startBind({
      zones: [
        {
          name: 'example.test',
          // Delegated to the name the `three` certificates validate at: the CA caches the same RRset.
          records: ['_acme-challenge.alias 60 IN CNAME _acme-challenge.three.example.test.'],
        },
      ],
    });
    resolver = await startBindResolver(bind, ['example.test'], { maxCacheTtl: 'default' });
    pebble = await startPebble({ dnsServer: resolver.address });
  });
  after(async () => {
    await pebble?.stop();
    await resolver?.stop();
    await bind?.stop();
    await tmp?.remove();
  });

  const issueAll = async (label: string, concurrency: number, certificates: CertificateConfig[]) => {
    const store = join(tmp.path, label);
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(
        pebbleIssuer(pebble, {
          type: 'dns-01',
          rfc2136: {
            server: bind.address,
            keyName: bind.keyName,
            secret: { env: 'TSIG_SECRET' },
            ttl: TTL,
          },
          nameservers: [bind.address],
        }),
        store,
        certificates,
      ),
      `${label}.json`,
    );
    const run = await runCli(['-v', '-m', manifest, 'run', '--concurrency', String(concurrency)], {
      env: cliEnv({ TSIG_SECRET: bind.secret }),
      killAfterMs: KILL_AFTER_MS,
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(!hasStackTrace(run.stderr), run.stderr);
    const root = await pebble.roots();
    for (const cert of certificates) {
      const stored = await readAndVerify(store, cert.name, root);
      assert.deepEqual(stored.dnsNames, [...cert.domains].sort(), cert.name);
    }
    return run;
  };

  /**
   * The -v lines saying that an order waited for the CA's cache of `record`; each must name a certificate
   * of the run, the time of its validation and the TTL. How many there are depends on the machine's speed
   * (an order that reaches validation more than TTL + 2 s after the one before has nothing to wait for),
   * so only their shape and their bound are checked; tests/unit/dns-ca-cache.test.ts checks the waits.
   */
  const assertWaits = (stderr: string, record: string, names: string[]) => {
    const lines = stderr.split('\n').filter((line) => line.includes(`for the CA's DNS cache of ${record}`));
    const escaped = (text: string) => text.replace(/[.*]/g, (c) => `\\${c}`);
    const cert = `(?:${names.map(escaped).join('|')})`;
    const shape = new RegExp(
      `^cert-renew info: issuer pebble: certificate ${cert}: waiting \\d+s for the CA's DNS cache of ${escaped(record)}: validated for certificate ${cert} at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\(TXT TTL ${TTL}s \\+ 2s\\)$`,
    );
    for (const line of lines) assert.match(line, shape);
    // Each order waits at most once: the first has nothing to wait for.
    assert.ok(lines.length <= names.length - 1, lines.join('\n'));
  };

  test('one after another (--concurrency 1): apex, wildcard, both: all issue', async () => {
    const certificates = [
      { name: 'one-apex', domains: ['one.example.test'] },
      { name: 'one-wild', domains: ['*.one.example.test'] },
      { name: 'one-both', domains: ['one.example.test', '*.one.example.test'] },
    ];
    const run = await issueAll('one', 1, certificates);
    const record = '_acme-challenge.one.example.test';
    assertWaits(
      run.stderr,
      record,
      certificates.map((c) => c.name),
    );
    assert.deepEqual(await bind.txt(record), [], 'every TXT value is removed');
  });

  test('at once (--concurrency 3), one of them through a CNAME to the shared record: all issue', async () => {
    const certificates = [
      { name: 'three-apex', domains: ['three.example.test'] },
      { name: 'three-wild', domains: ['*.three.example.test'] },
      { name: 'three-alias', domains: ['alias.example.test'] },
    ];
    const run = await issueAll('three', 3, certificates);
    const record = '_acme-challenge.three.example.test';
    assertWaits(
      run.stderr,
      record,
      certificates.map((c) => c.name),
    );
    assert.deepEqual(await bind.txt(record), [], 'every TXT value is removed');
  });
});
