/**
 * V8's heap sized for runs over many certificates.
 *
 * V8's defaults suit a long-running server: the young generation grows to 2 × 16 MB as soon as a burst of
 * allocation survives a scavenge, and the old generation may grow to about twice what the last full
 * collection left before the next one. A run over 10,000 certificates reads, decides and drops them in
 * batches (plan/plan.ts), so almost all it allocates dies young, yet planning them peaked at ~140 MB RSS,
 * ~80 MB of it V8's heap around ~25 MB of live data (docs/performance.md, seventh round).
 *
 * Start-up flags (`--max-semi-space-size`) would fix the sizes, but any V8 flag on node's command line
 * makes node 20 compile its built-in modules without their code cache, ~20 ms on every run, small ones
 * included (fifth round). Two of V8's flags are read while the program runs, each time the heap grows:
 * `--semi-space-growth-factor` (1: the young generation stays at its start-up size) and
 * `--heap-growing-percent` (how far the old generation may grow past what the last full collection kept).
 * They are set here once a manifest of at least LARGE_RUN certificates has been read, before it is checked
 * (checking 10,000 entries is what first grows the young generation), and set back to V8's defaults by
 * `restoreHeapFlags` when the command ends: V8 keys its code cache to the flags in force, and bin/cert-renew
 * writes the CLI's code cache after the command, for runs with default flags to take.
 *
 * An operator's own choice wins: nothing is set when node was started with either flag (or a
 * `--max-semi-space-size`/`--max-old-space-size`) on its command line or in NODE_OPTIONS.
 */
import { createRequire } from 'node:module';

/** node:v8, loaded only for a large run: loading it costs every small run ~2 ms. */
const setFlagsFromString = (flag: string): void =>
  (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString(flag);

/** Certificates in a manifest from which the heap is kept tight. */
export const LARGE_RUN = 1000;

/**
 * Below this many characters a manifest cannot hold LARGE_RUN certificates: the shortest entry,
 * `{"name":"a","domains":["b.c"]},`, has 31. Smaller manifests are not parsed a second time to count.
 */
const LARGE_RUN_MIN_CHARS = 24 * 1024;

/** The flags for a large run, and V8's defaults for them (node 20's V8 11.3; unchanged since V8 7). */
const TIGHT = ['--semi-space-growth-factor=1', '--heap-growing-percent=20'];
const DEFAULTS = ['--semi-space-growth-factor=2', '--heap-growing-percent=0'];

/**
 * Flags (as given to node) that mean the operator sized the heap. V8 takes `_` for `-` in a flag's name
 * (`--max_old_space_size=4096` is a common spelling), so both are recognised.
 */
const OPERATOR_FLAGS =
  /--(?:max[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor|heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size)\b/;

let tightened = false;

/**
 * Keeps V8's heap tight for the rest of the command when `manifestText` (the manifest's JSON, before it is
 * checked) holds at least LARGE_RUN certificates and the operator did not size the heap: `nodeFlags` are
 * node's own command-line flags and the words of NODE_OPTIONS (the entry point gives them). Returns whether
 * it did. Text that is not JSON or has no certificates array is left to the manifest check. Never throws.
 */
export function fitHeapToManifest(manifestText: string, nodeFlags: readonly string[]): boolean {
  if (tightened || manifestText.length < LARGE_RUN_MIN_CHARS) return false;
  if (nodeFlags.some((flag) => OPERATOR_FLAGS.test(flag))) return false;
  let count = 0;
  try {
    // A byte order mark (an editor's) is allowed in a manifest (manifest/validate.ts), not by JSON.parse.
    const json = manifestText.charCodeAt(0) === 0xfeff ? manifestText.slice(1) : manifestText;
    const certificates = (JSON.parse(json) as { certificates?: unknown } | null)?.certificates;
    count = Array.isArray(certificates) ? certificates.length : 0;
  } catch {
    return false;
  }
  if (count < LARGE_RUN) return false;
  for (const flag of TIGHT) setFlagsFromString(flag);
  tightened = true;
  return true;
}

/** Sets back V8's defaults when `fitHeapToManifest` changed them (the CLI calls it as a command ends). */
export function restoreHeapFlags(): void {
  if (!tightened) return;
  for (const flag of DEFAULTS) setFlagsFromString(flag);
  tightened = false;
}
