/**
 * The local CA: a root key and self-signed certificate kept in a store (blob `local-ca/<issuer name>`),
 * created on first use, that signs leaf certificates directly. For development and closed networks; it
 * needs no network at all.
 *
 * Leaves are returned with the CA's own certificate as their chain: `chain.pem` is what a chain file is
 * for (nginx's `ssl_trusted_certificate`, OCSP stapling, a client that wants the CA to trust), and
 * `fullchain.pem` is the leaf followed by it. The root is also the trust anchor (`trustAnchors()`) that the
 * verify step checks the leaf against.
 */
import { X509Certificate } from 'node:crypto';
import { CertRenewError, describeError, ErrorCode } from '../errors.js';
import type { KeyType, LocalCaIssuerConfig } from '../manifest/types.js';
import type { RuntimeContext } from '../runtime/context.js';
import { localCaBlobKey, localCaCrlLockName } from '../stores/keys.js';
import { hasInventory, type Store, type StoredCertificate } from '../stores/types.js';
import { durationMs, formatDuration } from '../util/duration.js';
import { createCertificate, MAX_COMMON_NAME } from '../x509/build.js';
import { serialAndAuthorityKeyId } from '../x509/der.js';
import { inspectCertificate, parseCertificate } from '../x509/inspect.js';
import { generateKey, keyMatchesX509 } from '../x509/keys.js';
import { firstCertificateDer } from '../x509/pem.js';
import type { RevocationReason } from '../x509/revocation.js';
import { readRevoked, revokeAtLocalCa } from './local-ca-crl.js';
import type {
  IssueRequest,
  IssueResult,
  Issuer,
  IssuerCheckContext,
  RevocationStatusCapable,
  RevokeRequest,
  Revoker,
} from './types.js';

const DAY_MS = 86_400_000;
/** Lifetime of issued certificates unless the certificate or the issuer says otherwise. */
export const DEFAULT_LOCAL_CA_LIFETIME_MS = 90 * DAY_MS;
/** Lifetime of the CA created on first use. */
export const LOCAL_CA_VALIDITY_MS = 3650 * DAY_MS;
/** Certificates read at once when looking for what a lost CA issued. */
const ISSUED_BATCH = 500;
/** How long a revocation waits for another process's change to the CA's revocation list (ms). */
const CRL_LOCK_WAIT_MS = 60_000;

/**
 * How a hint says to make a new CA: `--force` too, since the certificates whose renewal was refused are
 * backing off, and the new root must be trusted.
 */
const NEW_CA =
  'create a new CA with --new-local-ca --force (it renews the certificates then; make clients trust the new root)';

/** Backdating of notBefore, so hosts whose clocks run a little behind accept a fresh certificate. */
const BACKDATE_MS = 60_000;
const DEFAULT_CA_KEY_TYPE: KeyType = 'ecdsa-p256';

/** What the store keeps under `local-ca/<issuer name>`. */
export interface LocalCaMaterial {
  certPem: string;
  keyPem: string;
  /**
   * The CAs this one stands in for on purpose (`--new-local-ca`): the key identifier (hex, as the leaves'
   * Authority Key Identifier names it) of each CA whose certificates it renews without a word, and when it
   * was made to. Any other certificate it did not sign is refused (`refuseOtherCa`): a blob copied from
   * elsewhere carries the key identifiers of ITS predecessors, not of the CA that issued what is stored here.
   */
  replaces?: { keyId: string; at: string }[];
}

export { localCaBlobKey };

export class LocalCaIssuer implements Issuer, Revoker, RevocationStatusCapable {
  readonly type = 'local-ca' as const;
  readonly defaultReuseKey = false;
  /** One load-or-create per store and process, so concurrent issues in one run share it. */
  readonly #cas = new WeakMap<Store, Promise<LocalCaMaterial>>();

  constructor(
    readonly name: string,
    private readonly config: LocalCaIssuerConfig,
    private readonly context: RuntimeContext,
  ) {}

  async issue(request: IssueRequest): Promise<IssueResult> {
    this.throwIfAborted(request);
    const store = await this.caStore(request.store);
    const ca = await this.loadOrCreate(store, request.store);
    this.throwIfAborted(request);
    const now = this.context.clock.now();
    const domains = request.entry.domains;
    const lifetimeMs =
      request.entry.lifetimeMs ??
      (this.config.lifetime === undefined ? DEFAULT_LOCAL_CA_LIFETIME_MS : durationMs(this.config.lifetime));
    let notAfter = new Date(now.getTime() + lifetimeMs);
    const caNotAfter = this.assertUsable(ca.certPem, store, now);
    if (request.current && this.notIssuedBy(ca, request.current)) {
      this.refuseOtherCa(store, request.entry.name);
      // --new-local-ca: from now on this CA stands in for the one that issued what is stored.
      const keyId = issuerKeyId(request.current.certPem);
      if (keyId !== undefined && !ca.replaces?.some((r) => r.keyId === keyId)) {
        ca.replaces = [...(ca.replaces ?? []), { keyId, at: now.toISOString() }];
        await store.putBlob(localCaBlobKey(this.name), JSON.stringify(ca));
      }
    }
    if (notAfter > caNotAfter) {
      // A leaf cannot outlive the CA that signed it.
      this.context.logger.warn(
        `${request.entry.name}: local CA '${this.name}' expires ${caNotAfter.toISOString()}; the certificate is cut to end then`,
      );
      notAfter = caNotAfter;
    }
    const first = domains[0];
    let certPem: string;
    try {
      certPem = await createCertificate({
        subjectKeyPem: request.keyPem,
        ...(first !== undefined && first.length <= MAX_COMMON_NAME ? { commonName: first } : {}),
        domains,
        issuer: ca,
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter,
        ca: false,
      });
    } catch (error) {
      if (error instanceof CertRenewError) throw error;
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `${request.entry.name}: local CA '${this.name}' could not sign the certificate: ${describeError(error)}`,
        { cause: error },
      );
    }
    // chain.pem is what a client needs beyond the leaf to trust it (nginx's ssl_trusted_certificate, OCSP
    // stapling): here the local CA's own certificate, the only link.
    return { certPem, chainPem: ca.certPem, via: 'local-ca' };
  }

  /**
   * Whether `cert` is recorded as issued by this issuer and names this CA's subject as its issuer, yet its
   * signature does not verify with `ca`'s key: `ca` is another CA of the same name (a restore from another
   * backup, another host's CA), whose certificates its clients do not trust.
   */
  private notIssuedBy(ca: LocalCaMaterial, cert: StoredCertificate): boolean {
    if (!this.signedByOurs(cert.meta?.issuer, cert.certPem)) return false;
    try {
      const leaf = new X509Certificate(cert.certPem);
      // Issued by a CA this one replaced on purpose (--new-local-ca): renewed from it.
      const keyId = issuerKeyId(cert.certPem);
      if (keyId !== undefined && ca.replaces?.some((r) => r.keyId === keyId)) return false;
      return !leaf.verify(new X509Certificate(ca.certPem).publicKey);
    } catch {
      return false;
    }
  }

  /**
   * Renewing `name` from a CA that did not issue its stored certificate is refused (STORE_CORRUPT), unless
   * `--new-local-ca` asks for a new root (then said loudly, once per certificate).
   */
  private refuseOtherCa(store: Store, name: string): void {
    if (this.context.newLocalCa) {
      this.context.logger.warn(
        `${this.otherCaLine(store, name)}: renewing from it as --new-local-ca asks; clients must trust its root`,
      );
      return;
    }
    throw this.otherCaError(store, name);
  }

  /** `names`: one certificate, or several (the dry run's issuer check lists them). */
  private otherCaLine(store: Store, names: string | readonly string[]): string {
    const list = typeof names === 'string' ? [names] : names;
    const whose =
      list.length === 1 ? `${list[0]}'s stored certificate` : `the stored certificates of ${list.join(', ')}`;
    return `local CA '${this.name}' in store '${store.name}' is not the CA that issued ${whose} (another key: a CA restored from another backup, or another host's)`;
  }

  private otherCaError(store: Store, names: string | readonly string[]): CertRenewError {
    return new CertRenewError(
      ErrorCode.storeCorrupt,
      `${this.otherCaLine(store, names)}: a renewal would chain to a root its clients do not trust`,
      {
        hint: `restore the CA that issued it (${blobWhere(store, localCaBlobKey(this.name))}), or renew from this one with --new-local-ca --force (then make clients trust its root)`,
      },
    );
  }

  /**
   * Those of `names` whose stored certificate `ca` did not issue (`notIssuedBy`), read from `store`; with
   * `firstOnly`, only the first of them that is stored is read and judged.
   */
  private async otherCaFor(
    ca: LocalCaMaterial,
    store: Store,
    names: readonly string[],
    firstOnly = false,
  ): Promise<string[]> {
    if (firstOnly) {
      for (const name of names) {
        const one = await store.load(name);
        if (one.state === 'present') return this.notIssuedBy(ca, one.cert) ? [name] : [];
      }
      return [];
    }
    if (names.length === 0) return [];
    const loaded = await store.loadMany(names);
    return names.filter((name) => {
      const one = loaded.get(name);
      return one?.state === 'present' && this.notIssuedBy(ca, one.cert);
    });
  }

  /** Nothing is signed once the certificate's deadline passed (the `Issuer.issue` contract). */
  private throwIfAborted(request: IssueRequest): void {
    if (!request.signal.aborted) return;
    throw new CertRenewError(
      ErrorCode.issuerTimeout,
      `${request.entry.name}: local CA '${this.name}' did not sign: the certificate's time ran out`,
      { transient: true },
    );
  }

  /** Lists the certificate's serial in the CA's CRL (local-ca-crl.ts) and publishes the CRL. */
  async revoke(request: RevokeRequest): Promise<{ via: string }> {
    const store = await this.caStore(request.store);
    const ca = await this.read(store);
    if (!ca) {
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `${request.name}: local CA '${this.name}' does not exist in store '${store.name}'`,
        { hint: 'the certificate was not issued by this CA' },
      );
    }
    const serial = inspectCertificate(request.cert.certPem).serial;
    // The list is read, extended and written back: two processes revoking at once would each write the
    // list without the other's serial. The CA's store lock makes them take turns.
    const lock = await store.locker().acquire(localCaCrlLockName(this.name), { waitMs: CRL_LOCK_WAIT_MS });
    if (!lock) {
      throw new CertRenewError(
        ErrorCode.lockBusy,
        `${request.name}: local CA '${this.name}': another cert-renew kept its revocation list locked`,
        { hint: 'try again later', transient: true },
      );
    }
    try {
      await revokeAtLocalCa(this.name, ca, serial, { ...request, store });
    } finally {
      await lock.release().catch((error: unknown) => {
        this.context.logger.warn(
          `local CA '${this.name}': could not release its CRL lock: ${describeError(error)}`,
        );
      });
    }
    return { via: 'local-ca crl' };
  }

  async revokedSerials(store: Store): Promise<Map<string, { reason: RevocationReason; revokedAt: string }>> {
    try {
      const entries = await readRevoked(this.name, await this.caStore(store));
      return new Map(
        entries.map((e) => [e.serial.toUpperCase(), { reason: e.reason, revokedAt: e.revokedAt }]),
      );
    } catch {
      return new Map();
    }
  }

  /** The CA's end; throws a clear error once it has expired (issuing and the dry run alike). */
  private assertUsable(caPem: string, store: Store, now: Date): Date {
    const notAfter = new Date(new X509Certificate(caPem).validTo);
    if (notAfter.getTime() <= now.getTime()) {
      throw new CertRenewError(
        ErrorCode.issuerUnavailable,
        `local CA '${this.name}' in store '${store.name}' expired at ${notAfter.toISOString()}`,
        {
          hint: `remove blob '${localCaBlobKey(this.name)}' (${blobWhere(store, localCaBlobKey(this.name))}) and ${NEW_CA}`,
        },
      );
    }
    return notAfter;
  }

  /** Dry run: loads the CA if it exists and checks it; never creates it. */
  async check(context: IssuerCheckContext): Promise<string> {
    const store = await this.caStore(context.store);
    const existing = await this.read(store);
    const keyType = this.config.keyType ?? DEFAULT_CA_KEY_TYPE;
    if (!existing) {
      const issued = await this.issuedBefore([store, context.store]);
      if (issued && !this.context.newLocalCa) throw this.gone(store, issued);
      if (issued)
        return `local CA '${this.name}' is gone from store '${store.name}' (${issued.name} was issued by it); --new-local-ca: would create a new one on first issue`;
      return `local CA '${this.name}' does not exist yet in store '${store.name}'; would create it (${keyType}, valid ${formatDuration(LOCAL_CA_VALIDITY_MS)}) on first issue`;
    }
    const cert = new X509Certificate(existing.certPem);
    const notAfter = this.assertUsable(existing.certPem, store, this.context.clock.now());
    const names = context.certs.filter((c) => c.issuerName === this.name).map((c) => c.name);
    const others = await this.otherCaFor(existing, context.store, names);
    if (others.length > 0) {
      if (!this.context.newLocalCa) throw this.otherCaError(store, others);
      return `${this.otherCaLine(store, others)}; --new-local-ca: would renew from it`;
    }
    return `local CA '${this.name}' ready in store '${store.name}' (${(cert.subject ?? '').split('\n').join(', ')}, valid until ${notAfter.toISOString()})`;
  }

  /** The root certificate, once the CA exists (nothing is created here). */
  async trustAnchors(store: Store): Promise<string[]> {
    const existing = await this.read(await this.caStore(store));
    return existing ? [existing.certPem] : [];
  }

  private async caStore(requestStore: Store): Promise<Store> {
    return this.config.store === undefined ? requestStore : await this.context.getStore(this.config.store);
  }

  private loadOrCreate(store: Store, certificateStore: Store): Promise<LocalCaMaterial> {
    let pending = this.#cas.get(store);
    if (!pending) {
      pending = this.loadOrCreateUncached(store, certificateStore);
      this.#cas.set(store, pending);
      // A failure (store down) is not remembered: the next certificate tries again.
      pending.catch(() => this.#cas.delete(store));
    }
    return pending;
  }

  private async loadOrCreateUncached(store: Store, certificateStore: Store): Promise<LocalCaMaterial> {
    const existing = await this.read(store);
    if (existing) return existing;
    const issued = await this.issuedBefore([store, certificateStore]);
    if (issued) {
      // Another process may have created the CA (and stored what it issued) since the read above.
      const theirs = await this.read(store);
      if (theirs) return theirs;
      if (!this.context.newLocalCa) throw this.gone(store, issued);
      this.context.logger.warn(
        `local CA '${this.name}' was gone from store '${store.name}' (${issued.name} in store '${issued.store}' was issued by it): creating a new CA as --new-local-ca asks; clients must trust the new root, and certificates from the old CA chain to a root of the same name`,
      );
    }
    const created = await this.createCa();
    // Made on purpose in place of the one that issued what is stored: those are renewed from it.
    if (issued?.keyId !== undefined) {
      created.replaces = [{ keyId: issued.keyId, at: this.context.clock.now().toISOString() }];
    }
    const key = localCaBlobKey(this.name);
    // ifAbsent: when several processes create the CA at once, the first write wins and everyone uses it.
    if (await store.putBlob(key, JSON.stringify(created), { ifAbsent: true })) {
      this.context.logger.info(`created local CA '${this.name}' in store '${store.name}'`);
      return created;
    }
    const theirs = await this.read(store);
    if (!theirs) {
      throw new CertRenewError(
        ErrorCode.storeCorrupt,
        `local CA '${this.name}': store '${store.name}' refused to create blob '${key}' but holds none`,
      );
    }
    return theirs;
  }

  /**
   * A certificate that `stores` hold, record as issued by this issuer (meta `issuer`) and that names this
   * CA's subject as its issuer: proof that this issuer's CA existed before; undefined when there is none. Read only when the CA is missing (first use,
   * or lost: docs/issuers.md "When the local CA is gone"). Stores that cannot list their certificates, and
   * certificates that cannot be read, prove nothing.
   */
  private async issuedBefore(
    stores: Store[],
  ): Promise<{ name: string; store: string; keyId?: string } | undefined> {
    for (const store of new Set(stores)) {
      if (!hasInventory(store)) continue;
      const names = await store.listNames();
      for (let i = 0; i < names.length; i += ISSUED_BATCH) {
        const loaded = await store.loadMany(names.slice(i, i + ISSUED_BATCH));
        for (const [name, one] of loaded) {
          if (one.state === 'present' && this.signedByOurs(one.cert.meta?.issuer, one.cert.certPem)) {
            const keyId = issuerKeyId(one.cert.certPem);
            return { name, store: store.name, ...(keyId !== undefined ? { keyId } : {}) };
          }
        }
      }
    }
    return undefined;
  }

  /**
   * Recorded as issued by this issuer, and its issuer name is this CA's subject (`CN=<commonName>`): not a
   * certificate imported under this issuer's name from another CA (adopted PEM files).
   */
  private signedByOurs(issuer: string | undefined, certPem: string): boolean {
    if (issuer !== this.name) return false;
    const cn = `CN=${this.commonName()}`;
    try {
      return new X509Certificate(certPem).issuer.split('\n').includes(cn);
    } catch {
      return false;
    }
  }

  private commonName(): string {
    return this.config.commonName ?? `cert-renew local CA (${this.name})`.slice(0, MAX_COMMON_NAME);
  }

  /** The refusal to create a second CA while certificates of the first are in use (LOCAL_CA_GONE's line). */
  private gone(store: Store, issued: { name: string; store: string }): CertRenewError {
    return new CertRenewError(
      ErrorCode.storeCorrupt,
      `local CA '${this.name}' is gone from store '${store.name}', but certificate ${issued.name} in store '${issued.store}' was issued by it: a new CA would be a different root that clients do not trust`,
      { hint: this.goneHint(store) },
    );
  }

  private goneHint(store: Store): string {
    const key = localCaBlobKey(this.name);
    return `restore blob '${key}' (${blobWhere(store, key)}) from a backup, or ${NEW_CA}`;
  }

  /**
   * `status`: the CA that issued what `certificateStore` holds is gone from its store (a renewal would be
   * refused: `gone`), cannot be read (a directory in its file's place, a Redis key of another type, an ACL
   * without its key), is corrupt, has expired (every one of `names` gets that line), or did not issue the
   * stored certificate of some of `names` (another CA of the same name: each of those gets its own line);
   * an empty map when nothing stands in the way. Reads, never creates. Rejects only with what is not a
   * CertRenewError (a bug), or when the certificates cannot be read.
   */
  async renewalBlocker(
    certificateStore: Store,
    names: readonly string[],
  ): Promise<ReadonlyMap<string, string>> {
    const store = await this.caStore(certificateStore);
    const all = (line: string) => new Map(names.map((name) => [name, line]));
    let existing: LocalCaMaterial | undefined;
    try {
      existing = await this.read(store);
      if (existing) this.assertUsable(existing.certPem, store, this.context.clock.now());
    } catch (error) {
      if (error instanceof CertRenewError) {
        return all(
          error.oneLine.startsWith(`local CA '${this.name}'`)
            ? error.oneLine
            : `local CA '${this.name}' in store '${store.name}' cannot be read, so renewing the certificates it issued will fail: ${error.oneLine}`,
        );
      }
      throw error;
    }
    if (!existing) {
      return all(
        `local CA '${this.name}' is gone from store '${store.name}': renewing the certificates it issued will be refused (${this.goneHint(store)})`,
      );
    }
    // One certificate read, not the whole store again (status read it for its plan): a CA replaced by
    // another did not issue the first one either; only then is each certificate looked at.
    const first = await this.otherCaFor(existing, certificateStore, names, true);
    const others = first.length === 0 ? [] : await this.otherCaFor(existing, certificateStore, names);
    return new Map(others.map((name) => [name, this.otherCaError(store, name).oneLine]));
  }

  /** The stored CA, checked (the certificate parses, is a CA, and the key is its key); undefined if absent. */
  private async read(store: Store): Promise<LocalCaMaterial | undefined> {
    const key = localCaBlobKey(this.name);
    const text = await store.getBlob(key);
    if (text === undefined) return undefined;
    const corrupt = (why: string) =>
      new CertRenewError(
        ErrorCode.storeCorrupt,
        `local CA '${this.name}' in store '${store.name}' is corrupt: ${why}`,
        {
          hint: `restore blob '${key}' (${blobWhere(store, key)}) from a backup, or remove it and ${NEW_CA}`,
        },
      );
    let material: Partial<LocalCaMaterial>;
    try {
      material = JSON.parse(text) as Partial<LocalCaMaterial>;
    } catch {
      throw corrupt('not JSON');
    }
    if (typeof material?.certPem !== 'string' || typeof material.keyPem !== 'string') {
      throw corrupt('certPem or keyPem missing');
    }
    const cert = parseCertificate(material.certPem);
    if (!cert) throw corrupt('the certificate does not parse');
    if (!cert.ca) throw corrupt('the certificate is not a CA');
    if (!keyMatchesX509(material.keyPem, cert)) throw corrupt('the key does not match the certificate');
    return {
      certPem: material.certPem,
      keyPem: material.keyPem,
      ...(Array.isArray(material.replaces)
        ? {
            replaces: material.replaces.filter(
              (r): r is { keyId: string; at: string } =>
                typeof r?.keyId === 'string' && typeof r?.at === 'string',
            ),
          }
        : {}),
    };
  }

  private async createCa(): Promise<LocalCaMaterial> {
    const now = this.context.clock.now();
    const keyPem = await generateKey(this.config.keyType ?? DEFAULT_CA_KEY_TYPE);
    const certPem = await createCertificate({
      subjectKeyPem: keyPem,
      selfSignKeyPem: keyPem,
      commonName: this.commonName(),
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + LOCAL_CA_VALIDITY_MS),
      ca: true,
      pathLength: 0,
    });
    return { certPem, keyPem };
  }
}

/** Where a blob is, for a hint: the store's own words (a file, a Redis key), else the store's name. */
function blobWhere(store: Pick<Store, 'name' | 'blobLocation'>, key: string): string {
  return store.blobLocation?.(key) ?? `in store '${store.name}'`;
}

/** The key identifier (hex) of the CA that signed the first certificate of `certPem` (its Authority Key Identifier). */
function issuerKeyId(certPem: string): string | undefined {
  const der = firstCertificateDer(certPem);
  return der === undefined ? undefined : serialAndAuthorityKeyId(der)?.keyIdentifier.toString('hex');
}
