import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { ResolvedCertificate } from '../manifest/types.js';

export interface Shard {
  index: number;
  count: number;
}

/** `"2/4"` → shard 2 of 4 (1-based). */
export function parseShard(text: string): Shard {
  const match = /^([0-9]+)\/([0-9]+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index < 1 || index > count) {
    throw new UsageError(`--shard expects i/n with 1 ≤ i ≤ n (e.g. 1/4), got '${text}'`);
  }
  return { index, count };
}

/** Deterministic on every host: the first 6 bytes of SHA-256 of the name, modulo n. */
export function shardOf(name: string, count: number): number {
  const hash = createHash('sha256').update(name).digest();
  return (hash.readUIntBE(0, 6) % count) + 1;
}

/** Applies `--only` and `--shard`. Unknown `--only` names are a usage error, not silently nothing. */
export function selectCertificates(
  all: ResolvedCertificate[],
  options: { only?: string[]; shard?: Shard; what?: string },
): ResolvedCertificate[] {
  let selected = all;
  if (options.only && options.only.length > 0) {
    const known = new Set(all.map((c) => c.name));
    const unknown = options.only.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new UsageError(
        `${options.what ?? '--only names'} certificates that are not in the manifest: ${unknown.join(', ')}`,
      );
    }
    const wanted = new Set(options.only);
    selected = selected.filter((c) => wanted.has(c.name));
  }
  const shard = options.shard;
  if (shard) selected = selected.filter((c) => shardOf(c.name, shard.count) === shard.index);
  return selected;
}
