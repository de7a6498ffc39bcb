import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ariCertIdentifier,
  ariCertIdentifierFromPem,
  parseRenewalInfo,
  renewalInfoRetryAfter,
  renewalInfoUrl,
} from '../../src/issuers/acme/ari.js';
import { keptWindow } from '../../src/issuers/acme/renewal-info.js';
import type { KeptRenewalInfo } from '../../src/issuers/types.js';
import { parseKeptRenewalInfo } from '../../src/plan/renewal-info-cache.js';
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

describe('renewal information kept until its Retry-After (RFC 9773 §4.3)', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms).toISOString();

  test('Retry-After in seconds or as an HTTP-date (its three forms, nothing else), clamped to one minute … one day', () => {
    const table: [string | undefined, string | undefined][] = [
      ['21600', at(21_600_000)],
      [' 3600 ', at(3_600_000)],
      ['0', at(60_000)],
      ['30', at(60_000)],
      ['604800', at(86_400_000)],
      ['Tue, 01 Jan 2030 02:00:00 GMT', at(7_200_000)],
      ['Mon, 31 Dec 2029 23:00:00 GMT', at(60_000)],
      ['Fri, 01 Feb 2030 00:00:00 GMT', at(86_400_000)],
      // The obsolete forms a recipient must still accept (RFC 9110 §5.6.7); asctime-date has no zone: GMT.
      ['Tuesday, 01-Jan-30 02:00:00 GMT', at(7_200_000)],
      ['Tue Jan  1 02:00:00 2030', at(7_200_000)],
      // What Date.parse takes but is no HTTP-date is not a Retry-After: the answer is not kept.
      ['x 2099', undefined],
      ['Dec 1', undefined],
      ['2030-01-01T02:00:00Z', undefined],
      ['Tue, 01 Jan 2030 02:00:00 +0000', undefined],
      [undefined, undefined],
      ['', undefined],
      ['-5', undefined],
      ['1.5', undefined],
      ['soon', undefined],
      ['2030', at(2_030_000)],
      ['2030-01-01', undefined],
    ];
    for (const [header, expected] of table) {
      assert.equal(renewalInfoRetryAfter(header, now)?.toISOString(), expected, `Retry-After: ${header}`);
    }
  });

  const suggestedWindow = { start: '2030-02-01T00:00:00.000Z', end: '2030-02-02T00:00:00.000Z' };
  const kept: KeptRenewalInfo = {
    identifier: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
    directory: 'https://ca.example.test/dir',
    suggestedWindow,
    fetchedAt: at(0),
    retryAfter: at(6 * 3_600_000),
  };

  test('a kept window holds from when it was fetched until its Retry-After, and no longer than a day', () => {
    const window = { start: new Date(suggestedWindow.start), end: new Date(suggestedWindow.end) };
    assert.deepEqual(keptWindow(kept, now), window);
    assert.deepEqual(keptWindow(kept, new Date(now.getTime() + 6 * 3_600_000 - 1)), window);
    assert.equal(keptWindow(kept, new Date(now.getTime() + 6 * 3_600_000)), undefined, 'Retry-After reached');
    assert.equal(
      keptWindow(kept, new Date(now.getTime() - 1)),
      undefined,
      'fetched in the future (clock set back)',
    );
    assert.equal(
      keptWindow({ ...kept, retryAfter: at(86_400_001) }, now),
      undefined,
      'more than a day ahead',
    );
    assert.equal(
      keptWindow(
        { ...kept, suggestedWindow: { start: suggestedWindow.end, end: suggestedWindow.start } },
        now,
      ),
      undefined,
      'end before start',
    );
    assert.equal(keptWindow({ ...kept, retryAfter: 'tomorrow' }, now), undefined, 'not a date');
  });

  test('a kept blob is read only when every field has its type', () => {
    assert.deepEqual(parseKeptRenewalInfo(JSON.stringify(kept)), kept);
    const withUrl = { ...kept, explanationURL: 'https://ca.example.test/incident' };
    assert.deepEqual(parseKeptRenewalInfo(JSON.stringify(withUrl)), withUrl);
    for (const bad of [
      undefined,
      '',
      'null',
      '[]',
      '{"identifier": 1}',
      JSON.stringify({ ...kept, suggestedWindow: null }),
      JSON.stringify({ ...kept, suggestedWindow: { start: 1, end: 2 } }),
      JSON.stringify({ ...kept, retryAfter: undefined }),
      JSON.stringify({ ...kept, explanationURL: 42 }),
      JSON.stringify({ ...kept, none: true }), // "none" with a window
      JSON.stringify({ ...kept, suggestedWindow: undefined, none: 'yes' }),
    ]) {
      assert.equal(parseKeptRenewalInfo(bad), undefined, String(bad));
    }
    // The directory offered no renewalInfo: kept without a window.
    const none = { ...kept, suggestedWindow: undefined, none: true as const };
    delete none.suggestedWindow;
    assert.deepEqual(parseKeptRenewalInfo(JSON.stringify(none)), none);
    assert.equal(keptWindow(none, now), undefined, 'no window to use');
  });
});
