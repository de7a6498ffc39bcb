/** The revocation log's JSON, shared by both stores (filesystem `revocations.json`, Redis list entries). */
import { isRevocationReason } from '../x509/revocation.js';
import type { RevocationRecord } from './types.js';

/** A log as read back: entries that are not well-formed are dropped (the log is advisory). */
export function decodeRevocations(text: string | undefined): RevocationRecord[] {
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (r): r is RevocationRecord =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as RevocationRecord).serial === 'string' &&
        typeof (r as RevocationRecord).revokedAt === 'string' &&
        isRevocationReason((r as RevocationRecord).reason),
    );
  } catch {
    return [];
  }
}
