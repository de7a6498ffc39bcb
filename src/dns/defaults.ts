/**
 * dns-01 propagation defaults (ms), in a module of their own: the manifest checks need them, and
 * dns/propagation.ts, which uses them, loads node:dns — which `run` and `plan` must not load until a
 * dns-01 challenge is solved (tests/e2e/lazy-modules.test.ts).
 */

/** How long the propagation check waits for every nameserver to answer the record (`propagationTimeout`). */
export const DEFAULT_PROPAGATION_TIMEOUT_MS = 120_000;
/** Between two rounds of the propagation check (`propagationInterval`). */
export const DEFAULT_PROPAGATION_INTERVAL_MS = 2000;
