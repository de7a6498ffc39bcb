/**
 * Gather, revocations: for each present certificate, whether it is revoked — by the store's revocation log
 * (stores/types.ts `RevocationLog`, written by `cert-renew revoke`) or by its issuer's own list (the local
 * CA's CRL, `RevocationStatusCapable`) — and the log itself, which `status` shows as history.
 */
import { describeError } from '../errors.js';
import { isRevocationStatusCapable } from '../issuers/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Session } from '../runtime/session.js';
import { hasRevocationLog, type RevocationRecord } from '../stores/types.js';
import { groupBy } from '../util/group.js';
import { inspectCertificate, sameSerial } from '../x509/inspect.js';
import type { GatheredRecord, RevocationFacts } from './model.js';

function storedSerial(record: GatheredRecord): string | undefined {
  if (record.stored?.state !== 'present') return undefined;
  const meta = record.stored.cert.meta;
  if (meta?.serial) return meta.serial.toUpperCase();
  try {
    return inspectCertificate(record.stored.cert.certPem).serial.toUpperCase();
  } catch {
    return undefined;
  }
}

/**
 * One `revocations` call per store and one CRL read per (issuer, store). Failures are logged at debug
 * level and read as "not revoked": revocation facts never fail a plan.
 */
export async function gatherRevocations(
  session: Pick<Session, 'store' | 'issuer'>,
  records: readonly GatheredRecord[],
  logger: Logger,
): Promise<Map<GatheredRecord, RevocationFacts>> {
  const facts = new Map<GatheredRecord, RevocationFacts>();
  const present = records.filter((r) => r.stored?.state === 'present');
  if (present.length === 0) return facts;
  const byStore = groupBy(present, (r) => r.entry.storeName);
  const logs = new Map<GatheredRecord, RevocationRecord[]>();
  await Promise.all(
    [...byStore].map(async ([storeName, list]) => {
      try {
        const store = await session.store(storeName);
        if (!hasRevocationLog(store)) return;
        const found = await store.revocations(list.map((r) => r.entry.name));
        for (const r of list) {
          const log = found.get(r.entry.name) ?? [];
          if (log.length > 0) logs.set(r, log);
        }
      } catch (error) {
        logger.debug(`store '${storeName}': revocation log unavailable: ${describeError(error)}`);
      }
    }),
  );
  const crls = new Map<string, Promise<Map<string, { reason: string; revokedAt: string }>>>();
  const crlOf = (r: GatheredRecord) => {
    const key = `${r.entry.issuerName}\0${r.entry.storeName}`;
    let pending = crls.get(key);
    if (!pending) {
      pending = (async () => {
        const issuer = await session.issuer(r.entry.issuerName);
        if (!isRevocationStatusCapable(issuer)) return new Map();
        return issuer.revokedSerials(await session.store(r.entry.storeName));
      })().catch((error: unknown) => {
        logger.debug(`${r.entry.name}: revocation list unavailable: ${describeError(error)}`);
        return new Map();
      });
      crls.set(key, pending);
    }
    return pending;
  };
  await Promise.all(
    present.map(async (r) => {
      const log = logs.get(r) ?? [];
      const serial = storedSerial(r);
      let current: RevocationFacts['current'];
      const logged = serial ? log.find((l) => sameSerial(l.serial, serial)) : undefined;
      if (logged) current = { reason: logged.reason, revokedAt: logged.revokedAt };
      else if (serial && r.entry.issuer.type === 'local-ca') current = (await crlOf(r)).get(serial);
      if (log.length > 0 || current) facts.set(r, { log, ...(current ? { current } : {}) });
    }),
  );
  return facts;
}
