/**
 * The JSON value of `cert:{name}` (and of each `history:{name}` entry) and of `attempts:{name}`.
 * Field names are snake_case because proxies written in other languages read them.
 */
import { KEY_TYPES, type KeyType } from '../../manifest/types.js';
import { metaNaming } from '../../x509/fast.js';
import { sameCertificates } from '../../x509/pem.js';
import { attemptFromFields } from '../attempt-record.js';
import type { AttemptInfo, CertificateBundle, StoredCertificate, StoredMeta } from '../types.js';
import {
  DecryptError,
  decryptPrivateKey,
  type EncryptedPrivateKey,
  encryptPrivateKey,
  type KeyRing,
} from './crypto.js';

export interface CertRecord {
  name: string;
  domains: string[];
  issuer: string;
  status: 'valid';
  issued_at: string;
  expires_at: string;
  not_before: string;
  fingerprint: string;
  serial: string;
  key_type: KeyType;
  via?: string;
  fullchain_pem: string;
  cert_pem: string;
  chain_pem: string;
  private_key_pem?: string;
  private_key_enc?: EncryptedPrivateKey;
}

function withNewline(pem: string): string {
  return pem === '' || pem.endsWith('\n') ? pem : `${pem}\n`;
}

export function encodeCertRecord(
  name: string,
  bundle: CertificateBundle,
  meta: StoredMeta,
  ring: KeyRing | undefined,
): string {
  const certPem = withNewline(bundle.certPem);
  const chainPem = withNewline(bundle.chainPem);
  const record: CertRecord = {
    name,
    domains: meta.domains,
    issuer: meta.issuer,
    status: 'valid',
    issued_at: meta.issuedAt,
    expires_at: meta.notAfter,
    not_before: meta.notBefore,
    fingerprint: meta.fingerprint,
    serial: meta.serial,
    key_type: meta.keyType,
    ...(meta.via === undefined ? {} : { via: meta.via }),
    fullchain_pem: certPem + chainPem,
    cert_pem: certPem,
    chain_pem: chainPem,
    ...(ring
      ? { private_key_enc: encryptPrivateKey(ring, name, bundle.keyPem) }
      : { private_key_pem: bundle.keyPem }),
  };
  return JSON.stringify(record);
}

/**
 * `wrongKey`: the private key names a configured key id whose key does not decrypt it (see DecryptError);
 * the store must neither use nor replace such a value.
 */
export type DecodedCert =
  | { ok: true; cert: StoredCertificate }
  | { ok: false; error: string; wrongKey?: { kid: string } };

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\r?\n?/g;

const isString = (v: unknown): v is string => typeof v === 'string';

function metaOf(record: Record<string, unknown>, name: string): StoredMeta | undefined {
  const r = record;
  const domains = r.domains;
  if (
    !Array.isArray(domains) ||
    !domains.every(isString) ||
    !isString(r.issuer) ||
    !isString(r.expires_at) ||
    !isString(r.not_before) ||
    !isString(r.fingerprint) ||
    !isString(r.serial) ||
    !isString(r.issued_at) ||
    !(KEY_TYPES as readonly unknown[]).includes(r.key_type)
  ) {
    return undefined;
  }
  const meta: StoredMeta = {
    name,
    domains,
    issuer: r.issuer,
    keyType: r.key_type as KeyType,
    notBefore: r.not_before,
    notAfter: r.expires_at,
    fingerprint: r.fingerprint,
    serial: r.serial,
    issuedAt: r.issued_at,
  };
  if (isString(r.via)) meta.via = r.via;
  return meta;
}

/**
 * Reads a stored value. Anything that cannot be used as it is — not JSON, another certificate's value,
 * no certificate or key PEM, a key that does not decrypt — is reported with a reason, never guessed at.
 * Values written by other tools with only `fullchain_pem` are accepted (the leaf is its first block).
 */
export function decodeCertRecord(name: string, text: string, ring: KeyRing | undefined): DecodedCert {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: 'the stored value is not valid JSON' };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, error: 'the stored value is not a JSON object' };
  }
  const record = parsed as Record<string, unknown>;
  if (record.name !== undefined && record.name !== name) {
    return { ok: false, error: `the stored value belongs to certificate ${JSON.stringify(record.name)}` };
  }
  let certPem = isString(record.cert_pem) ? record.cert_pem : undefined;
  let chainPem = isString(record.chain_pem) ? record.chain_pem : undefined;
  if ((certPem === undefined || chainPem === undefined) && isString(record.fullchain_pem)) {
    const blocks = record.fullchain_pem.match(PEM_BLOCK) ?? [];
    certPem ??= blocks[0];
    chainPem ??= blocks.slice(1).join('');
  }
  if (!certPem?.includes('-----BEGIN CERTIFICATE-----')) {
    return { ok: false, error: 'the stored value holds no certificate PEM (cert_pem or fullchain_pem)' };
  }
  let keyPem: string;
  if (record.private_key_enc !== undefined) {
    try {
      keyPem = decryptPrivateKey(ring, name, record.private_key_enc);
    } catch (error) {
      if (error instanceof DecryptError) {
        return { ok: false, error: error.message, ...(error.wrongKey ? { wrongKey: error.wrongKey } : {}) };
      }
      throw error;
    }
  } else if (isString(record.private_key_pem) && record.private_key_pem.includes('PRIVATE KEY-----')) {
    keyPem = record.private_key_pem;
  } else {
    return { ok: false, error: 'the stored value holds no private key (private_key_pem or private_key_enc)' };
  }
  // A value cert-renew wrote has fullchain_pem = cert_pem + chain_pem (another tool's may lay them out
  // otherwise, with the same certificates): one whose certificates differ was edited since,
  // and which of them a reader takes is not known here. Reported; the next renewal writes a whole value.
  if (
    isString(record.cert_pem) &&
    isString(record.chain_pem) &&
    isString(record.fullchain_pem) &&
    !sameCertificates(record.fullchain_pem, record.cert_pem, record.chain_pem)
  ) {
    return {
      ok: false,
      error: 'fullchain_pem is not cert_pem followed by chain_pem: changed since it was written',
    };
  }
  // The metadata only when it names the certificate (x509/fast.ts): everything downstream takes it as such.
  const meta = metaOf(record, name);
  return {
    ok: true,
    cert: { certPem, chainPem: chainPem ?? '', keyPem, meta: meta && metaNaming(certPem, meta) },
  };
}

export function encodeAttempt(attempt: AttemptInfo): string {
  return JSON.stringify({
    last_attempt: attempt.lastAttempt,
    failure_count: attempt.failureCount,
    ...(attempt.lastErrorCode === undefined ? {} : { last_error_code: attempt.lastErrorCode }),
    ...(attempt.lastError === undefined ? {} : { last_error: attempt.lastError }),
    ...(attempt.retryAfter === undefined ? {} : { retry_after: attempt.retryAfter }),
    ...(attempt.hooksPending ? { hooks_pending: true } : {}),
  });
}

/** Attempts are advisory (backoff): an unreadable value counts as none. */
export function decodeAttempt(text: string | null | undefined): AttemptInfo | undefined {
  if (!text) return undefined;
  try {
    const r = (JSON.parse(text) ?? {}) as Record<string, unknown>;
    return attemptFromFields({
      lastAttempt: r.last_attempt,
      failureCount: r.failure_count,
      lastErrorCode: r.last_error_code,
      lastError: r.last_error,
      retryAfter: r.retry_after,
      hooksPending: r.hooks_pending,
    });
  } catch {
    return undefined;
  }
}

/** What an announcement carries (published as JSON on `announce.channel`). */
export function announcement(
  store: string,
  event: 'renewed' | 'rolled-back',
  meta: Pick<StoredMeta, 'name' | 'fingerprint' | 'serial' | 'notAfter' | 'domains'>,
): string {
  return JSON.stringify({
    event,
    name: meta.name,
    fingerprint: meta.fingerprint,
    serial: meta.serial,
    notAfter: meta.notAfter,
    domains: meta.domains,
    store,
  });
}
