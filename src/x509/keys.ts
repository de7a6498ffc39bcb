import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import type { KeyType } from '../manifest/types.js';
import {
  CURVE_P256,
  CURVE_P384,
  certificateMaterial,
  modulusBits,
  type PublicMaterial,
  privateKeyMaterial,
  sameMaterial,
} from './der.js';
import { splitPemChain } from './pem.js';

const curveKeyTypes: Record<string, KeyType> = {
  prime256v1: 'ecdsa-p256',
  'P-256': 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  'P-384': 'ecdsa-p384',
};

const rsaKeyTypes: Record<number, KeyType> = { 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' };

/** The manifest key type of a private or public key, or `'other'` (Ed25519, P-521, RSA-1024, RSA-PSS…). */
export function keyTypeOf(key: KeyObject): KeyType | 'other' {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return curveKeyTypes[details?.namedCurve ?? ''] ?? 'other';
  if (key.asymmetricKeyType === 'rsa') return rsaKeyTypes[details?.modulusLength ?? 0] ?? 'other';
  return 'other';
}

/** A new private key: the parsed key and its PKCS#8 PEM (what the stores keep). */
export interface NewKey {
  key: KeyObject;
  keyPem: string;
}

/**
 * A new private key of `type`, as a KeyObject and as PKCS#8 PEM. Generated as a KeyObject and exported once,
 * so the caller can sign the CSR with it without parsing the PEM again (OpenSSL 3 takes ~0.35 ms per
 * parse of a P-256 key). Asynchronous on purpose: an RSA-4096 key takes a while and must not block the
 * event loop (other certificates' work, lock renewals, timeouts keep running).
 */
export async function newPrivateKey(type: KeyType): Promise<NewKey> {
  // Promisified here, not when the module loads: a run that generates no key never reads node:crypto (its
  // custom promisified form, so this costs nothing per call).
  const generate = promisify(generateKeyPair);
  const { privateKey } =
    type === 'ecdsa-p256' || type === 'ecdsa-p384'
      ? await generate('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' })
      : await generate('rsa', {
          modulusLength: Number(type.slice('rsa-'.length)),
          publicExponent: 0x10001,
        });
  return { key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** A new private key of `type` as PKCS#8 PEM (see newPrivateKey). */
export async function generateKey(type: KeyType): Promise<string> {
  return (await newPrivateKey(type)).keyPem;
}

/** Parses a private key (PKCS#8, SEC1 or PKCS#1 PEM); `undefined` when it does not parse. */
export function parsePrivateKey(keyPem: string): KeyObject | undefined {
  try {
    return createPrivateKey(keyPem);
  } catch {
    return undefined;
  }
}

/** Whether the private key belongs to the public key (compares the key material). Never throws. */
export function privateKeyMatches(keyPem: string, publicKey: KeyObject): boolean {
  const privateKey = parsePrivateKey(keyPem);
  if (!privateKey) return false;
  try {
    return createPublicKey(privateKey).equals(publicKey);
  } catch {
    return false;
  }
}

/** The key type of public key material read from DER. */
export function keyTypeOfMaterial(material: PublicMaterial): KeyType | 'other' {
  if (material.kind === 'rsa') return rsaKeyTypes[modulusBits(material.n)] ?? 'other';
  if (material.curve === CURVE_P256) return 'ecdsa-p256';
  if (material.curve === CURVE_P384) return 'ecdsa-p384';
  return 'other';
}

/**
 * Whether the private key belongs to the certificate. Compares the public key bytes read from both DERs
 * (fast); when those cannot be read, or differ, node:crypto decides (so an unusual but equal encoding is
 * never reported as a mismatch). Never throws.
 */
export function keyMatchesX509(keyPem: string, cert: X509Certificate): boolean {
  try {
    const mine = privateKeyMaterial(keyPem);
    const theirs = mine && certificateMaterial(cert.raw);
    if (mine && theirs && sameMaterial(mine, theirs)) return true;
    return privateKeyMatches(keyPem, cert.publicKey);
  } catch {
    return false;
  }
}

/** Whether the private key is the one the (first) certificate was issued for. Never throws: garbage is false. */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  const first = splitPemChain(certPem)[0];
  if (first === undefined) return false;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch {
    return false;
  }
  return keyMatchesX509(keyPem, cert);
}
