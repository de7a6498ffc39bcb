/**
 * Building certificates and CSRs. node:crypto cannot, so this uses @peculiar/x509 on node's WebCrypto.
 * It is imported lazily: commands that only read certificates (`plan`, `status`) never load it.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { CertRenewError, ErrorCode, InternalError } from '../errors.js';
import type { KeyType } from '../manifest/types.js';
import { ipVersion } from '../util/ip.js';
import { csrDer, csrPem } from './csr.js';
import { keyTypeOf } from './keys.js';

type X509Module = typeof import('@peculiar/x509');
type CryptoKey = webcrypto.CryptoKey;

let x509Module: Promise<X509Module> | undefined;

/** @peculiar/x509, loaded once and told to use node's WebCrypto. */
export function loadX509(): Promise<X509Module> {
  x509Module ??= import('@peculiar/x509').then((module) => {
    module.cryptoProvider.set(webcrypto as unknown as Parameters<X509Module['cryptoProvider']['set']>[0]);
    return module;
  });
  return x509Module;
}

/** A private key as WebCrypto keys plus what to sign with it. */
export interface SigningKeys {
  keyType: KeyType;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** SubjectPublicKeyInfo, DER. */
  spki: ArrayBuffer;
  /** SHA-256 for P-256 and RSA, SHA-384 for P-384. */
  signingAlgorithm: { name: string; hash: string };
}

/** Imports a private key PEM (PKCS#8, SEC1 or PKCS#1) for signing. Throws STORE_CORRUPT on garbage. */
export async function importSigningKey(keyPem: string): Promise<SigningKeys> {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertRenewError(ErrorCode.storeCorrupt, 'the private key does not parse', { cause: error });
  }
  const keyType = keyTypeOf(key);
  if (keyType === 'other') {
    throw new CertRenewError(
      ErrorCode.storeCorrupt,
      `unsupported private key (${key.asymmetricKeyType ?? 'unknown'}); cert-renew signs with ECDSA P-256/P-384 or RSA 2048/3072/4096`,
    );
  }
  const algorithm = webCryptoAlgorithm(keyType);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spkiBuffer = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const spki = toArrayBuffer(spkiBuffer);
  const subtle = webcrypto.subtle;
  const privateKey = (await subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign'])) as CryptoKey;
  const publicKey = (await subtle.importKey('spki', spki, algorithm, true, ['verify'])) as CryptoKey;
  return { keyType, privateKey, publicKey, spki, signingAlgorithm: signingAlgorithm(keyType) };
}

/** The SubjectPublicKeyInfo (DER) of a private or public key PEM. Throws STORE_CORRUPT on garbage. */
export function publicKeySpki(keyPem: string): { spki: ArrayBuffer; keyType: KeyType | 'other' } {
  try {
    const key = createPublicKey(keyPem);
    return { spki: toArrayBuffer(key.export({ type: 'spki', format: 'der' })), keyType: keyTypeOf(key) };
  } catch (error) {
    throw new CertRenewError(ErrorCode.storeCorrupt, 'the key does not parse', { cause: error });
  }
}

function webCryptoAlgorithm(keyType: KeyType): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams {
  switch (keyType) {
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ecdsa-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    default:
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

function signingAlgorithm(keyType: KeyType): { name: string; hash: string } {
  if (keyType === 'ecdsa-p384') return { name: 'ECDSA', hash: 'SHA-384' };
  if (keyType === 'ecdsa-p256') return { name: 'ECDSA', hash: 'SHA-256' };
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

function toArrayBuffer(buffer: Buffer): ArrayBuffer {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
}

/** Longest value X.509 allows for a common name (RFC 5280 ub-common-name). */
export const MAX_COMMON_NAME = 64;

/** The subject alternative names of `domains`: IP addresses as iPAddress, the rest as dNSName. */
export function subjectAltNames(domains: readonly string[]): { type: 'dns' | 'ip'; value: string }[] {
  return domains.map((value) => ({ type: ipVersion(value) ? 'ip' : 'dns', value }));
}

/** Subject `CN=<first domain>`, or an empty subject when the first name is too long for a CN. */
export function subjectFor(domains: readonly string[]): { CN: string[] }[] {
  const first = domains[0];
  return first !== undefined && first.length <= MAX_COMMON_NAME ? [{ CN: [first] }] : [];
}

/**
 * A PKCS#10 CSR (PEM) for `domains`, signed with the key (PEM, or already parsed): CN is the first domain (left out when longer than
 * 64 characters: the SAN carries the names anyway), one SAN entry per domain. SHA-256, or SHA-384 for P-384.
 */
export async function createCsr(privateKey: string | KeyObject, domains: readonly string[]): Promise<string> {
  if (domains.length === 0) throw new InternalError('createCsr needs at least one domain');
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (error) {
    throw new CertRenewError(ErrorCode.storeCorrupt, 'the private key does not parse', { cause: error });
  }
  if (keyTypeOf(key) === 'other') {
    throw new CertRenewError(
      ErrorCode.storeCorrupt,
      `unsupported private key (${key.asymmetricKeyType ?? 'unknown'}); cert-renew signs with ECDSA P-256/P-384 or RSA 2048/3072/4096`,
    );
  }
  // Written in DER directly (csr.ts): no ASN.1 library on the issuing path.
  return csrPem(csrDer(key, domains, subjectFor(domains)[0]?.CN[0]));
}

/** PEM text with `\n` line endings and one final newline. */
export function pemWithNewline(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trim()}\n`;
}

/** A positive 16-byte serial number (hex, upper case) with a non-zero first byte, so it stays 16 bytes. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex').toUpperCase();
}

export interface CertificateSpec {
  /** The subject's key, private or public PEM (only the public part is used). */
  subjectKeyPem: string;
  /** Subject common name; none when undefined. */
  commonName?: string;
  /** Subject alternative names (IP addresses become iPAddress entries). */
  domains?: readonly string[];
  /** Who signs. Absent: self-signed with `selfSignKeyPem`. */
  issuer?: { certPem: string; keyPem: string };
  /** Private key for a self-signed certificate (must be the subject's). */
  selfSignKeyPem?: string;
  /** Hex; default a random 16-byte positive serial. */
  serial?: string;
  notBefore: Date;
  notAfter: Date;
  /**
   * A CA certificate (basicConstraints CA:TRUE critical, keyCertSign + cRLSign), or a TLS leaf
   * (CA:FALSE, digitalSignature (+ keyEncipherment for RSA keys), serverAuth + clientAuth).
   */
  ca?: boolean;
  /** For CAs: how many intermediates may follow. */
  pathLength?: number;
}

/** Builds and signs one X.509 v3 certificate; returns its PEM. SKI always, AKI when not self-signed. */
export async function createCertificate(spec: CertificateSpec): Promise<string> {
  const x509 = await loadX509();
  const subject = publicKeySpki(spec.subjectKeyPem);
  const signerKeyPem = spec.issuer?.keyPem ?? spec.selfSignKeyPem;
  if (signerKeyPem === undefined)
    throw new InternalError('createCertificate needs an issuer or a self-sign key');
  const signer = await importSigningKey(signerKeyPem);
  const issuerCert = spec.issuer ? new x509.X509Certificate(spec.issuer.certPem) : undefined;
  // @peculiar/x509 reads a string value as RFC 4514 text: quotes, backslashes and a leading '#' (hex) would be
  // parsed, not written ('Example "Internal" CA' became CN=Internal, '#1 CA' threw). Such a name goes in as
  // written, a UTF8String; any other keeps the encoding it always had.
  const subjectName =
    spec.commonName === undefined
      ? []
      : /["\\]|^#/.test(spec.commonName)
        ? new x509.Name([{ CN: [{ utf8String: spec.commonName }] }])
        : [{ CN: [spec.commonName] }];

  const flags = x509.KeyUsageFlags;
  const extensions: InstanceType<X509Module['Extension']>[] = [];
  if (spec.ca) {
    extensions.push(new x509.BasicConstraintsExtension(true, spec.pathLength, true));
    extensions.push(
      new x509.KeyUsagesExtension(flags.keyCertSign | flags.cRLSign | flags.digitalSignature, true),
    );
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    const usage = subject.keyType.startsWith('rsa')
      ? flags.digitalSignature | flags.keyEncipherment
      : flags.digitalSignature;
    extensions.push(new x509.KeyUsagesExtension(usage, true));
    extensions.push(
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
    );
  }
  if (spec.domains && spec.domains.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(subjectAltNames(spec.domains)));
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(subject.spki));
  if (issuerCert) {
    // The AKI must carry the issuer's SKI as written in its certificate (other CAs may compute it otherwise).
    const ski = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
    extensions.push(
      ski
        ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
        : await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
    );
  }

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serial ?? randomSerial(),
    subject: subjectName,
    issuer: issuerCert ? issuerCert.subjectName : subjectName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: subject.spki,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.signingAlgorithm,
    extensions,
  });
  return pemWithNewline(cert.toString('pem'));
}
