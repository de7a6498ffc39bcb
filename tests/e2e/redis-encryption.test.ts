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
    assert.match(lines[0] ?? '', /web: .*cannot be decrypted with key id k1/);

    const plan = await runCli(['-m', manifest, 'plan', '--json'], { env: wrong });
    assert.equal(plan.code, 0, plan.stderr);
    for (const item of (JSON.parse(plan.stdout) as PlanJson).items) {
      assert.equal(item.action, 'renew', `${item.name}: ${item.message}`);
      assert.equal(item.reason, 'unreadable', `${item.name}: ${item.message}`);
      assert.match(item.message, /cannot be decrypted/);
    }
    // Nothing was changed by looking with the wrong key.
    assert.equal(await redis.cli('GET', 'cert:{web}'), raw);
  });
});
