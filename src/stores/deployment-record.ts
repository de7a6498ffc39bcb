/**
 * The JSON of one host's deployment entry (stores/types.ts HostDeployment), shared by both stores so the
 * filesystem file and the Redis hash field hold the same thing. Reading never trusts: a field of the wrong
 * type is dropped, an entry that is not an object reads as none.
 */
import { isErrorCode } from '../errors.js';
import type { HostDeployment } from './types.js';

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** One line of JSON. */
export function encodeHostDeployment(deployment: HostDeployment): string {
  return JSON.stringify(deployment);
}

/** The entry, or undefined when the text is not a JSON object. */
export function decodeHostDeployment(text: string | null | undefined): HostDeployment | undefined {
  if (text === null || text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const out: HostDeployment = {};
  const fingerprint = str(raw.fingerprint);
  if (fingerprint) out.fingerprint = fingerprint;
  const serial = str(raw.serial);
  if (serial) out.serial = serial;
  const deployedAt = str(raw.deployedAt);
  if (deployedAt) out.deployedAt = deployedAt;
  const notAfter = str(raw.notAfter);
  if (notAfter && !Number.isNaN(Date.parse(notAfter))) out.notAfter = notAfter;
  const pending = raw.pending as Record<string, unknown> | undefined;
  if (typeof pending === 'object' && pending !== null) {
    const pf = str(pending.fingerprint);
    const since = str(pending.since);
    if (pf && since) {
      out.pending = { fingerprint: pf, since };
      if (isErrorCode(pending.code)) out.pending.code = pending.code;
      const error = str(pending.error);
      if (error) out.pending.error = error;
    }
  }
  return out;
}
