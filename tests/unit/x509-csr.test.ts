/**
 * CSRs written in DER by src/x509/csr.ts, checked by openssl (an independent parser): the signature
 * verifies, the subject is CN=<first domain> (none for a name longer than 64 characters), and the SAN
 * extension request lists every name, IP addresses as such, for every key type.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyType } from '../../src/manifest/types.js';
import { createCsr, generateKey } from '../../src/x509/index.js';
import { runCommand } from '../harness/process.js';

async function openssl(csrPem: string): Promise<string> {
  const result = await runCommand('openssl', ['req', '-noout', '-verify', '-text'], { input: csrPem });
  return `${result.stdout}\n${result.stderr}`;
}

describe('createCsr (DER written by hand) as openssl reads it', () => {
  const keyTypes: KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048'];
  for (const keyType of keyTypes) {
    test(`${keyType}: signature, subject and names`, async () => {
      const key = await generateKey(keyType);
      const domains = ['www.example.test', '*.example.test', '192.0.2.10', '2001:db8::1', '::ffff:192.0.2.1'];
      const text = await openssl(await createCsr(key, domains));
      assert.match(text, /verify OK/i);
      assert.match(text, /Subject: CN\s*=\s*www\.example\.test/);
      assert.match(
        text,
        /DNS:www\.example\.test, DNS:\*\.example\.test, IP Address:192\.0\.2\.10, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:201/,
      );
      assert.match(
        text,
        keyType === 'ecdsa-p384'
          ? /ecdsa-with-SHA384/
          : keyType === 'ecdsa-p256'
            ? /ecdsa-with-SHA256/
            : /sha256WithRSAEncryption/,
      );
    });
  }

  test('a first name longer than 64 characters: no CN, the SAN still carries it', async () => {
    const long = `${'a'.repeat(60)}.example.test`;
    const text = await openssl(await createCsr(await generateKey('ecdsa-p256'), [long]));
    assert.match(text, /verify OK/i);
    assert.match(text, /Subject:\s*\n/);
    assert.ok(text.includes(`DNS:${long}`));
  });
});
