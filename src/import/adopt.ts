/**
 * Adoption: saves a certificate the source holds into the target store, through the Store interface, with
 * the metadata a renewal would have written, so the next `run` judges it like one of its own (`ok` until
 * its renewal window). Nothing is issued and the CA is not contacted. Under the certificate's lock, like
 * a renewal; a pair whose key does not match its certificate is never adopted.
 */
import { X509Certificate } from 'node:crypto';
import { CertRenewError, describeError, ErrorCode } from '../errors.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import type { Session } from '../runtime/session.js';
import {
  type CertificateBundle,
  isDeploymentStore,
  type LoadResult,
  type StoredMeta,
} from '../stores/types.js';
import { inspectCertificate, keyMatchesCertificate, splitPemChain } from '../x509/index.js';
import type { ImportSource } from './types.js';

export type AdoptAction =
  /** Saved into the store. */
  | 'adopted'
  /** The store already holds this very certificate. */
  | 'unchanged'
  /** The store holds another certificate for this name (renewed by cert-renew, or newer): left as it is. */
  | 'kept'
  /** Dry run: would be saved. */
  | 'would-adopt'
  /** Dry run: the store holds another certificate that an import would replace (an older import). */
  | 'would-replace';

export interface AdoptOutcome {
  action: AdoptAction;
  message: string;
  meta: StoredMeta;
}

/** How long to wait for a running `cert-renew run` that holds the certificate's lock. */
export const ADOPT_LOCK_WAIT_MS = 60_000;

/**
 * Checks a pair before it is adopted: a parseable certificate with a key type cert-renew handles, the key
 * matching it, the chain's first certificate its issuer. Returns the metadata to store. Throws
 * CertRenewError (VERIFY_FAILED) naming what is wrong.
 */
export function verifyForAdoption(
  entry: ResolvedCertificate,
  bundle: CertificateBundle,
  source: ImportSource,
): StoredMeta {
  const fail = (message: string): never => {
    throw new CertRenewError(ErrorCode.verifyFailed, `${entry.name}: ${message}; not adopted`);
  };
  let info: ReturnType<typeof inspectCertificate>;
  try {
    info = inspectCertificate(bundle.certPem);
  } catch (error) {
    return fail(`the certificate cannot be read (${describeError(error)})`);
  }
  if (info.keyType === 'other')
    fail('its key type is not one cert-renew handles (ECDSA P-256/P-384, RSA 2048/3072/4096)');
  if (!bundle.keyPem.includes('PRIVATE KEY-----'))
    fail('the key file holds no private key (PEM "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY")');
  else if (!keyMatchesCertificate(bundle.keyPem, bundle.certPem))
    fail('the private key does not match the certificate');
  const first = splitPemChain(bundle.chainPem)[0];
  if (first !== undefined) {
    const leaf = new X509Certificate(bundle.certPem);
    const issuer = new X509Certificate(first);
    if (!leaf.checkIssued(issuer) || !leaf.verify(issuer.publicKey)) {
      fail(
        `the chain does not belong to the certificate (its first certificate, ${issuer.subject}, did not issue it)`,
      );
    }
  }
  return {
    name: entry.name,
    domains: entry.domains,
    issuer: entry.issuerName,
    keyType: info.keyType as StoredMeta['keyType'],
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    fingerprint: info.fingerprint256,
    serial: info.serial,
    // When it was issued: a later `run --force` must not mistake it for one renewed during that run.
    issuedAt: info.notBefore.toISOString(),
    via: `import ${source}`,
  };
}

/** What to do given what the store holds. */
function decideAdoption(
  stored: LoadResult,
  meta: StoredMeta,
  bundle: CertificateBundle,
  dryRun: boolean,
): { action: AdoptAction; message: string } {
  // Another host's encryption key wrote it: never replaced from here (the store's one-line error).
  if (stored.state === 'error') throw stored.failure;
  if (stored.state !== 'present') {
    return {
      action: dryRun ? 'would-adopt' : 'adopted',
      message: stored.state === 'missing' ? 'not in the store yet' : 'the stored copy is unreadable',
    };
  }
  const current = stored.cert.meta;
  let fingerprint = current?.fingerprint;
  let notAfter = current?.notAfter;
  try {
    const info = inspectCertificate(stored.cert.certPem);
    fingerprint = info.fingerprint256;
    notAfter = info.notAfter.toISOString();
  } catch {
    // unreadable stored certificate: replaced below
    return { action: dryRun ? 'would-adopt' : 'adopted', message: 'the stored copy is unreadable' };
  }
  const imported = current?.via?.startsWith('import ') ?? false;
  if (fingerprint === meta.fingerprint) {
    // An import without the chain ("no chain: … import again with --chain FILE") is completed by one with it.
    const chainAdded =
      imported &&
      splitPemChain(stored.cert.chainPem).length === 0 &&
      splitPemChain(bundle.chainPem).length > 0;
    if (!chainAdded) return { action: 'unchanged', message: 'already in the store' };
    return {
      action: dryRun ? 'would-replace' : 'adopted',
      message:
        'adds the chain the earlier import lacked (the same certificate, so no hook runs for it: reload the servers that read it)',
    };
  }
  if (imported && notAfter !== undefined && Date.parse(meta.notAfter) > Date.parse(notAfter)) {
    return {
      action: dryRun ? 'would-replace' : 'adopted',
      message: `replaces an earlier import (which expires ${notAfter})`,
    };
  }
  return {
    action: 'kept',
    message: `the store already holds another certificate for it (serial ${current?.serial ?? '?'}, expires ${notAfter ?? '?'}); left as it is`,
  };
}

/**
 * Adopts one verified certificate into its store (or, with `dryRun`, only says what it would do). Throws
 * CertRenewError: LOCK_BUSY when a running renewal holds the lock, the store's own errors.
 */
export async function adoptCertificate(
  session: Session,
  entry: ResolvedCertificate,
  bundle: CertificateBundle,
  meta: StoredMeta,
  options: { dryRun: boolean; signal?: AbortSignal },
): Promise<AdoptOutcome> {
  const store = await session.store(entry.storeName);
  if (options.dryRun) {
    return { ...decideAdoption(await store.load(entry.name), meta, bundle, true), meta };
  }
  const locker = await session.locker(entry);
  const lock = await locker.acquire(entry.name, {
    waitMs: ADOPT_LOCK_WAIT_MS,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!lock) {
    throw new CertRenewError(ErrorCode.lockBusy, `${entry.name}: another cert-renew holds its lock`, {
      hint: 'run the import again when it has finished',
      transient: true,
    });
  }
  try {
    const stored = await store.load(entry.name);
    const decision = decideAdoption(stored, meta, bundle, false);
    if (decision.action === 'adopted') {
      await store.save(entry.name, bundle, meta, { announce: true });
      // A first import: this host already serves what it imported (from the old client's files), so it
      // has deployed it (docs/hooks.md, deployment state). Advisory: if it cannot be recorded, the first
      // run on this host runs the hooks once. A re-import that replaces what the store held is not
      // recorded: servers already reading the store have the old one loaded, and the next run on each
      // host runs the postRenew hooks for the new one.
      if (stored.state !== 'present' && isDeploymentStore(store)) {
        await store
          .recordDeployment(entry.name, session.hostId(), {
            fingerprint: meta.fingerprint,
            serial: meta.serial,
            deployedAt: session.context.clock.now().toISOString(),
            notAfter: new Date(meta.notAfter).toISOString(),
          })
          .catch(() => {});
      }
    }
    return { ...decision, meta };
  } finally {
    await lock.release().catch(() => {});
  }
}
