/**
 * Private keys encrypted at rest through the CLI: Redis holds ciphertext (seen with redis-cli), `show`
 * decrypts with the right key, and a wrong key is a clear error, never garbage.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { keyMatchesCertificate } from '../../src/x509/index.js';
import { tempDir } from '../harness/process.js';
import { startRedis } from '../harness/redis.js';
import { hasStackTrace, runCli } from './cli.js';
import { writeManifest } from './fixtures.js';
import { privateKeyPems, readCertValue, redisManifest, runReport } from './redis-fixtures.js';

interface PlanJson {
  items: { name: string; action: string; reason?: string; message: string }[];
}

describe('encryption at rest', () => {
  test('Redis holds ciphertext; show decrypts with the right key and refuses a wrong one', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const env = { CERT_RENEW_KEY: randomBytes(32).toString('base64') };
    const wrong = { CERT_RENEW_KEY: randomBytes(32).toString('base64') };
    const manifest = await writeManifest(
      tmp.path,
      redisManifest({ url: redis.url, encryption: { key: { env: 'CERT_RENEW_KEY' }, keyId: 'k1' } }, [
        'web',
        'api',
      ]),
    );

    const run = await runCli(['-m', manifest, 'run', '--json'], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      runReport(run).certificates.map((c) => c.outcome),
      ['renewed', 'renewed'],
    );
    assert.deepEqual(privateKeyPems(run.stdout + run.stderr), [], 'no key in the output');

    // What a proxy (or an attacker with redis-cli) reads: no private key in clear.
    const raw = await redis.cli('GET', 'cert:{web}');
    assert.doesNotMatch(raw, /PRIVATE KEY/);
    const stored = await readCertValue(redis.cli, 'web');
    assert.equal(stored?.private_key_pem, undefined);
    assert.equal(stored?.private_key_enc?.alg, 'aes-256-gcm');
    assert.equal(stored?.private_key_enc?.kid, 'k1');
    assert.ok(stored?.private_key_enc?.ct);

    // The certificate served after decryption matches its key.
    const show = await runCli(['-m', manifest, 'show', 'web', '--pem', '--include-key'], { env });
    assert.equal(show.code, 0, show.stderr);
    const keys = privateKeyPems(show.stdout);
    assert.equal(keys.length, 1, show.stdout);
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/.exec(show.stdout)?.[0];
    assert.equal(leaf, stored.cert_pem, 'show prints the stored certificate first');
    assert.ok(
      keyMatchesCertificate(keys[0] ?? '', leaf ?? ''),
      'the decrypted key belongs to the certificate',
    );

    // A wrong key: one clear line, exit 1, nothing printed that looks like a key.
    const bad = await runCli(['-m', manifest, 'show', 'web', '--pem', '--include-key'], { env: wrong });
    assert.equal(bad.code, 1, bad.stderr);
    assert.ok(!hasStackTrace(bad.stderr), bad.stderr);
    assert.equal(bad.stdout, '');
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0] ?? '', /web: .*does not decrypt with the configured encryption key "k1"/);

    // Another key under the same keyId is a configuration error, not a certificate to renew.
    const plan = await runCli(['-m', manifest, 'plan', '--json'], { env: wrong });
    for (const item of (JSON.parse(plan.stdout) as PlanJson).items) {
      assert.equal(item.action, 'error', `${item.name}: ${item.message}`);
      assert.match(item.message, /does not decrypt with the configured encryption key "k1"/);
    }
    // Nothing was changed by looking with the wrong key.
    assert.equal(await redis.cli('GET', 'cert:{web}'), raw);
  });

  test('two hosts with different keys under one keyId: the second fails every run and reissues nothing', async (t) => {
    const redis = await startRedis();
    const tmp = await tempDir();
    t.after(async () => {
      await redis.stop();
      await tmp.remove();
    });
    const hostA = { CERT_RENEW_KEY: randomBytes(32).toString('base64') };
    const hostB = { CERT_RENEW_KEY: randomBytes(32).toString('base64') };
    const manifest = await writeManifest(
      tmp.path,
      redisManifest(
        { url: redis.url, encryption: { key: { env: 'CERT_RENEW_KEY' }, keyId: 'k1' } },
        ['c1', 'c2'],
        {
          // The local CA in a filesystem store, as an operator sharing only the certificates would.
          issuers: { local: { type: 'local-ca', lifetime: '30d', store: 'cafs' } },
          stores: {
            shared: {
              type: 'redis',
              url: redis.url,
              encryption: { key: { env: 'CERT_RENEW_KEY' }, keyId: 'k1' },
            },
            cafs: { type: 'filesystem', path: 'ca' },
          },
        },
      ),
    );
    const first = await runCli(['-m', manifest, 'run', '--host-id', 'a', '--json'], { env: hostA });
    assert.equal(first.code, 0, first.stderr);
    const before = await redis.cli('GET', 'cert:{c1}');

    for (let i = 0; i < 2; i++) {
      const b = await runCli(['-m', manifest, 'run', '--host-id', 'b', '--json'], { env: hostB });
      assert.equal(b.code, 1, b.stderr);
      assert.ok(!hasStackTrace(b.stderr), b.stderr);
      for (const cert of runReport(b).certificates) {
        assert.notEqual(cert.outcome, 'renewed', JSON.stringify(cert));
        assert.match(
          JSON.stringify(cert),
          /cert:\{c[12]\}: the private key does not decrypt with the configured encryption key \\"k1\\": the key that wrote it differs/,
        );
        // The store was read: its line does not claim otherwise.
        assert.equal(cert.attemptNotRecorded, 'its stored value is refused: nothing is written over it');
      }
      assert.doesNotMatch(b.stderr, /the store could not be read/);
    }
    const check = await runCli(['-m', manifest, 'status', '--check'], { env: hostB });
    assert.equal(check.code, 2, check.stdout + check.stderr);
    assert.match(check.stdout, /c1 .*critical/);
    // Host a's values were never overwritten: a still reads them, and its run has nothing to do.
    assert.equal(await redis.cli('GET', 'cert:{c1}'), before);
    const again = await runCli(['-m', manifest, 'run', '--host-id', 'a', '--json'], { env: hostA });
    assert.equal(again.code, 0, again.stderr);
    assert.ok(runReport(again).certificates.every((c) => c.outcome !== 'renewed'));
  });
});
