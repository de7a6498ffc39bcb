/** Reading secret references (src/manifest/secrets.ts): what an unset or empty one says, and that a read value is masked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CertRenewError } from '../../src/errors.js';
import { readSecret, rememberManifestSecrets } from '../../src/manifest/secrets.js';
import { forgetSecrets, safeText } from '../../src/util/text.js';

test('an unset variable is "not set", an empty one "empty"', async () => {
  for (const [env, state] of [
    [{}, 'is not set'],
    [{ EMPTYSEC: '' }, 'is empty'],
  ] as const) {
    await assert.rejects(readSecret({ env: 'EMPTYSEC' }, env, '/'), (e: unknown) => {
      assert.ok(e instanceof CertRenewError);
      assert.equal(e.message, `secret environment variable EMPTYSEC ${state}`);
      return true;
    });
  }
});

test('a secret read, or referenced by the manifest, is masked in every later message', async () => {
  forgetSecrets();
  try {
    assert.equal(await readSecret({ env: 'X' }, { X: 'read-value-123' }, '/'), 'read-value-123');
    rememberManifestSecrets(
      {
        issuers: {
          dns: {
            type: 'acme',
            directory: 'https://ca.example/dir',
            challenge: {
              type: 'dns-01',
              rfc2136: { server: '192.0.2.53', keyName: 'k', secret: { env: 'NOT_NAMED_LIKE_ONE' } },
            },
          },
        },
        stores: {},
      },
      { NOT_NAMED_LIKE_ONE: 'tsig-value-456', UNRELATED: 'plain-value-789' },
    );
    assert.equal(
      safeText('a read-value-123 b tsig-value-456 c plain-value-789'),
      'a *** b *** c plain-value-789',
    );
  } finally {
    forgetSecrets();
  }
});
