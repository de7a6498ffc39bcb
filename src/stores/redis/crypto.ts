/**
 * Private keys encrypted at rest for the Redis store: AES-256-GCM, a random 12-byte IV per value, the
 * certificate name as additional authenticated data (a ciphertext copied to another certificate does not
 * decrypt), and the key id stored beside the ciphertext so keys can be rotated (`previousKeys`).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { RedisStoreConfig, SecretRef } from '../../manifest/types.js';

export const ENCRYPTION_ALG = 'aes-256-gcm';

/** How an encrypted private key is stored in `cert:{name}` (`private_key_enc`). Binary fields are base64. */
export interface EncryptedPrivateKey {
  alg: typeof ENCRYPTION_ALG;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

/** The key that encrypts new values and every key that may decrypt old ones, by key id. */
export interface KeyRing {
  currentId: string;
  keys: ReadonlyMap<string, Buffer>;
}

/**
 * Thrown by `decryptPrivateKey`; the store turns it into an `unreadable` load result, or, with `wrongKey`
 * (the value names a configured key id and that key fails authentication: most likely another host
 * configured a different key under the same id), into an `error` result that nothing is reissued over.
 */
export class DecryptError extends Error {
  constructor(
    message: string,
    readonly wrongKey: { kid: string } | undefined = undefined,
  ) {
    super(message);
    this.name = 'DecryptError';
  }
}

/** 32 bytes written as 64 hex digits or as base64 (with or without padding). */
export function parseEncryptionKey(text: string, what: string): Buffer {
  const trimmed = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const decoded = Buffer.from(
      trimmed,
      trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64',
    );
    if (decoded.length === 32) key = decoded;
  }
  if (!key) {
    throw new CertRenewError(ErrorCode.secretUnavailable, `${what} is not a 32-byte key (base64 or hex)`, {
      hint: 'generate one with `openssl rand -base64 32`',
    });
  }
  return key;
}

/** The default key id: the first 8 hex digits of the key's SHA-256 (identifies it without revealing it). */
export function defaultKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Reads the current and previous keys of a store's `encryption` setting. */
export async function loadKeyRing(
  storeName: string,
  encryption: NonNullable<RedisStoreConfig['encryption']>,
  readSecret: (ref: SecretRef) => Promise<string>,
): Promise<KeyRing> {
  const keys = new Map<string, Buffer>();
  for (const previous of encryption.previousKeys ?? []) {
    const key = parseEncryptionKey(
      await readSecret(previous.key),
      `encryption key "${previous.keyId}" of store "${storeName}"`,
    );
    keys.set(previous.keyId, key);
  }
  const current = parseEncryptionKey(
    await readSecret(encryption.key),
    `encryption key of store "${storeName}"`,
  );
  const currentId = encryption.keyId ?? defaultKeyId(current);
  keys.set(currentId, current);
  return { currentId, keys };
}

function aad(name: string): Buffer {
  return Buffer.from(`cert-renew:${name}`, 'utf8');
}

export function encryptPrivateKey(ring: KeyRing, name: string, pem: string): EncryptedPrivateKey {
  const key = ring.keys.get(ring.currentId);
  if (!key) throw new Error(`key ring has no key ${ring.currentId}`);
  const iv = randomBytes(12);
  const cipher = createCipheriv(ENCRYPTION_ALG, key, iv);
  cipher.setAAD(aad(name));
  const ct = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return {
    alg: ENCRYPTION_ALG,
    kid: ring.currentId,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  };
}

/** The PEM, or a `DecryptError` whose message says which key id failed and why. Never returns garbage. */
export function decryptPrivateKey(ring: KeyRing | undefined, name: string, value: unknown): string {
  const enc = value as Partial<EncryptedPrivateKey> | null;
  const kid = typeof enc?.kid === 'string' ? enc.kid : '(none)';
  const cannot = `private key cannot be decrypted with key id ${kid}`;
  if (
    !enc ||
    typeof enc !== 'object' ||
    enc.alg !== ENCRYPTION_ALG ||
    typeof enc.iv !== 'string' ||
    typeof enc.tag !== 'string' ||
    typeof enc.ct !== 'string'
  ) {
    throw new DecryptError(`${cannot}: the encrypted value is malformed or uses another algorithm`);
  }
  if (!ring) throw new DecryptError(`${cannot}: the store has no encryption key configured`);
  const key = ring.keys.get(kid);
  if (!key) {
    throw new DecryptError(`${cannot}: no such key is configured (add it to encryption.previousKeys)`);
  }
  try {
    const decipher = createDecipheriv(ENCRYPTION_ALG, key, Buffer.from(enc.iv, 'base64'));
    decipher.setAAD(aad(name));
    decipher.setAuthTag(Buffer.from(enc.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(enc.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptError(
      `${cannot}: wrong key, or the value was altered or belongs to another certificate`,
      { kid },
    );
  }
}
