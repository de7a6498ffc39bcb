/**
 * The ACME account lives in the certificate's store as a blob (`accountBlobKey(issuer, email)`), so
 * every host running the manifest uses the same account. The key is written first (`ifAbsent`: when two
 * hosts race, the loser re-reads and takes the winner's key), then registered: newAccount is idempotent
 * for a key, so hosts registering the same key get the same account URL and no account is orphaned.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { CertRenewError, ErrorCode } from '../../errors.js';
import type { AcmeIssuerConfig } from '../../manifest/types.js';
import type { Clock } from '../../runtime/clock.js';
import type { RuntimeContext } from '../../runtime/context.js';
import { accountBlobKey } from '../../stores/keys.js';
import type { Store } from '../../stores/types.js';
import { AcmeClient } from './client.js';
import type { AcmeConnection } from './connection.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface AccountBlob {
  version: 1;
  /** ECDSA P-256, PKCS#8 PEM. */
  keyPem: string;
  createdAt: string;
  /** The directory the account URL belongs to (a changed directory registers the key again). */
  directory?: string;
  url?: string;
}

export interface AcmeAccount {
  keyPem: string;
  url: string;
}

export function parseAccountBlob(text: string, where: string): AccountBlob {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const blob = value as Partial<AccountBlob> | undefined;
  if (blob?.version !== 1 || typeof blob.keyPem !== 'string' || !blob.keyPem.includes('PRIVATE KEY')) {
    throw new CertRenewError(ErrorCode.storeCorrupt, `${where} is not a valid ACME account record`, {
      hint: 'remove it to have a new account created',
    });
  }
  return blob as AccountBlob;
}

export async function newAccountKey(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return privateKey;
}

/** Reads the account blob, or creates one with a new key (the first writer wins). */
export async function loadOrCreateAccountBlob(store: Store, key: string, clock: Clock): Promise<AccountBlob> {
  const where = `account ${key} in store ${store.name}`;
  const existing = await store.getBlob(key);
  if (existing !== undefined) return parseAccountBlob(existing, where);
  const blob: AccountBlob = {
    version: 1,
    keyPem: await newAccountKey(),
    createdAt: clock.now().toISOString(),
  };
  if (await store.putBlob(key, JSON.stringify(blob), { ifAbsent: true })) return blob;
  const theirs = await store.getBlob(key);
  if (theirs === undefined) {
    throw new CertRenewError(ErrorCode.storeCorrupt, `${where} exists but cannot be read back`);
  }
  return parseAccountBlob(theirs, where);
}

export interface EnsureAccountOptions {
  store: Store;
  issuerName: string;
  email: string | undefined;
  directoryUrl: string;
  clock: Clock;
  /** Registers (or finds) the account for this key at the CA; resolves with its URL. */
  register(keyPem: string): Promise<string>;
  /** Ignore a stored URL (the CA said it does not know it) and register again. */
  refresh?: boolean;
}

/** The account to use: the stored one, or the stored key registered now (and its URL recorded). */
export async function ensureAccount(options: EnsureAccountOptions): Promise<AcmeAccount> {
  const key = accountBlobKey(options.issuerName, options.email);
  const blob = await loadOrCreateAccountBlob(options.store, key, options.clock);
  if (!options.refresh && blob.url && blob.directory === options.directoryUrl) {
    return { keyPem: blob.keyPem, url: blob.url };
  }
  const url = await options.register(blob.keyPem);
  const updated: AccountBlob = { ...blob, directory: options.directoryUrl, url };
  await options.store.putBlob(key, JSON.stringify(updated));
  return { keyPem: blob.keyPem, url };
}

/**
 * The issuer's accounts, one per store (each store keeps its own account blob), shared by the
 * certificates of a run: one load-or-register per store at a time; a failure is not remembered.
 */
export class AcmeAccounts {
  readonly #accounts = new Map<string, Promise<AcmeAccount>>();

  constructor(
    private readonly issuerName: string,
    private readonly config: Pick<AcmeIssuerConfig, 'email' | 'eab'>,
    private readonly context: Pick<RuntimeContext, 'clock' | 'readSecret'>,
  ) {}

  /**
   * The account for `store`, registered at the CA when its URL is not known for this directory (or
   * `refresh`: the CA said it does not know it). Throws CertRenewError: STORE_* from the store,
   * SECRET_UNAVAILABLE for the EAB key, and what newAccount answers (ISSUER_REJECTED / _UNAVAILABLE).
   */
  get(store: Store, connection: AcmeConnection, refresh = false): Promise<AcmeAccount> {
    const key = `${store.name}\n${accountBlobKey(this.issuerName, this.config.email)}`;
    const cached = this.#accounts.get(key);
    if (cached && !refresh) return cached;
    const pending = ensureAccount({
      store,
      issuerName: this.issuerName,
      email: this.config.email,
      directoryUrl: connection.directoryUrl,
      clock: this.context.clock,
      refresh,
      register: (keyPem) => this.register(connection, keyPem),
    });
    this.#accounts.set(key, pending);
    pending.catch(() => {
      if (this.#accounts.get(key) === pending) this.#accounts.delete(key);
    });
    return pending;
  }

  /** External Account Binding credentials, the HMAC key read from its secret reference. */
  async eab(): Promise<{ kid: string; hmacKey: string } | undefined> {
    const eab = this.config.eab;
    if (!eab) return undefined;
    return { kid: eab.kid, hmacKey: await this.context.readSecret(eab.hmacKey) };
  }

  /** newAccount for the key (idempotent: an existing account for the key is returned). */
  private async register(connection: AcmeConnection, keyPem: string): Promise<string> {
    const eab = await this.eab();
    // The account is shared by every certificate: its errors report issuer-wide.
    const shared = connection.issuerWide();
    const client = await AcmeClient.create(shared, {
      keyPem,
      ...(eab ? { externalAccountBinding: eab } : {}),
    });
    const email = this.config.email;
    // Configuring an ACME issuer is agreeing to its CA's terms of service (docs/issuers.md says so).
    await client.createAccount(
      { termsOfServiceAgreed: true, ...(email ? { contact: [`mailto:${email}`] } : {}) },
      'creating the account',
    );
    const url = client.accountUrl;
    connection.logger.info(`issuer ${this.issuerName}: using ACME account ${url}`);
    return url;
  }
}
