import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import { orderPayload } from '../../src/issuers/acme/client.js';
import {
  ACME_DIRECTORY_URLS,
  parseDirectory,
  resolveDirectoryUrl,
} from '../../src/issuers/acme/directory.js';
import { acmeError, challengeError, deadlineError } from '../../src/issuers/acme/errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, withRetry } from '../../src/issuers/acme/retry.js';
import {
  AcmeConnectionError,
  AcmeProblemError,
  parseProblem,
  parseRetryAfter,
  shortProblemType,
} from '../../src/issuers/acme/transport.js';

const context = {
  certName: 'web',
  issuerName: 'le',
  directoryUrl: 'https://ca.test/dir',
  step: 'creating the order',
};

function problem(status: number, type: string, detail: string, retryAfter?: number): AcmeProblemError {
  return new AcmeProblemError({
    status,
    type,
    detail,
    url: 'https://ca.test/new-order',
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });
}

describe('ACME error classification', () => {
  test('transient: badNonce, 5xx, 429 with Retry-After, connection refused', () => {
    const cases = [
      problem(400, 'badNonce', 'JWS has an invalid anti-replay nonce'),
      problem(500, 'serverInternal', 'boom'),
      problem(503, '', 'unavailable', 30),
      problem(429, 'rateLimited', 'too many certificates', 3600),
      new AcmeConnectionError('ECONNREFUSED', 'connect ECONNREFUSED', 'https://ca.test/dir'),
      new AcmeConnectionError('ETIMEDOUT', 'no answer', 'https://ca.test/dir'),
    ];
    for (const error of cases) {
      const coded = acmeError(error, context);
      assert.equal(coded.transient, true, error.message);
      assert.equal(coded.code, ErrorCode.issuerUnavailable, error.message);
    }
    assert.equal(acmeError(problem(429, 'rateLimited', 'slow down', 3600), context).retryAfter, 3600);
    assert.equal(acmeError(problem(503, '', 'unavailable', 30), context).retryAfter, 30);
  });

  test('permanent refusals keep the CA detail and name the certificate', () => {
    for (const type of [
      'rejectedIdentifier',
      'unauthorized',
      'malformed',
      'caa',
      'externalAccountRequired',
    ]) {
      const coded = acmeError(problem(400, type, `the CA says ${type}`), {
        ...context,
        step: 'creating the account',
      });
      assert.equal(coded.transient, false, type);
      assert.equal(coded.code, ErrorCode.issuerRejected, type);
      assert.match(
        coded.message,
        new RegExp(`^certificate web: ACME issuer le: creating the account: the CA says ${type}`),
      );
    }
    assert.match(acmeError(problem(400, 'caa', 'CAA forbids'), context).oneLine, /CAA records/);
    assert.match(
      acmeError(problem(403, 'unauthorized', 'bad MAC'), {
        ...context,
        step: 'creating the account',
        eabConfigured: true,
      }).oneLine,
      /check the eab kid and hmacKey/,
    );
  });

  test('validation problems outside account steps are challenge failures', () => {
    for (const type of ['connection', 'dns', 'incorrectResponse', 'tls']) {
      assert.equal(acmeError(problem(400, type, 'x'), context).code, ErrorCode.challengeFailed, type);
    }
  });

  test('subproblems are reported with their identifiers', () => {
    const error = new AcmeProblemError({
      status: 400,
      type: 'rejectedIdentifier',
      detail: 'some names were rejected',
      url: 'https://ca.test/new-order',
      subproblems: [
        {
          type: 'rejectedIdentifier',
          detail: 'forbidden name',
          identifier: { type: 'dns', value: 'bad.test' },
        },
      ],
    });
    assert.match(acmeError(error, context).message, /\[bad\.test: forbidden name\]/);
  });

  test('untrusted TLS is permanent with a caBundle hint', () => {
    const coded = acmeError(
      new AcmeConnectionError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed', 'https://ca.test/dir'),
      context,
    );
    assert.equal(coded.transient, false);
    assert.match(coded.oneLine, /caBundle/);
  });

  test('acme-client giving up on nonces is transient, other plain errors permanent', () => {
    const details = new Set(['JWS has an invalid anti-replay nonce']);
    assert.equal(
      acmeError(new Error('JWS has an invalid anti-replay nonce'), { ...context, badNonceDetails: details })
        .transient,
      true,
    );
    const other = acmeError(new Error('Creating a new order did not return an order link'), context);
    assert.equal(other.transient, false);
    assert.equal(other.code, ErrorCode.issuerRejected);
  });

  test('a CertRenewError passes through', () => {
    const original = new CertRenewError(ErrorCode.secretUnavailable, 'secret missing');
    assert.equal(acmeError(original, context), original);
  });

  test('challenge and deadline errors', () => {
    const failed = challengeError(
      context,
      'a.test',
      'http-01 webroot /srv',
      parseProblem({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'wrong key authorization' }),
      'serve the webroot',
    );
    assert.equal(failed.code, ErrorCode.challengeFailed);
    assert.match(
      failed.oneLine,
      /could not validate a\.test by http-01 webroot \/srv: wrong key authorization \(unauthorized\) \(serve the webroot\)/,
    );
    assert.equal(
      challengeError(
        context,
        'a.test',
        'x',
        parseProblem({ type: 'urn:ietf:params:acme:error:caa', detail: 'no' }),
        undefined,
      ).code,
      ErrorCode.issuerRejected,
    );
    assert.equal(deadlineError(context).code, ErrorCode.issuerTimeout);
  });
});

describe('problem documents and headers', () => {
  test('problem types lose their ACME prefix', () => {
    assert.equal(shortProblemType('urn:ietf:params:acme:error:badNonce'), 'badNonce');
    assert.equal(shortProblemType('about:blank'), 'about:blank');
    assert.equal(shortProblemType(undefined), '');
    assert.deepEqual(parseProblem({ type: 'urn:ietf:params:acme:error:dns', detail: 'no\nrecord' }), {
      type: 'dns',
      detail: 'no record',
      subproblems: [],
    });
  });

  test('Retry-After as seconds or as an HTTP date', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:01:00 GMT', now), 60);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });
});

describe('retry', () => {
  test('capped exponential backoff, Retry-After wins when longer', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(DEFAULT_RETRY_POLICY, n));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert.equal(backoffDelay(DEFAULT_RETRY_POLICY, 1, 10), 10_000);
    assert.equal(backoffDelay(DEFAULT_RETRY_POLICY, 3, 1), 4000);
  });

  const policy = { initialDelayMs: 1, maxDelayMs: 4, maxAttempts: 4 };
  const classify = (error: unknown) =>
    error instanceof CertRenewError ? error : new CertRenewError(ErrorCode.internal, String(error));
  const deadline = () => new CertRenewError(ErrorCode.issuerTimeout, 'deadline');
  const transient = () => new CertRenewError(ErrorCode.issuerUnavailable, 'down', { transient: true });

  test('transient failures are retried until success', async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw transient();
        return 'ok';
      },
      { policy, signal: new AbortController().signal, classify, deadline },
    );
    assert.equal(result, 'ok');
    assert.equal(calls, 3);
  });

  test('permanent failures are not retried', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw new CertRenewError(ErrorCode.issuerRejected, 'no');
        },
        { policy, signal: new AbortController().signal, classify, deadline },
      ),
      { code: ErrorCode.issuerRejected },
    );
    assert.equal(calls, 1);
  });

  test('attempts are bounded and the last transient error is thrown', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw transient();
        },
        { policy, signal: new AbortController().signal, classify, deadline },
      ),
      { code: ErrorCode.issuerUnavailable },
    );
    assert.equal(calls, policy.maxAttempts);
  });

  test('the deadline stops the retries with the last transient error', async () => {
    const controller = new AbortController();
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          controller.abort();
          throw transient();
        },
        { policy: { ...policy, initialDelayMs: 60_000 }, signal: controller.signal, classify, deadline },
      ),
      { code: ErrorCode.issuerUnavailable },
    );
    assert.equal(calls, 1);
    const aborted = AbortSignal.abort();
    await assert.rejects(
      withRetry(async () => 'never', { policy, signal: aborted, classify, deadline }),
      {
        code: ErrorCode.issuerTimeout,
      },
    );
  });
});

describe('directory and orders', () => {
  test('aliases resolve to the CAs directories, URLs pass, anything else is refused', () => {
    assert.equal(resolveDirectoryUrl('letsencrypt', 'le'), 'https://acme-v02.api.letsencrypt.org/directory');
    assert.equal(
      resolveDirectoryUrl('letsencrypt-staging', 'le'),
      ACME_DIRECTORY_URLS['letsencrypt-staging'],
    );
    for (const alias of ['zerossl', 'google', 'buypass'] as const) {
      assert.match(resolveDirectoryUrl(alias, 'x'), /^https:\/\//);
    }
    assert.equal(
      resolveDirectoryUrl('https://ca.internal:9000/acme/dir', 'x'),
      'https://ca.internal:9000/acme/dir',
    );
    assert.throws(() => resolveDirectoryUrl('letsencrypt-prod', 'x'), { code: ErrorCode.manifestInvalid });
    assert.throws(() => resolveDirectoryUrl('ftp://ca.test/dir', 'x'), { code: ErrorCode.manifestInvalid });
  });

  test('a directory needs newNonce, newAccount and newOrder', () => {
    const base = { newNonce: 'https://x/n', newAccount: 'https://x/a', newOrder: 'https://x/o' };
    assert.deepEqual(parseDirectory(base), base);
    assert.equal(parseDirectory({ ...base, newOrder: undefined }), undefined);
    assert.equal(parseDirectory('<html>'), undefined);
    assert.equal(parseDirectory({ ...base, renewalInfo: 'https://x/ari' })?.renewalInfo, 'https://x/ari');
  });

  test('the order payload carries identifiers, profile and replaces only when set', () => {
    assert.deepEqual(orderPayload(['a.test', '*.a.test', '192.0.2.1']), {
      identifiers: [
        { type: 'dns', value: 'a.test' },
        { type: 'dns', value: '*.a.test' },
        { type: 'ip', value: '192.0.2.1' },
      ],
    });
    assert.deepEqual(orderPayload(['a.test'], { profile: 'shortlived', replaces: 'aYhb.AIdl' }), {
      identifiers: [{ type: 'dns', value: 'a.test' }],
      profile: 'shortlived',
      replaces: 'aYhb.AIdl',
    });
  });
});
