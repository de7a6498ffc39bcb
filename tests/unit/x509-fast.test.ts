/** The metadata fast path of planning agrees with node:crypto, and steps aside whenever it should. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as peculiar from '@peculiar/x509';
import { inspectStored } from '../../src/policy/decide.js';
import { createCertificate } from '../../src/x509/build.js';
import { certificateIdentity, certificateNames } from '../../src/x509/der.js';
import { inspectWithMeta, metaNaming } from '../../src/x509/fast.js';
import { canonicalIp, certInfo, parseCertificate, parseSubjectAltName } from '../../src/x509/inspect.js';
import { generateKey } from '../../src/x509/keys.js';
import { holdsCertificate, sameCertificates } from '../../src/x509/pem.js';
import { makeCertificate } from '../contract/fixtures.js';

describe('inspectWithMeta', () => {
  test('matches what node:crypto reads, for ECDSA and RSA', async () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const { bundle, meta } = await makeCertificate('fast', {
        keyType,
        domains: ['a.example.test', 'b.example.test'],
      });
      const fast = inspectWithMeta({ ...bundle, meta });
      assert.ok(fast, `${keyType}: fast path taken`);
      const slow = certInfo(
        parseCertificate(bundle.certPem) as NonNullable<ReturnType<typeof parseCertificate>>,
      );
      assert.equal(fast.cert.notAfter.getTime(), slow.notAfter.getTime());
      assert.equal(fast.cert.notBefore.getTime(), slow.notBefore.getTime());
      assert.equal(fast.cert.keyType, slow.keyType);
      assert.equal(fast.cert.fingerprint256, slow.fingerprint256);
      assert.deepEqual([...fast.cert.dnsNames].sort(), [...slow.dnsNames].sort());
    }
  });

  test("gives the certificate's own names, not the metadata's (a meta.json edited by hand)", async () => {
    const { bundle, meta } = await makeCertificate('named', {
      domains: ['app.example.test', 'www.example.test'],
    });
    const edited = inspectWithMeta({ ...bundle, meta: { ...meta, domains: ['evil.example'] } });
    assert.deepEqual(edited?.cert.dnsNames, ['app.example.test', 'www.example.test']);
  });

  test('steps aside when the metadata does not belong to the certificate', async () => {
    const { bundle, meta } = await makeCertificate('fast');
    const other = await makeCertificate('other');
    // Metadata of another certificate (dates that would lie): its serial and dates are not these.
    assert.equal(inspectWithMeta({ ...bundle, meta: other.meta }), undefined);
    // This certificate's metadata with one fact changed: another serial, or other dates.
    const serial = meta.serial.replace(/^./, (c) => (c === '1' ? '2' : '1'));
    for (const changed of [
      { serial },
      { notAfter: '2099-01-01T00:00:00Z' },
      { notBefore: new Date(Date.parse(meta.notBefore) - 1000).toISOString() },
    ]) {
      assert.equal(
        inspectWithMeta({ ...bundle, meta: { ...meta, ...changed } }),
        undefined,
        JSON.stringify(changed),
      );
    }
    // The same serial written otherwise (lower case, colons, a leading zero) is the same number, and the
    // certificate's own spelling is what is reported (the ARI point is hashed from it).
    const spelt = `00${meta.serial.toLowerCase()}`.match(/../g)?.join(':') ?? '';
    assert.equal(inspectWithMeta({ ...bundle, meta: { ...meta, serial: spelt } })?.cert.serial, meta.serial);
    const inspected = inspectStored({
      state: 'present',
      cert: { ...bundle, meta: { ...other.meta, notAfter: '2099-01-01T00:00:00Z' } },
    });
    assert.ok(inspected?.ok);
    assert.notEqual(inspected.cert.notAfter.getUTCFullYear(), 2099, 'real dates come from the certificate');
    // No metadata, or a key that is not the certificate's: node:crypto decides.
    assert.equal(inspectWithMeta({ ...bundle, meta: undefined }), undefined);
    assert.equal(inspectWithMeta({ ...bundle, keyPem: other.bundle.keyPem, meta }), undefined);
    const mismatch = inspectStored({
      state: 'present',
      cert: { ...bundle, keyPem: other.bundle.keyPem, meta },
    });
    assert.ok(mismatch?.ok);
    assert.equal(mismatch.keyMatches, false);
  });
});

describe('metaNaming', () => {
  test("takes the metadata's dates in any ISO spelling of the certificate's second, and nothing else", async () => {
    const { bundle, meta } = await makeCertificate('spelt');
    const second = Math.floor(Date.parse(meta.notAfter) / 1000) * 1000;
    const spellings = [
      new Date(second).toISOString(),
      new Date(second + 999).toISOString(), // the stores write milliseconds; X.509 has whole seconds
      new Date(second).toISOString().replace('.000Z', 'Z'),
      new Date(second).toISOString().replace('Z', '+00:00'),
    ];
    for (const notAfter of spellings) {
      assert.ok(metaNaming(bundle.certPem, { ...meta, notAfter }), notAfter);
    }
    const iso = new Date(second).toISOString();
    for (const notAfter of [
      new Date(second + 1000).toISOString(),
      new Date(second - 1).toISOString(),
      `${iso.slice(0, 5)}13${iso.slice(7)}`, // a 13th month is not carried into the next year
      `${iso.slice(0, 10)}x${iso.slice(11)}`,
      iso.replace(/\.\d{3}/, '.0x0'),
      'soon',
      '',
    ]) {
      assert.equal(metaNaming(bundle.certPem, { ...meta, notAfter }), undefined, notAfter);
    }
  });
});

describe('holdsCertificate', () => {
  test('says what the regular expression it replaces says, for every text of up to six pieces', () => {
    const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
    const pieces = ['-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', 'A', '\n', '-----'];
    let held = 0;
    const each = (text: string, depth: number): void => {
      assert.equal(holdsCertificate(text), block.test(text), JSON.stringify(text));
      if (block.test(text)) held++;
      if (depth < 6) for (const piece of pieces) each(text + piece, depth + 1);
    };
    each('', 0);
    assert.ok(held > 1000);
  });
});

describe('sameCertificates', () => {
  test('is true when the full chain holds the certificate then the chain, however the lines are laid out', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nAAAA\nAAAA\n-----END CERTIFICATE-----\n';
    const chain = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
    assert.ok(sameCertificates(cert + chain, cert, chain));
    assert.ok(sameCertificates(cert, cert, ''), 'no chain');
    // Another layout of the same certificates: a blank line between them, CRLF, no final newlines.
    for (const fullchain of [
      `${cert}\n${chain}`,
      (cert + chain).replaceAll('\n', '\r\n'),
      `${cert.trim()}${chain.trim()}`,
    ]) {
      assert.ok(sameCertificates(fullchain, cert, chain), JSON.stringify(fullchain));
    }
    for (const fullchain of [
      chain + cert,
      cert + chain.replace('BBBB', 'BBBC'),
      cert.replace('AAAA', 'AAAB') + chain,
      cert,
      cert + chain + chain,
    ]) {
      assert.equal(sameCertificates(fullchain, cert, chain), false, fullchain);
    }
  });
});

describe('certificateIdentity', () => {
  test('reads the serial, notBefore, notAfter and key node:crypto reads, for ECDSA and RSA', async () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      for (let i = 0; i < 8; i++) {
        const { bundle } = await makeCertificate(`identity-${i}`, { keyType });
        const x509 = new X509Certificate(bundle.certPem);
        const own = certificateIdentity(x509.raw);
        assert.ok(own, keyType);
        // node prints the serial as OpenSSL does: upper-case hex, whole bytes, no sign padding.
        assert.equal(own.serial, x509.serialNumber.toUpperCase(), keyType);
        assert.equal(own.notBefore.getTime(), new Date(x509.validFrom).getTime(), keyType);
        assert.equal(own.notAfter.getTime(), new Date(x509.validTo).getTime(), keyType);
        assert.equal(own.key.kind, keyType.startsWith('rsa') ? 'rsa' : 'ec');
      }
    }
  });

  test('reads UTCTime (years to 2049, 19xx from 50) and GeneralizedTime (from 2050) as node:crypto does', async () => {
    const key = await generateKey('ecdsa-p256');
    for (const [notBefore, notAfter] of [
      ['1999-12-31T23:59:59Z', '2049-12-31T23:59:59Z'],
      ['2026-02-28T00:00:01Z', '2050-01-01T00:00:00Z'],
      ['1950-01-01T00:00:00Z', '2071-06-30T12:00:01Z'],
    ]) {
      const pem = await createCertificate({
        subjectKeyPem: key,
        selfSignKeyPem: key,
        commonName: 'times',
        notBefore: new Date(notBefore as string),
        notAfter: new Date(notAfter as string),
      });
      const x509 = new X509Certificate(pem);
      const own = certificateIdentity(x509.raw);
      assert.equal(own?.notBefore.toISOString(), new Date(notBefore as string).toISOString());
      assert.equal(own?.notAfter.getTime(), Date.parse(x509.validTo), notAfter);
    }
  });

  test('leaves a GeneralizedTime year below 100 to node:crypto, and a negative serial keeps its sign there', async () => {
    const key = await generateKey('ecdsa-p256');
    const early = await createCertificate({
      subjectKeyPem: key,
      selfSignKeyPem: key,
      commonName: 'early',
      notBefore: new Date('0050-01-01T00:00:00Z'),
      notAfter: new Date('0099-12-25T16:28:25Z'),
    });
    assert.equal(certificateIdentity(new X509Certificate(early).raw), undefined);
    // A negative serial (RFC 5280 allows none; OpenSSL makes one when asked): node prints it signed.
    const dir = mkdtempSync(join(tmpdir(), 'cert-renew-negative-'));
    let negative: string;
    try {
      const args = 'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -set_serial -5';
      const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      const argv = [...args.split(' '), '-subj', '/CN=negative', '-keyout', key, '-out', cert];
      execFileSync('openssl', argv, { stdio: 'ignore' });
      negative = readFileSync(join(dir, 'cert.pem'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const x509 = new X509Certificate(negative);
    assert.equal(x509.serialNumber, '-05');
    assert.equal(certInfo(x509).serial, '-05');
  });

  test('agrees with node:crypto on every one-byte change of a certificate, or reads nothing', async () => {
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const { bundle } = await makeCertificate('changed', { keyType });
      const der = new X509Certificate(bundle.certPem).raw;
      let read = 0;
      for (let i = 0; i < der.length; i++) {
        for (const flip of [0x01, 0x80]) {
          const bytes = Buffer.from(der);
          bytes[i] = (bytes[i] as number) ^ flip;
          const own = certificateIdentity(bytes);
          if (!own) continue;
          let x509: X509Certificate;
          try {
            x509 = new X509Certificate(bytes);
          } catch {
            continue; // OpenSSL refuses what this reader skips over (an extension's inner tags)
          }
          // A negative serial (RFC 5280 allows none) node prints signed; it is never the metadata's.
          if (x509.serialNumber.startsWith('-')) continue;
          // A time OpenSSL cannot print (a 13th month, second 60) is not read here either.
          if (Number.isNaN(Date.parse(x509.validFrom)) || Number.isNaN(Date.parse(x509.validTo))) {
            assert.fail(
              `${keyType}: byte ${i} ^ ${flip}: read a time node:crypto cannot (${x509.validFrom})`,
            );
          }
          read++;
          const where = `${keyType}: byte ${i} ^ ${flip}`;
          assert.equal(own.serial, x509.serialNumber.toUpperCase(), where);
          assert.equal(own.notBefore.getTime(), Date.parse(x509.validFrom), where);
          assert.equal(own.notAfter.getTime(), Date.parse(x509.validTo), where);
          const names = certificateNames(bytes);
          if (names) {
            const node = parseSubjectAltName(x509.subjectAltName ?? '');
            assert.deepEqual(names.dns, node.dns, where);
            assert.deepEqual(names.ip.map(canonicalIp), node.ip.map(canonicalIp), where);
          }
        }
      }
      assert.ok(read > der.length, `${keyType}: most changes (the signature's, names') still read`);
    }
  });

  test('names: the dNSName and iPAddress entries node:crypto gives, for names of every kind', async () => {
    const key = await generateKey('ecdsa-p256');
    for (const domains of [
      ['example.test'],
      ['*.Example.TEST', 'example.test', 'xn--bcher-kva.example'],
      ['192.0.2.1', '2001:db8::1', '::1', 'a.example.test', '10.0.0.255', 'fe80::1:2:3'],
    ]) {
      const pem = await createCertificate({
        subjectKeyPem: key,
        selfSignKeyPem: key,
        commonName: 'names',
        domains,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const x509 = new X509Certificate(pem);
      const node = parseSubjectAltName(x509.subjectAltName ?? '');
      const own = certificateNames(x509.raw);
      assert.deepEqual(own?.dns, node.dns, domains.join(' '));
      assert.deepEqual(own?.ip.map(canonicalIp), node.ip.map(canonicalIp), domains.join(' '));
    }
    const { bundle } = await makeCertificate('no-extensions-read');
    assert.deepEqual(certificateNames(new X509Certificate(bundle.certPem).raw)?.dns, [
      'no-extensions-read.example.test',
    ]);
  });

  test('names: leaves to node:crypto a subjectAltName it might read otherwise (forms, types, a second one)', async () => {
    peculiar.cryptoProvider.set(webcrypto as unknown as Parameters<typeof peculiar.cryptoProvider.set>[0]);
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);
    const dns = (name: string) => tlv(0x82, Buffer.from(name, 'latin1'));
    const san = (...entries: Buffer[]) =>
      new peculiar.Extension('2.5.29.17', false, tlv(0x30, Buffer.concat(entries)));
    const certificate = async (...extensions: peculiar.Extension[]) =>
      new X509Certificate(
        (
          await peculiar.X509CertificateGenerator.createSelfSigned({
            name: 'CN=names',
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + 86_400_000),
            keys,
            signingAlgorithm: algorithm,
            extensions,
          })
        ).toString('pem'),
      ).raw;
    const cases: [string, peculiar.Extension[]][] = [
      [
        'a dNSName in constructed form',
        [san(dns('a.example.test'), tlv(0xa2, tlv(0x16, Buffer.from('evil.example.test'))))],
      ],
      [
        'an iPAddress in constructed form',
        [san(dns('a.example.test'), tlv(0xa7, tlv(0x04, Buffer.from([1, 2, 3, 4]))))],
      ],
      ['two subjectAltName extensions', [san(dns('two-a.example.test')), san(dns('two-b.example.test'))]],
      ['an entry of no known type', [san(dns('a.example.test'), tlv(0x89, Buffer.from([0])))]],
      [
        'an otherName without its type',
        [san(dns('a.example.test'), tlv(0xa0, tlv(0x01, Buffer.from([0xff]))))],
      ],
      ['a directoryName', [san(dns('a.example.test'), tlv(0xa4, tlv(0x30, Buffer.alloc(0))))]],
      ['an empty registeredID', [san(dns('a.example.test'), tlv(0x88, Buffer.alloc(0)))]],
    ];
    for (const [what, extensions] of cases)
      assert.equal(certificateNames(await certificate(...extensions)), undefined, what);
    // What it reads: the dNSName and iPAddress entries, with an email address and a URI beside them.
    const read = await certificate(
      san(
        dns('a.example.test'),
        tlv(0x81, Buffer.from('ops@example.test')),
        tlv(0x86, Buffer.from('https://example.test/')),
        tlv(0x87, Buffer.from([192, 0, 2, 1])),
      ),
    );
    assert.deepEqual(certificateNames(read), { dns: ['a.example.test'], ip: ['192.0.2.1'] });
  });

  test('is undefined for bytes that are not a certificate', () => {
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]),
      Buffer.alloc(64, 0x30),
    ])
      assert.equal(certificateIdentity(bytes), undefined);
  });
});
