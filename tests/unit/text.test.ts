/**
 * Redacting URL userinfo and credentials, neutralising control characters in echoed text, and joining the
 * clauses of one line (src/util/text.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  forgetSecrets,
  isSecretEnvName,
  joinClauses,
  neutralise,
  redactCredentials,
  redactKnownSecrets,
  redactUrls,
  rememberSecret,
  rememberSecretEnvironment,
  safeText,
  terminalSafe,
} from '../../src/util/text.js';

test('userinfo is hidden in well-formed and malformed URLs, wherever they sit in a text', () => {
  for (const [input, expected] of [
    ["'redis://:S3cret@127.0.0.1/0 ' is not a valid URL", "'redis://***@127.0.0.1/0 ' is not a valid URL"],
    ['redis://user:S3cret@h:99999/0', 'redis://***@h:99999/0'],
    ['redis:/:S3cret@h', 'redis:/***@h'],
    ['rediss://:S3 cret@h/0', 'rediss://***@h/0'],
    ['redis://:p@ss@h/0', 'redis://***@h/0'],
    ['https://u:pw@ca.example/dir and more', 'https://***@ca.example/dir and more'],
    // Mistyped separators, and a forgotten '@'.
    ["'rediss//:S3cret@redis.example.com:6379/0'", "'rediss//:***@redis.example.com:6379/0'"],
    ['redis::S3cret@h', 'redis::***@h'],
    ['redis://:S3cretredis.example.com:6379', 'redis://:***'],
    // Query parameters may be credentials too: their values are hidden, their names kept.
    [
      "'redis://127.0.0.1:6379/0?password=hunter2' has a query or fragment",
      "'redis://127.0.0.1:6379/0?password=***' has a query or fragment",
    ],
    ['rediss://h/0?user=ops&password=pw&tls', 'rediss://h/0?user=***&password=***&tls'],
    ['https://ca.example/dir?token=abc#top', 'https://ca.example/dir?token=***#top'],
  ]) {
    assert.equal(redactUrls(input as string), expected);
  }
  for (const plain of [
    'redis://127.0.0.1:6379/0',
    'write to ops@example.com',
    'for example: ops@example.com',
    'no url here',
    'is it here? no url',
  ]) {
    assert.equal(redactUrls(plain), plain);
  }
});

test('control characters become visible escapes; tabs spaces; newlines kept only when asked', () => {
  assert.equal(neutralise('a\u001b]0;t\u0007b\u009b'), 'a\\u001b]0;t\\u0007b\\u009b');
  assert.equal(neutralise('one\r\ntwo'), 'one\\u000d\\ntwo');
  assert.equal(neutralise('one\ntwo', true), 'one\ntwo');
  assert.equal(neutralise('a\tb'), 'a b');
  assert.equal(neutralise('x\u202ey'), 'x\\u202ey');
  assert.equal(neutralise('plain text, ünïcode'), 'plain text, ünïcode');
  assert.equal(safeText('redis://:S3cret@h\u001b[2J'), 'redis://***@h\\u001b[2J');
});

test('terminalSafe keeps newlines, tabs and colour, and escapes every other sequence', () => {
  assert.equal(terminalSafe('a\tb\n\u001b[31mred\u001b[0m\n'), 'a\tb\n\u001b[31mred\u001b[0m\n');
  assert.equal(
    terminalSafe('\u001b]0;title\u0007x\u001b[2J\r\n'),
    '\\u001b]0;title\\u0007x\\u001b[2J\\u000d\n',
  );
});

test('credentials a child process or a server echoes are hidden; their names and everything else stay', () => {
  for (const [input, expected] of [
    [
      'curl: (22) 401; Authorization: Bearer eyJhbGciOi.xyz123abc',
      'curl: (22) 401; Authorization: Bearer ***',
    ],
    ['Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic ***'],
    ['proxy-authorization=abcdef', 'proxy-authorization=***'],
    ['sent Bearer abcdefgh12345678 to the API', 'sent Bearer *** to the API'],
    ['error: api_key=abcd1234 invalid', 'error: api_key=*** invalid'],
    ['X-API-Key: deadbeef refused', 'X-API-Key: *** refused'],
    ['PDNS_API_KEY=abc123 pdns_api.sh', 'PDNS_API_KEY=*** pdns_api.sh'],
    ['AWS_SECRET_ACCESS_KEY=AKIAxyz/abc+def', 'AWS_SECRET_ACCESS_KEY=***'],
    ['{"token": "s3cr3t", "zone": "x"}', '{"token": "***", "zone": "x"}'],
    ['password=hunter2&user=bob', 'password=***&user=bob'],
    ['tsig secret: c2VjcmV0', 'tsig secret: ***'],
    ['X-Auth-Token: abcdefghijklmnopqrstuv', 'X-Auth-Token: ***'],
    ['token: abcdefghijklmnopq', 'token: ***'],
  ]) {
    assert.equal(redactCredentials(input as string), expected, input);
    assert.equal(safeText(input as string), expected, input);
  }
  for (const plain of [
    'set the `password` secret reference',
    'give it as "password": {"env": "NAME"} or {"file": "/path"}',
    'hmacKey: { env: X }',
    'export PDNS_API_KEY=$PDNS_KEY',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable reference, not a template
    'export PDNS_API_KEY=${PDNS_KEY}',
    'a token is single-use; run again',
    'failed: secret key mismatch (BADSIG)',
    'm.json:3:4: /issuers/p/challenge/powerdns/apiKey: must be object',
    'password=***',
    'Bearer short',
    // Certificates named like credentials, at the start of cert-renew's own lines.
    'vault-secret: renewing (within-renew-window: 29d left of 90d)',
    'api-token: 2 failures; backing off',
    'api-key: certificate api-key: ACME issuer le says the certificate is already revoked',
    // Issuers, stores and hooks named like credentials, in cert-renew's own messages.
    'issuer secret: dns-01 command /x/hook present _acme-challenge.a.test. exited with status 1',
    'issuer my-token: rfc2136 deleting TXT _acme-challenge.a.test failed',
    'store password: cannot write cert2024',
    'certificate api-key: renewing2026 now',
  ]) {
    assert.equal(safeText(plain), plain);
  }
});

test('values the run knows are secret are hidden in any shape; short ones and other text stay', () => {
  forgetSecrets();
  try {
    rememberSecretEnvironment({
      DNS_API_TOKEN: 'SUPERSECRET-TOKEN-42',
      PDNS_APIKEY: 'pdns-key-7781',
      TSIG_SECRET: 'c2VjcmV0LXRzaWc=',
      DB_Password: 'hunter2hunter2',
      MY_CREDENTIALS: 'credential-value',
      SHORT_TOKEN: 'abc12',
      API_TOKEN_FILE: '/etc/cert-renew/token',
      TSIG_KEY_NAME: 'cr-key-name',
      HOME: '/home/ops',
      PATH: '/usr/bin:/bin',
    });
    rememberSecret('step-ca-password\n');
    for (const [input, expected] of [
      ['error: 403 forbidden for token SUPERSECRET-TOKEN-42', 'error: 403 forbidden for token ***'],
      ['{"error":"bad credentials","key":"pdns-key-7781"}', '{"error":"bad credentials","key":"***"}'],
      ['nsupdate: c2VjcmV0LXRzaWc= rejected', 'nsupdate: *** rejected'],
      ['x hunter2hunter2 y credential-value', 'x *** y ***'],
      ['password was step-ca-password.', 'password was ***.'],
      // Too short to mask safely; names that only point at or name a secret.
      ['got abc12', 'got abc12'],
      [
        'read /etc/cert-renew/token; key cr-key-name; in /home/ops via /usr/bin:/bin',
        'read /etc/cert-renew/token; key cr-key-name; in /home/ops via /usr/bin:/bin',
      ],
    ]) {
      assert.equal(safeText(input as string), expected, input);
      assert.equal(terminalSafe(input as string), expected, input);
      assert.equal(redactKnownSecrets(input as string), expected, input);
    }
    for (const [name, secret] of [
      ['DNS_API_TOKEN', true],
      ['AWS_SECRET_ACCESS_KEY', true],
      ['PASSWD', true],
      ['GOOGLE_APPLICATION_CREDENTIALS_JSON', true],
      ['API_TOKEN_FILE', false],
      ['SSH_KEY_PATH', false],
      ['HOME', false],
      ['LANG', false],
    ] as const) {
      assert.equal(isSecretEnvName(name), secret, name);
    }
  } finally {
    forgetSecrets();
  }
  assert.equal(
    safeText('error: 403 forbidden for token SUPERSECRET-TOKEN-42'),
    'error: 403 forbidden for token SUPERSECRET-TOKEN-42',
  );
});

test('clauses join with "; " and never read ".; "', () => {
  assert.equal(
    joinClauses(
      'cannot save certificate "web": OOM command not allowed when used memory > \'maxmemory\'.',
      "the failed attempt could not be recorded in store 'shared': OOM command not allowed.",
    ),
    "cannot save certificate \"web\": OOM command not allowed when used memory > 'maxmemory'; the failed attempt could not be recorded in store 'shared': OOM command not allowed.",
  );
  assert.equal(joinClauses('waiting...', 'then', ''), 'waiting...; then');
  assert.equal(joinClauses('one'), 'one');
});
