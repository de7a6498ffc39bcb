import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import { KEY_TYPES, type KeyType } from '../../src/manifest/types.js';
import { createCertificate, MAX_COMMON_NAME, randomSerial } from '../../src/x509/build.js';
import {
  certificateMaterial,
  privateKeyMaterial,
  sameMaterial,
  serialAndAuthorityKeyId,
} from '../../src/x509/der.js';
import {
  createCsr,
  generateKey,
  inspectCertificate,
  keyMatchesCertificate,
  keyTypeOf,
  normalizeName,
  sameDomains,
  sameSerial,
  splitPemChain,
  verifyChain,
} from '../../src/x509/index.js';
import { keyTypeOfMaterial } from '../../src/x509/keys.js';

const execFileAsync = promisify(execFile);

/** Runs `openssl req -noout -text -verify` on a CSR given on stdin. */
async function opensslReq(csrPem: string): Promise<string> {
  const child = execFileAsync('openssl', ['req', '-noout', '-text', '-verify']);
  child.child.stdin?.end(csrPem);
  const { stdout, stderr } = await child;
  return stdout + stderr;
}

const DAY = 86_400_000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

describe('keys', () => {
  // RSA-4096 is slow: every key type is generated exactly once, here, and reused below.
  const keys = new Map<KeyType, string>();

  test('every key type generates a PKCS#8 key of that type', async () => {
    const generated = await Promise.all(
      KEY_TYPES.map(async (type) => [type, await generateKey(type)] as const),
    );
    for (const [type, pem] of generated) {
      keys.set(type, pem);
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.equal(keyTypeOf(createPrivateKey(pem)), type);
    }
  });

  test('CSRs parse and verify for every key type, with the right signature hash', async () => {
    const expectedAlgorithm: Record<KeyType, RegExp> = {
      'ecdsa-p256': /ecdsa-with-SHA256/,
      'ecdsa-p384': /ecdsa-with-SHA384/,
      'rsa-2048': /sha256WithRSAEncryption/,
      'rsa-3072': /sha256WithRSAEncryption/,
      'rsa-4096': /sha256WithRSAEncryption/,
    };
    for (const type of KEY_TYPES) {
      const keyPem = keys.get(type);
      assert.ok(keyPem, `key ${type} was generated`);
      const csr = await createCsr(keyPem, ['www.example.com', 'example.com', '192.0.2.7', '2001:db8::1']);
      assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
      const text = await opensslReq(csr);
      assert.match(text, /verify OK/, type);
      assert.match(text, /Subject: CN\s?=\s?www\.example\.com/, type);
      assert.match(
        text,
        /DNS:www\.example\.com, DNS:example\.com, IP Address:192\.0\.2\.7, IP Address:2001:DB8:0:0:0:0:0:1/i,
      );
      assert.match(text, expectedAlgorithm[type], type);
    }
  });

  test('public key material read from DER agrees with node:crypto for every key type and encoding', async () => {
    const certs = new Map<KeyType, string>();
    for (const type of KEY_TYPES) {
      const keyPem = await keyOf(type);
      const certPem = await createCertificate({
        subjectKeyPem: keyPem,
        selfSignKeyPem: keyPem,
        commonName: type,
        notBefore: new Date('2030-01-01T00:00:00Z'),
        notAfter: new Date('2030-02-01T00:00:00Z'),
      });
      certs.set(type, certPem);
      const cert = new X509Certificate(certPem);
      const material = certificateMaterial(cert.raw);
      assert.ok(material, type);
      assert.equal(keyTypeOfMaterial(material), type);
      assert.equal(keyTypeOf(cert.publicKey), type);
      assert.equal(inspectCertificate(certPem).keyType, type);
      const key = createPrivateKey(keyPem);
      const legacy = key
        .export({ type: type.startsWith('rsa') ? 'pkcs1' : 'sec1', format: 'pem' })
        .toString();
      for (const pem of [keyPem, legacy]) {
        const mine = privateKeyMaterial(pem);
        assert.ok(mine, `${type} ${pem.split('\n')[0]}`);
        assert.ok(sameMaterial(mine, material), type);
        assert.equal(keyMatchesCertificate(pem, certPem), true);
      }
    }
    for (const type of KEY_TYPES) {
      for (const other of KEY_TYPES) {
        if (other === type) continue;
        assert.equal(
          keyMatchesCertificate(await keyOf(type), certs.get(other) ?? ''),
          false,
          `${type} vs ${other}`,
        );
      }
    }
    // Keys it cannot read (encrypted, Ed25519) fall back to node:crypto instead of guessing.
    const encrypted = createPrivateKey(await keyOf('ecdsa-p256'))
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    assert.equal(privateKeyMaterial(encrypted), undefined);
    assert.equal(keyMatchesCertificate(encrypted, certs.get('ecdsa-p256') ?? ''), false);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.equal(privateKeyMaterial(ed), undefined);
  });

  test('a CSR whose first name is longer than 64 characters has no CN but keeps the name in the SAN', async () => {
    const long = `${'a'.repeat(60)}.example.com`;
    assert.ok(long.length > MAX_COMMON_NAME);
    const csr = await createCsr(await keyOf('ecdsa-p256'), [long]);
    const text = await opensslReq(csr);
    assert.match(text, /verify OK/);
    assert.doesNotMatch(text, /CN\s?=/);
    assert.ok(text.includes(`DNS:${long}`));
  });

  test('keyTypeOf says other for keys outside the manifest key types', () => {
    assert.equal(keyTypeOf(generateKeyPairSync('ed25519').privateKey), 'other');
    assert.equal(keyTypeOf(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey), 'other');
  });

  test('createCsr refuses garbage keys with STORE_CORRUPT', async () => {
    await assert.rejects(createCsr('not a key', ['example.com']), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.storeCorrupt);
      return true;
    });
  });

  async function keyOf(type: KeyType): Promise<string> {
    return keys.get(type) ?? (await generateKey(type));
  }
});

describe('certificates', () => {
  let rootKey: string;
  let root: string;
  let intermediateKey: string;
  let intermediate: string;
  let leafKey: string;
  let leaf: string;
  let otherRoot: string;

  test('build a root → intermediate → leaf chain', async () => {
    [rootKey, intermediateKey, leafKey] = await Promise.all([
      generateKey('ecdsa-p384'),
      generateKey('rsa-2048'),
      generateKey('ecdsa-p256'),
    ]);
    const otherKey = await generateKey('ecdsa-p256');
    root = await createCertificate({
      subjectKeyPem: rootKey,
      selfSignKeyPem: rootKey,
      commonName: 'Test Root',
      notBefore: at(-1000),
      notAfter: at(1000),
      ca: true,
    });
    otherRoot = await createCertificate({
      subjectKeyPem: otherKey,
      selfSignKeyPem: otherKey,
      commonName: 'Test Root',
      notBefore: at(-1000),
      notAfter: at(1000),
      ca: true,
    });
    intermediate = await createCertificate({
      subjectKeyPem: intermediateKey,
      issuer: { certPem: root, keyPem: rootKey },
      commonName: 'Test Intermediate',
      notBefore: at(-500),
      notAfter: at(500),
      ca: true,
      pathLength: 0,
    });
    leaf = await createCertificate({
      subjectKeyPem: leafKey,
      issuer: { certPem: intermediate, keyPem: intermediateKey },
      commonName: 'WWW.Example.COM',
      domains: ['WWW.Example.COM', 'xn--bcher-kva.example', '*.wild.example', '192.0.2.1', '::1'],
      serial: '0A1B2C3D4E5F60718293A4B5C6D7E8F9',
      notBefore: at(0),
      notAfter: at(90),
    });
  });

  test('inspectCertificate reads every field', () => {
    const info = inspectCertificate(leaf);
    assert.equal(info.serial, '0A1B2C3D4E5F60718293A4B5C6D7E8F9');
    assert.equal(info.commonName, 'WWW.Example.COM');
    assert.equal(info.subject, 'CN=WWW.Example.COM');
    assert.equal(info.issuer, 'CN=Test Intermediate');
    assert.deepEqual(info.dnsNames, ['www.example.com', 'xn--bcher-kva.example', '*.wild.example']);
    assert.deepEqual(info.ipAddresses, ['192.0.2.1', '::1']);
    assert.deepEqual(info.notBefore, at(0));
    assert.deepEqual(info.notAfter, at(90));
    assert.equal(info.lifetimeMs, 90 * DAY);
    assert.equal(info.keyType, 'ecdsa-p256');
    assert.equal(info.isCA, false);
    assert.equal(info.fingerprint256, new X509Certificate(leaf).fingerprint256);
    assert.match(info.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const ca = inspectCertificate(intermediate);
    assert.equal(ca.isCA, true);
    assert.equal(ca.keyType, 'rsa-2048');
    assert.deepEqual(ca.dnsNames, []);
  });

  test('inspectCertificate takes the first certificate of a full chain', () => {
    assert.equal(inspectCertificate(`${leaf}${intermediate}`).commonName, 'WWW.Example.COM');
  });

  test('random serials are 16 positive bytes', async () => {
    const serial = randomSerial();
    assert.match(serial, /^[0-7][0-9A-F]{31}$/);
    assert.notEqual(serial.slice(0, 2), '00');
    const cert = await createCertificate({
      subjectKeyPem: leafKey,
      selfSignKeyPem: leafKey,
      commonName: 'x',
      notBefore: at(0),
      notAfter: at(1),
    });
    assert.match(inspectCertificate(cert).serial, /^[0-9A-F]{32}$/);
  });

  test('inspectCertificate throws STORE_CORRUPT on garbage', () => {
    const damaged = leaf.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    for (const garbage of [
      '',
      'hello',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      damaged,
    ]) {
      assert.throws(
        () => inspectCertificate(garbage),
        (error: unknown) => error instanceof CertRenewError && error.code === ErrorCode.storeCorrupt,
      );
    }
  });

  test('keyMatchesCertificate: true for its key, false for another, false for garbage', () => {
    assert.equal(keyMatchesCertificate(leafKey, leaf), true);
    assert.equal(keyMatchesCertificate(rootKey, leaf), false);
    assert.equal(keyMatchesCertificate(intermediateKey, intermediate), true);
    assert.equal(keyMatchesCertificate('garbage', leaf), false);
    assert.equal(keyMatchesCertificate(leafKey, 'garbage'), false);
    assert.equal(keyMatchesCertificate('', ''), false);
  });

  test('splitPemChain returns each certificate block, CRLF or not, skipping other text', () => {
    const text = `subject=leaf\r\n${leaf.replace(/\n/g, '\r\n')}junk\n${leafKey}${intermediate}\n\n${root}`;
    const blocks = splitPemChain(text);
    assert.equal(blocks.length, 3);
    assert.equal(blocks[0], leaf);
    assert.equal(blocks[1], intermediate);
    assert.equal(blocks[2], root);
    assert.deepEqual(splitPemChain('no pem here'), []);
  });

  test('verifyChain: a good chain verifies, with or without the root in it', () => {
    assert.deepEqual(verifyChain(leaf, intermediate, [root], at(1)), { ok: true });
    assert.deepEqual(verifyChain(leaf, `${intermediate}${root}`, [root], at(1)), { ok: true });
    assert.deepEqual(verifyChain(`${leaf}${intermediate}`, intermediate, [root]), { ok: true });
    // Without anchors only the links are checked.
    assert.deepEqual(verifyChain(leaf, intermediate), { ok: true });
    // A CA signing directly: empty chain, the leaf checked against the anchor.
    assert.deepEqual(verifyChain(intermediate, '', [root], at(1)), { ok: true });
  });

  test('verifyChain: a broken chain fails', () => {
    const missing = verifyChain(leaf, '', [root], at(1));
    assert.equal(missing.ok, false);
    const wrongOrder = verifyChain(leaf, `${root}${intermediate}`, [root], at(1));
    assert.equal(wrongOrder.ok, false);
    assert.match(!wrongOrder.ok ? wrongOrder.reason : '', /not issued by/);
    const unrelated = verifyChain(leaf, otherRoot, undefined, at(1));
    assert.equal(unrelated.ok, false);
    const garbage = verifyChain('garbage', intermediate, [root]);
    assert.deepEqual(garbage, { ok: false, reason: 'the certificate is not PEM' });
    const badChain = verifyChain(leaf, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', [
      root,
    ]);
    assert.equal(badChain.ok, false);
  });

  test('verifyChain: a chain that ends at another anchor fails', () => {
    const verdict = verifyChain(leaf, intermediate, [otherRoot], at(1));
    assert.equal(verdict.ok, false);
    assert.match(!verdict.ok ? verdict.reason : '', /not issued by any trust anchor/);
    assert.equal(verifyChain(leaf, intermediate, [], at(1)).ok, false);
  });

  test('verifyChain: a signature from a different key with the same issuer name fails', async () => {
    const impostorKey = await generateKey('ecdsa-p256');
    const impostor = await createCertificate({
      subjectKeyPem: impostorKey,
      selfSignKeyPem: impostorKey,
      commonName: 'Test Intermediate',
      notBefore: at(-10),
      notAfter: at(10),
      ca: true,
    });
    assert.equal(verifyChain(leaf, impostor, undefined, at(1)).ok, false);
  });

  test('verifyChain: a certificate signed by a leaf fails', async () => {
    const childKey = await generateKey('ecdsa-p256');
    const child = await createCertificate({
      subjectKeyPem: childKey,
      issuer: { certPem: leaf, keyPem: leafKey },
      commonName: 'child',
      notBefore: at(0),
      notAfter: at(10),
    });
    // OpenSSL's issuer check already refuses an issuer without keyCertSign; either way it must not verify.
    assert.equal(verifyChain(child, `${leaf}${intermediate}`, [root], at(1)).ok, false);
    assert.equal(verifyChain(child, leaf).ok, false);
  });

  test('verifyChain checks validity dates at the given time, anchors included', () => {
    const expired = verifyChain(leaf, intermediate, [root], at(91));
    assert.equal(expired.ok, false);
    assert.match(!expired.ok ? expired.reason : '', /the certificate .* expired at 2030-04-01/);
    const early = verifyChain(leaf, intermediate, [root], at(-1));
    assert.match(!early.ok ? early.reason : '', /not valid before/);
    assert.deepEqual(verifyChain(leaf, intermediate, [root], at(90)), { ok: true });
    // The intermediate (500 days) expires before the root (1000 days).
    const caExpired = verifyChain(intermediate, '', [root], at(600));
    assert.match(!caExpired.ok ? caExpired.reason : '', /the certificate .*Test Intermediate.* expired/);
    const rootExpired = verifyChain(intermediate, '', [root], at(1001));
    assert.equal(rootExpired.ok, false);
  });
});

describe('sameDomains', () => {
  const rows: [string[], string[], boolean][] = [
    [['a.example', 'b.example'], ['B.EXAMPLE', 'a.example'], true],
    [['a.example'], ['a.example', 'b.example'], false],
    [['a.example', 'a.example'], ['A.example'], true],
    [['a.example.'], ['a.example'], true],
    [['bücher.example'], ['xn--bcher-kva.example'], true],
    [['*.bücher.example'], ['*.xn--bcher-kva.example'], true],
    [['::1'], ['0:0:0:0:0:0:0:1'], true],
    [['2001:DB8::1'], ['2001:db8:0:0:0:0:0:1'], true],
    [['192.0.2.1'], ['192.0.2.2'], false],
    [['*.a.example'], ['b.a.example'], false],
    [[], [], true],
  ];
  for (const [a, b, expected] of rows) {
    test(`${JSON.stringify(a)} vs ${JSON.stringify(b)} → ${expected}`, () => {
      assert.equal(sameDomains(a, b), expected);
      assert.equal(sameDomains(b, a), expected);
    });
  }

  test('normalizeName', () => {
    assert.equal(normalizeName('WWW.Example.com.'), 'www.example.com');
    // Spaces around a name are not trimmed: a certificate's ' www.example.com' is not www.example.com.
    assert.notEqual(normalizeName(' www.example.com'), 'www.example.com');
    assert.equal(normalizeName('0:0:0:0:0:0:0:1'), '::1');
  });
});

test('sameSerial: case, colons and leading zeros do not count', () => {
  assert.ok(sameSerial('00AB12', 'ab:12'));
  assert.ok(sameSerial('0A', 'a'));
  assert.ok(!sameSerial('AB12', 'AB13'));
});

test('serialAndAuthorityKeyId reads notAfter as UTCTime (before 2050) and GeneralizedTime (from 2050)', async () => {
  const caKey = await generateKey('ecdsa-p256');
  const ca = await createCertificate({
    subjectKeyPem: caKey,
    selfSignKeyPem: caKey,
    commonName: 'notAfter CA',
    notBefore: at(-1),
    notAfter: new Date('2080-01-01T00:00:00Z'),
    ca: true,
  });
  const leafKey = await generateKey('ecdsa-p256');
  for (const notAfter of [
    new Date('2030-03-04T05:06:07Z'),
    new Date('2049-12-31T23:59:59Z'),
    new Date('2050-01-01T00:00:00Z'),
    new Date('2071-06-30T12:00:01Z'),
  ]) {
    const pem = await createCertificate({
      subjectKeyPem: leafKey,
      issuer: { keyPem: caKey, certPem: ca },
      domains: ['example.test'],
      notBefore: at(-1),
      notAfter,
    });
    const der = new X509Certificate(pem).raw;
    const parts = serialAndAuthorityKeyId(der);
    assert.ok(parts, 'the leaf has an AKI');
    assert.equal(parts.notAfter?.toISOString(), notAfter.toISOString());
    assert.equal(parts.notAfter?.getTime(), Date.parse(new X509Certificate(pem).validTo));
  }
});
