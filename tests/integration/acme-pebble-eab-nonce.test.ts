/**
 * The ACME issuer against Pebble requiring External Account Binding, and against Pebble rejecting 30 %
 * of nonces.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import type { AcmeIssuerConfig } from '../../src/manifest/types.js';
import { httpsGet, type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import {
  assertChainVerifies,
  dnsNames,
  FAST,
  filesystemStore,
  issueOne,
  makeContext,
  resolved,
} from './acme-fixtures.js';

describe('ACME issuer with External Account Binding required', () => {
  const kid = 'kid-cert-renew';
  const hmacKey = randomBytes(32).toString('base64url');
  let pebble: Pebble;
  let dir: TempDir;
  let newAccountUrl: string;

  before(async () => {
    dir = await tempDir('cert-renew-acme-eab-');
    pebble = await startPebble({ eabRequired: true, eabKeys: { [kid]: hmacKey } });
    newAccountUrl = JSON.parse(await httpsGet(pebble.directoryUrl, pebble.caBundlePem)).newAccount;
  });
  after(async () => {
    await pebble?.stop();
    await dir?.remove();
  });

  function setUp(storeDir: string, eab: AcmeIssuerConfig['eab'], secret: string) {
    const context = makeContext(dir.path, { env: { EAB_HMAC: secret } });
    const config: AcmeIssuerConfig = {
      type: 'acme',
      directory: pebble.directoryUrl,
      email: 'eab@example.test',
      caBundle: pebble.caBundlePath,
      ...(eab ? { eab } : {}),
      challenge: { type: 'http-01', standalone: `127.0.0.1:${pebble.httpPort}` },
    };
    const newAccountPosts: string[] = [];
    const issuer = new AcmeIssuer('pebble', config, context, {
      ...FAST,
      onRequest: (method, url) => {
        if (method === 'POST' && url === newAccountUrl) newAccountPosts.push(url);
      },
    });
    return { issuer, config, store: filesystemStore(context, storeDir), newAccountPosts };
  }

  test('the right credentials register the account and issue', async () => {
    const { issuer, config, store } = setUp('right', { kid, hmacKey: { env: 'EAB_HMAC' } }, hmacKey);
    try {
      const result = await issueOne(issuer, store, resolved('eab', ['eab.example.test'], config));
      assert.deepEqual(dnsNames(result.certPem), ['eab.example.test']);
      assertChainVerifies(result, await pebble.roots());
    } finally {
      await issuer.close();
    }
  });

  test('a wrong HMAC key fails with ISSUER_REJECTED and the CA detail, without retrying', async () => {
    const wrong = randomBytes(32).toString('base64url');
    const { issuer, config, store, newAccountPosts } = setUp(
      'wrong',
      { kid, hmacKey: { env: 'EAB_HMAC' } },
      wrong,
    );
    try {
      await assert.rejects(
        issueOne(issuer, store, resolved('eab', ['eab.example.test'], config)),
        (
          error: Error & {
            code?: string;
            oneLine?: string;
          },
        ) => {
          assert.equal(error.code, ErrorCode.issuerRejected);
          assert.match(error.message, /^certificate eab: ACME issuer pebble: creating the account: /);
          assert.match(error.oneLine ?? '', /check the eab kid and hmacKey/);
          return true;
        },
      );
      assert.equal(newAccountPosts.length, 1, 'one newAccount request: a refusal is not retried');
    } finally {
      await issuer.close();
    }
  });

  test('no credentials: externalAccountRequired is reported with what to set', async () => {
    const { issuer, config, store, newAccountPosts } = setUp('none', undefined, '');
    try {
      await assert.rejects(
        issueOne(issuer, store, resolved('eab', ['eab.example.test'], config)),
        (
          error: Error & {
            code?: string;
            oneLine?: string;
          },
        ) => {
          assert.equal(error.code, ErrorCode.issuerRejected);
          assert.match(error.oneLine ?? '', /externalAccountRequired/);
          assert.match(error.oneLine ?? '', /set eab/);
          return true;
        },
      );
      assert.equal(newAccountPosts.length, 1);
    } finally {
      await issuer.close();
    }
  });
  test('the dry run sees that a new account needs eab: refused without it, passes with it, nothing registered', async () => {
    const without = setUp('dry-none', undefined, '');
    const withEab = setUp('dry-right', { kid, hmacKey: { env: 'EAB_HMAC' } }, hmacKey);
    try {
      const check = (s: typeof without) =>
        s.issuer.check({ store: s.store, certs: [], signal: AbortSignal.timeout(60_000) });
      await assert.rejects(check(without), (error: Error & { code?: string; oneLine?: string }) => {
        assert.equal(error.code, ErrorCode.issuerRejected);
        assert.match(
          error.message,
          /^ACME issuer pebble: the CA requires External Account Binding to create an account/,
        );
        assert.match(error.oneLine ?? '', /set "eab"/);
        return true;
      });
      assert.match(await check(withEab), /account would be created/);
      assert.deepEqual(
        [...without.newAccountPosts, ...withEab.newAccountPosts],
        [],
        'a dry run registers nothing',
      );
    } finally {
      await without.issuer.close();
      await withEab.issuer.close();
    }
  });
});

describe('ACME issuer with Pebble rejecting 30 % of nonces', () => {
  let pebble: Pebble;
  let dir: TempDir;

  before(async () => {
    dir = await tempDir('cert-renew-acme-nonce-');
    pebble = await startPebble({ nonceRejectPercent: 30 });
  });
  after(async () => {
    await pebble?.stop();
    await dir?.remove();
  });

  test('three certificates issued at once all succeed', async () => {
    const context = makeContext(dir.path);
    const config: AcmeIssuerConfig = {
      type: 'acme',
      directory: pebble.directoryUrl,
      caBundle: pebble.caBundlePath,
      challenge: { type: 'http-01', standalone: `127.0.0.1:${pebble.httpPort}` },
    };
    const issuer = new AcmeIssuer('pebble', config, context, FAST);
    const store = filesystemStore(context, 'store');
    try {
      const names = ['n1', 'n2', 'n3'];
      const results = await Promise.all(
        names.map((name) => issueOne(issuer, store, resolved(name, [`${name}.example.test`], config))),
      );
      const roots = await pebble.roots();
      for (const [index, result] of results.entries()) {
        assert.deepEqual(dnsNames(result.certPem), [`${names[index]}.example.test`]);
        assertChainVerifies(result, roots);
      }
    } finally {
      await issuer.close();
    }
  });
});
