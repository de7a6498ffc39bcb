/** What every store does to the metadata it saves beside a certificate. */
import { leafChecksum } from '../x509/fast.js';
import type { StoredMeta } from './types.js';

/**
 * `meta` with `leafChecksum` set for the leaf in `certPem` (the bytes the store writes), replacing any it
 * held; `meta` as it is when `certPem` holds no certificate. Stores call it when they save, so the checksum
 * always describes what they wrote (x509/fast.ts reads it).
 */
export function withLeafChecksum(meta: StoredMeta, certPem: string): StoredMeta {
  const checksum = leafChecksum(certPem);
  return checksum === undefined ? meta : { ...meta, leafChecksum: checksum };
}
