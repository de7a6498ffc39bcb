/**
 * Throwaway certificates for the test servers (made with the openssl command line, so the tests do not
 * trust the code under test to build their fixtures) and a TLS handshake that returns what a server
 * presents.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { runCommand } from './process.js';

export interface CertificateAuthority {
  certPath: string;
  keyPath: string;
  certPem: string;
}

export interface LeafCertificate {
  certPath: string;
  keyPath: string;
  /** The leaf followed by the CA certificate. */
  fullchainPath: string;
  certPem: string;
  keyPem: string;
  /** Upper-case hex, as node's X509Certificate prints it. */
  serial: string;
  fingerprint256: string;
}

export interface PeerCertificate {
  serial: string;
  fingerprint256: string;
  raw: Buffer;
}

export type TestKeyType = 'ec' | 'rsa';

function keyArgs(keyType: TestKeyType): string[] {
  return keyType === 'rsa'
    ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
    : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

/** A serial whose first byte is 0x10–0x7f: positive, and printed the same way by every tool. */
function randomSerial(): string {
  const bytes = randomBytes(12);
  bytes[0] = 0x10 + ((bytes[0] ?? 0) % 0x70);
  return bytes.toString('hex').toUpperCase();
}

/** Serials compare equal however a tool prints them (case, leading zeros, colons). */
export function normalizeSerial(serial: string): string {
  return serial
    .replace(/[^0-9a-f]/gi, '')
    .replace(/^0+/, '')
    .toUpperCase();
}

/** Writes `<name>.pem` and `<name>.key` (a self-signed CA) into `dir`. */
export async function createCa(
  dir: string,
  options: { name?: string; commonName?: string; days?: number; keyType?: TestKeyType } = {},
): Promise<CertificateAuthority> {
  const name = options.name ?? 'ca';
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  await runCommand('openssl', ['genpkey', ...keyArgs(options.keyType ?? 'ec'), '-out', keyPath]);
  const extPath = join(dir, `${name}.ext`);
  await writeFile(
    extPath,
    [
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  await runCommand('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-config',
    extPath,
    '-extensions',
    'ext',
    '-subj',
    `/CN=${options.commonName ?? 'cert-renew test CA'}`,
    '-days',
    String(options.days ?? 30),
    '-set_serial',
    `0x${randomSerial()}`,
    '-out',
    certPath,
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8') };
}

/**
 * Writes `<name>.pem`, `<name>.key` and `<name>-fullchain.pem` into `dir`: a server certificate for
 * `names` (DNS names or IP addresses) signed by `ca`.
 */
export async function createLeaf(
  ca: CertificateAuthority,
  dir: string,
  options: { names: string[]; name?: string; commonName?: string; days?: number; keyType?: TestKeyType },
): Promise<LeafCertificate> {
  const name = options.name ?? 'leaf';
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const extPath = join(dir, `${name}.ext`);
  const certPath = join(dir, `${name}.pem`);
  const fullchainPath = join(dir, `${name}-fullchain.pem`);
  const subjectAltName = options.names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  await runCommand('openssl', ['genpkey', ...keyArgs(options.keyType ?? 'ec'), '-out', keyPath]);
  await runCommand('openssl', [
    'req',
    '-new',
    '-key',
    keyPath,
    '-subj',
    `/CN=${options.commonName ?? options.names[0] ?? 'test'}`,
    '-out',
    csrPath,
  ]);
  await writeFile(
    extPath,
    [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth,clientAuth',
      `subjectAltName = ${subjectAltName}`,
      '',
    ].join('\n'),
  );
  await runCommand('openssl', [
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    '-set_serial',
    `0x${randomSerial()}`,
    '-days',
    String(options.days ?? 30),
    '-sha256',
    '-extfile',
    extPath,
    '-out',
    certPath,
  ]);
  const certPem = await readFile(certPath, 'utf8');
  await writeFile(fullchainPath, certPem + ca.certPem);
  const x509 = new X509Certificate(certPem);
  return {
    certPath,
    keyPath,
    fullchainPath,
    certPem,
    keyPem: await readFile(keyPath, 'utf8'),
    serial: normalizeSerial(x509.serialNumber),
    fingerprint256: x509.fingerprint256,
  };
}

/**
 * A TLS handshake with host:port that returns the certificate the server presents. It does not verify
 * the certificate (this is a test helper looking at what is served, not a client trusting it).
 */
export async function peerCertificate(
  port: number,
  options: { host?: string; servername?: string; timeoutMs?: number } = {},
): Promise<PeerCertificate> {
  const host = options.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: options.servername ?? (isIP(host) ? undefined : host),
      rejectUnauthorized: false,
    });
    socket.setTimeout(options.timeoutMs ?? 30_000, () => {
      socket.destroy();
      reject(new Error(`TLS handshake with ${host}:${port} timed out`));
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      if (!raw) {
        reject(new Error(`${host}:${port} presented no certificate`));
        return;
      }
      const x509 = new X509Certificate(raw);
      resolve({ serial: normalizeSerial(x509.serialNumber), fingerprint256: x509.fingerprint256, raw });
    });
  });
}
