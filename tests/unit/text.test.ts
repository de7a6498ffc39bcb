/** Redacting URL userinfo and credentials, and neutralising control characters in echoed text (src/util/text.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { neutralise, redactCredentials, redactUrls, safeText, terminalSafe } from '../../src/util/text.js';

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
  ]) {
    assert.equal(safeText(plain), plain);
  }
});
