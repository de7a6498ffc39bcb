import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ariCertIdentifier,
  ariCertIdentifierFromPem,
  parseRenewalInfo,
  renewalInfoUrl,
} from '../../src/issuers/acme/ari.js';
import { ariRenewAt } from '../../src/policy/time.js';
import { runCommand, type TempDir, tempDir } from '../harness/process.js';

// RFC 9773 §4.1's example: keyIdentifier 69:88:5B:…:C8:D4 and serial 0x87654321 (DER 00 87 65 43 21).
const RFC_AKI = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
const RFC_SERIAL_DER = Buffer.from('0087654321', 'hex');
const RFC_IDENTIFIER = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE';

describe('ARI certificate identifier', () => {
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
  });
  after(() => dir.remove());

  test('the RFC 9773 example values give the RFC identifier', () => {
    assert.equal(ariCertIdentifier(RFC_AKI, RFC_SERIAL_DER), RFC_IDENTIFIER);
  });

  test('a certificate with the RFC example AKI and serial (made by openssl) gives the RFC identifier', async () => {
    const at = (name: string) => join(dir.path, name);
    await writeFile(
      at('ca.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '[ext]',
        'basicConstraints = critical,CA:TRUE',
        `subjectKeyIdentifier = ${RFC_AKI.toString('hex').match(/../g)?.join(':')}`,
        '',
      ].join('\n'),
    );
    await writeFile(at('leaf.ext'), 'authorityKeyIdentifier = keyid\nsubjectAltName = DNS:example.test\n');
    const genkey = (out: string) =>
      runCommand('openssl', [
        'genpkey',
        '-algorithm',
        'EC',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-out',
        at(out),
      ]);
    await genkey('ca.key');
    await genkey('leaf.key');
    await runCommand('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      at('ca.key'),
      '-config',
      at('ca.cnf'),
      '-extensions',
      'ext',
      '-subj',
      '/CN=ARI example CA',
      '-days',
      '2',
      '-out',
      at('ca.pem'),
    ]);
    await runCommand('openssl', [
      'req',
      '-new',
      '-key',
      at('leaf.key'),
      '-subj',
      '/CN=example.test',
      '-out',
      at('leaf.csr'),
    ]);
    const { stdout } = await runCommand('openssl', [
      'x509',
      '-req',
      '-in',
      at('leaf.csr'),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-set_serial',
      '0x87654321',
      '-days',
      '1',
      '-extfile',
      at('leaf.ext'),
    ]);
    assert.equal(ariCertIdentifierFromPem(stdout), RFC_IDENTIFIER);
  });

  test('a certificate without AKI or a non-certificate gives no identifier', async () => {
    const at = (name: string) => join(dir.path, name);
    await runCommand('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      at('self.key'),
    ]);
    await writeFile(
      at('self.cnf'),
      '[req]\ndistinguished_name = dn\n[dn]\n[ext]\nbasicConstraints = CA:FALSE\n',
    );
    const { stdout } = await runCommand('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      at('self.key'),
      '-config',
      at('self.cnf'),
      '-extensions',
      'ext',
      '-subj',
      '/CN=self',
      '-days',
      '1',
    ]);
    assert.equal(ariCertIdentifierFromPem(stdout), undefined);
    assert.equal(ariCertIdentifierFromPem('not a certificate'), undefined);
  });
});

describe('renewalInfo responses', () => {
  test('a suggested window is parsed', () => {
    const window = parseRenewalInfo({
      suggestedWindow: { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' },
      explanationURL: 'https://acme.example.com/docs/ari',
    });
    assert.deepEqual(window, {
      start: new Date('2025-01-02T04:00:00Z'),
      end: new Date('2025-01-03T04:00:00Z'),
      explanationUrl: 'https://acme.example.com/docs/ari',
    });
  });

  test('malformed windows are ignored', () => {
    assert.equal(parseRenewalInfo(undefined), undefined);
    assert.equal(parseRenewalInfo('text'), undefined);
    assert.equal(parseRenewalInfo({}), undefined);
    assert.equal(
      parseRenewalInfo({ suggestedWindow: { start: 'yesterday', end: '2025-01-03T04:00:00Z' } }),
      undefined,
    );
    // end before start
    assert.equal(
      parseRenewalInfo({ suggestedWindow: { start: '2025-01-03T04:00:00Z', end: '2025-01-02T04:00:00Z' } }),
      undefined,
    );
  });

  test('the point in the window (the policy picks it) is inside it and the same for the same seed', () => {
    const window = { start: new Date('2025-01-02T00:00:00Z'), end: new Date('2025-01-03T00:00:00Z') };
    const a = ariRenewAt(window, 'cert-a');
    assert.ok(a >= window.start && a < window.end);
    assert.equal(ariRenewAt(window, 'cert-a').getTime(), a.getTime());
    const points = new Set(['a', 'b', 'c', 'd', 'e'].map((s) => ariRenewAt(window, s).getTime()));
    assert.ok(points.size > 1, 'different certificates spread over the window');
  });

  test('the renewalInfo URL joins the base and the identifier', () => {
    assert.equal(
      renewalInfoUrl('https://ca.test/ari/', RFC_IDENTIFIER),
      `https://ca.test/ari/${RFC_IDENTIFIER}`,
    );
    assert.equal(
      renewalInfoUrl('https://ca.test/ari', RFC_IDENTIFIER),
      `https://ca.test/ari/${RFC_IDENTIFIER}`,
    );
  });
});
