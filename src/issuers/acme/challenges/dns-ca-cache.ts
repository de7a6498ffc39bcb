/**
 * dns-01 names that several orders of one run validate. A CA looks up `_acme-challenge.<domain>` through
 * a caching resolver (Let's Encrypt's do; so does any CA behind a recursive BIND or Unbound): once it has
 * validated one order there, it may keep that TXT RRset for up to the record's TTL, and a second order
 * asking for validation at the same name within that time is checked against the old values and fails
 * ("Correct value not found", "Incorrect TXT record"). Inside one order every value is in place before
 * the CA is told, so only orders of the same run meet this: a wildcard and its base name in two
 * certificates, or any two certificates naming the same domain.
 *
 * The gate (one per run, shared by every ACME issuer of it): before the CA is told to validate, an order
 * takes its turn at each name it wrote (after CNAME delegation; names in sorted order, so two orders never
 * wait for each other), one order per name at a time, first come first served. Holding every turn, it
 * waits until each earlier validation of those names in this run finished more than the record's TTL plus
 * CA_CACHE_MARGIN_MS ago. Once its own validation has settled it records the time and lets the next
 * order in.
 */
import { type CertRenewError, StoppedAtDeadline } from '../../../errors.js';
import type { Dns01 } from '../../../manifest/types.js';
import type { Clock } from '../../../runtime/clock.js';
import type { Logger } from '../../../runtime/logger.js';
import { isoSecond } from '../../../util/duration.js';
import { pause, type Sleep } from '../retry.js';

/**
 * Added to the TTL (ms): resolvers count TTLs in whole seconds, and a chain of caches (the CA's
 * resolver behind another) may round each hop up.
 */
export const CA_CACHE_MARGIN_MS = 2_000;

/** The TTL (s) the rfc2136 and powerdns providers write when `ttl` is unset, and assumed for `exec`. */
export const DEFAULT_TXT_TTL_SECONDS = 60;

/** The TTL (seconds) of the TXT records `config`'s provider writes (an `exec` command's: assumed 60). */
export function txtTtlSeconds(config: Dns01): number {
  const ttl =
    'rfc2136' in config ? config.rfc2136.ttl : 'powerdns' in config ? config.powerdns.ttl : undefined;
  return ttl ?? DEFAULT_TXT_TTL_SECONDS;
}

/** One finished validation at a name: when the CA's answer settled, and the record's TTL then. */
export interface NameValidation {
  /** The certificate whose order was validated (absent when unknown). */
  certName: string | undefined;
  /** When its authorizations settled (ms since the epoch). */
  at: number;
  ttlSeconds: number;
}

/**
 * How long (ms, ≥ 0) an order must still wait at `nowMs` before the CA's cached answer from `previous`
 * has expired: `previous.at` + TTL + `marginMs`. Zero when there was no earlier validation.
 */
export function cacheWaitMs(
  previous: NameValidation | undefined,
  nowMs: number,
  marginMs: number = CA_CACHE_MARGIN_MS,
): number {
  if (!previous) return 0;
  return Math.max(0, previous.at + previous.ttlSeconds * 1000 + marginMs - nowMs);
}

/** Who is asking: for the log lines and errors. */
export interface GateEntrant {
  certName: string | undefined;
  issuerName: string;
  /** TTL (s) of the records this order wrote. */
  ttlSeconds: number;
  logger: Logger;
}

/** An order's turn at its names; `validated` or `release` ends it (both may be called; only the first counts). */
export interface ValidationTurn {
  /** The CA was asked (whatever it answered): records now as the names' last validation, lets the next in. */
  validated(): void;
  /** Lets the next order in without recording anything (the CA was never asked). */
  release(): void;
}

const certLabel = (certName: string | undefined) => (certName ? `certificate ${certName}` : 'another order');

/**
 * The run's gate (see the file comment). `enter` throws CertRenewError ISSUER_TIMEOUT (transient) when
 * `signal` aborts while the order waits, naming what it waited for.
 */
export class ValidationNameGate {
  /** name → the promise that resolves once every turn taken at it so far has ended. */
  readonly #tails = new Map<string, Promise<void>>();
  /** name → the entrant holding the turn now. */
  readonly #holders = new Map<string, GateEntrant>();
  readonly #validations = new Map<string, NameValidation>();

  constructor(
    private readonly clock: Clock,
    private readonly sleep?: Sleep,
  ) {}

  /** The last validation recorded at `name` in this run. */
  lastValidation(name: string): NameValidation | undefined {
    return this.#validations.get(normalise(name));
  }

  /** Waits for the turn at every name, then for the CA's cache of each; resolves with the turn. */
  async enter(names: readonly string[], who: GateEntrant, signal: AbortSignal): Promise<ValidationTurn> {
    const sorted = [...new Set(names.map(normalise))].sort();
    const me: GateEntrant = { ...who }; // this turn's identity in #holders
    const opens: (() => void)[] = [];
    let ended = false;
    const end = (record: boolean) => {
      if (ended) return;
      ended = true;
      const at = this.clock.now().getTime();
      for (const name of sorted) {
        if (record) {
          this.#validations.set(name, { certName: who.certName, at, ttlSeconds: who.ttlSeconds });
        }
        if (this.#holders.get(name) === me) this.#holders.delete(name);
      }
      for (const open of opens) open();
    };
    try {
      for (const name of sorted) {
        const previous = this.#tails.get(name) ?? Promise.resolve();
        let open: () => void = () => {};
        const mine = new Promise<void>((resolve) => {
          open = resolve;
        });
        const tail = previous.then(() => mine);
        this.#tails.set(name, tail);
        void tail.then(() => {
          if (this.#tails.get(name) === tail) this.#tails.delete(name);
        });
        opens.push(open);
        const holder = this.#holders.get(name);
        if (holder) {
          who.logger.debug(
            `issuer ${who.issuerName}: ${certLabel(who.certName)}: waits for the validation of ${name} for ${certLabel(holder.certName)} to finish first`,
          );
        }
        if (!(await untilSettledOrAborted(previous, signal))) {
          const what = holder ? ` for ${certLabel(holder.certName)}` : '';
          throw timeout(`the validation of ${name}${what} to finish`);
        }
        this.#holders.set(name, me);
      }
      for (;;) {
        const now = this.clock.now().getTime();
        let longest: { name: string; ms: number; previous: NameValidation } | undefined;
        for (const name of sorted) {
          const previous = this.#validations.get(name);
          const ms = cacheWaitMs(previous, now);
          if (previous && ms > 0 && (!longest || ms > longest.ms)) longest = { name, ms, previous };
        }
        if (!longest) break;
        const { name, ms, previous } = longest;
        const why = `the CA's DNS cache of ${name}: validated for ${certLabel(previous.certName)} at ${isoSecond(new Date(previous.at))} (TXT TTL ${previous.ttlSeconds}s + ${CA_CACHE_MARGIN_MS / 1000}s)`;
        who.logger.info(
          `issuer ${who.issuerName}: ${certLabel(who.certName)}: waiting ${Math.ceil(ms / 1000)}s for ${why}`,
        );
        if (!(await pause(ms, signal, this.sleep))) throw timeout(why);
      }
    } catch (error) {
      end(false);
      throw error;
    }
    return { validated: () => end(true), release: () => end(false) };
  }
}

/** The run-wide gate of `run` (any object that lives exactly as long as the run: its RuntimeContext). */
export function validationGateOf(run: object, clock: Clock): ValidationNameGate {
  let gate = gates.get(run);
  if (!gate) {
    gate = new ValidationNameGate(clock);
    gates.set(run, gate);
  }
  return gate;
}

const gates = new WeakMap<object, ValidationNameGate>();

function normalise(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * The deadline passed while waiting for `what`: a StoppedAtDeadline, so the run's ISSUER_TIMEOUT line
 * (execute/renew.ts) names the wait and the hint instead of a bare "gave up after".
 */
function timeout(what: string): CertRenewError {
  const hint = (deadline: string) =>
    `certificates that share a dns-01 name are validated one after another, each after the CA's cached answer expires: lower the record's ttl or raise --timeout${deadline}; the next run tries again`;
  return new StoppedAtDeadline(
    `the wait for ${what}`,
    (deadline) => ({ hint: hint(` (now ${deadline.text})`), transient: true }),
    { message: `waiting for ${what} did not finish before the certificate's deadline`, hint: hint('') },
  );
}

/** True once `promise` settles; false if `signal` aborts first. */
function untilSettledOrAborted(promise: Promise<void>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      },
    );
  });
}
