/**
 * What every dns-01 provider shares, around the provider itself (exec, rfc2136, powerdns):
 *
 * 1. CNAME delegation: `_acme-challenge.<domain>` is followed through any CNAME chain (loops and
 *    over-long chains are errors) and the provider is handed the final name, in whatever zone that is.
 * 2. After every record of the order is present: `propagationDelay`, then the propagation check: every
 *    authoritative nameserver of the record's zone (or every server in `nameservers`) is asked directly
 *    until it answers the value, at most `propagationTimeout`; only then is the CA told.
 * 3. Orders of one run that write the same name take turns at it, each after the CA's cached answer of
 *    the one before has expired (dns-ca-cache.ts).
 * 4. Cleanup removes the record where it was written. A removal that fails is one warning naming the
 *    certificate, the record, its value and zone, to be removed by hand; for a record whose present failed
 *    (nothing, or not all of it, was written) the removal is still tried, and its failure is only a
 *    debug line (the certificate's error already says what went wrong).
 *
 * With -v (debug), each step is one line: the record written and its zone, the CNAME followed, every
 * propagation round still waiting, the removal.
 */

import {
  DEFAULT_PROPAGATION_INTERVAL_MS,
  DEFAULT_PROPAGATION_TIMEOUT_MS,
  type ExpectedTxt,
  waitForTxt,
} from '../../../dns/propagation.js';
import type { DnsServer } from '../../../dns/query.js';
import { canonicalName, DnsQuery, NOT_A_SERVER, resolveServer } from '../../../dns/query.js';
import { authoritativeServers, findZone, followCname } from '../../../dns/zone.js';
import { CertRenewError, ErrorCode, StoppedAtDeadline } from '../../../errors.js';
import type { Dns01 } from '../../../manifest/types.js';
import { durationMs, formatDuration } from '../../../util/duration.js';
import { pause } from '../retry.js';
import { txtTtlSeconds, type ValidationTurn } from './dns-ca-cache.js';
import { DnsExecSolver, dnsRecordName } from './dns-exec.js';
import { PowerDnsSolver } from './dns-powerdns.js';
import { Rfc2136Solver } from './dns-rfc2136.js';
import type { ChallengeSolver, ChallengeTask, DnsProvider, SolverContext } from './types.js';

/** The dry run's wait for one nameserver's answer (ms): a server that is down fails it, not the run. */
export const NAMESERVER_CHECK_MS = 10_000;

/** The provider alone (no CNAME following, no waiting): what `Dns01Solver` wraps. */
export function createDnsProvider(config: Dns01, context: SolverContext): DnsProvider {
  if ('rfc2136' in config) return new Rfc2136Solver(config.rfc2136, context);
  if ('powerdns' in config) return new PowerDnsSolver(config.powerdns, context);
  // The exec solver's own waiting is not used: this wrapper waits for every provider alike.
  const { propagationCheck: _check, ...rest } = context;
  return new DnsExecSolver({ type: 'dns-01', exec: config.exec }, rest);
}

export class Dns01Solver implements ChallengeSolver {
  readonly type = 'dns-01' as const;
  readonly description: string;
  readonly failureHint: string;
  private readonly provider: ChallengeSolver & Partial<DnsProvider>;
  private readonly delayMs: number;
  private readonly timeoutMs: number;
  private readonly intervalMs: number;
  /** task → the name the record was written at (after CNAME following). */
  private readonly targets = new Map<ChallengeTask, string>();
  /** Tasks whose present failed: a failed removal of theirs is no news. */
  private readonly failed = new Set<ChallengeTask>();
  private nameservers: Promise<DnsServer[]> | undefined;
  /** This order's turn at its names in the run's gate, from `awaitTurn` until `validated` or `close`. */
  private turn: ValidationTurn | undefined;
  /** The order's signal (the certificate's deadline or the run's interruption), from `open`/`present`. */
  private signal: AbortSignal | undefined;

  constructor(
    private readonly config: Dns01,
    private readonly context: SolverContext,
    provider?: ChallengeSolver & Partial<DnsProvider>,
  ) {
    this.provider = provider ?? createDnsProvider(config, context);
    this.description = this.provider.description;
    this.failureHint = this.provider.failureHint;
    this.delayMs = config.propagationDelay ? durationMs(config.propagationDelay) : 0;
    this.timeoutMs = config.propagationTimeout
      ? durationMs(config.propagationTimeout)
      : DEFAULT_PROPAGATION_TIMEOUT_MS;
    this.intervalMs = config.propagationInterval
      ? durationMs(config.propagationInterval)
      : DEFAULT_PROPAGATION_INTERVAL_MS;
  }

  /** The `nameservers` setting resolved to addresses, or undefined when unset. */
  private configuredServers(): Promise<DnsServer[]> | undefined {
    const list = this.config.nameservers;
    if (!list || list.length === 0) return undefined;
    this.nameservers ??= Promise.all(
      list.map(async (text) => {
        let server: DnsServer | undefined;
        try {
          server = await resolveServer(text);
        } catch (error) {
          throw new CertRenewError(ErrorCode.challengeFailed, `nameserver ${text} does not resolve`, {
            cause: error,
          });
        }
        if (!server)
          throw new CertRenewError(ErrorCode.manifestInvalid, `nameserver ${text} ${NOT_A_SERVER}`);
        return server;
      }),
    );
    this.nameservers.catch(() => {
      this.nameservers = undefined;
    });
    return this.nameservers;
  }

  private recordName(task: ChallengeTask): string {
    return task.recordName ?? dnsRecordName(task.identifier);
  }

  async open(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await this.provider.open?.(signal);
  }

  /** "certificate web: issuer le" (or "issuer le"), the front of this solver's lines. */
  private who(): string {
    const cert = this.context.certificateName;
    return `${cert ? `certificate ${cert}: ` : ''}issuer ${this.context.issuerName}`;
  }

  /** `name "value" in zone Z` (the zone when the provider knows it). */
  private describeRecord(name: string, value: string): string {
    const zone = this.provider.zoneOf?.(name);
    return `TXT record ${name} "${value}"${zone ? ` in zone ${zone}` : ''}`;
  }

  async present(task: ChallengeTask, signal: AbortSignal): Promise<void> {
    this.signal ??= signal;
    const asked = this.recordName(task);
    let target: string | undefined;
    try {
      target = await this.follow(asked, signal);
    } catch (error) {
      if (signal.aborted) throw this.stoppedPresenting(canonicalName(asked), error);
      throw error;
    }
    if (target !== asked.replace(/\.$/, '').toLowerCase()) {
      this.context.logger.info(
        `${this.who()}: ${asked.replace(/\.$/, '')} is a CNAME: the TXT record goes to ${target}`,
      );
    }
    this.targets.set(task, target);
    try {
      await this.provider.present({ ...task, recordName: `${target}.` }, signal);
    } catch (error) {
      this.failed.add(task);
      if (signal.aborted) throw this.stoppedPresenting(target, error);
      throw error;
    }
    this.context.logger.debug(
      `${this.who()}: dns-01 for ${task.wildcard ? '*.' : ''}${task.identifier}: wrote ${this.describeRecord(target, task.value)}`,
    );
  }

  /** The end of the CNAME chain at `name`, asked of `nameservers` or the system resolver (canonical). */
  private async follow(name: string, signal: AbortSignal): Promise<string> {
    const servers = await this.configuredServers();
    return followCname(
      name,
      new DnsQuery(servers),
      signal,
      servers ? `the nameservers ${servers.map((s) => s.label).join(', ')}` : undefined,
    );
  }

  /** The deadline stopped `present` (the provider, or the CNAME lookup before it): what was running. */
  private stoppedPresenting(name: string, error: unknown): StoppedAtDeadline {
    const what = error instanceof Error ? error.message : String(error);
    return new StoppedAtDeadline(`the dns-01 present of ${name} (${what})`, (deadline) => ({
      hint: `the provider had not finished writing the TXT record: make it return once the record is set (cert-renew checks propagation itself), check that its DNS server or API answers, or raise --timeout (now ${deadline.text}); the next run tries again`,
      transient: true,
    }));
  }

  /** The deadline stopped the propagation delay. */
  private stoppedInDelay(): StoppedAtDeadline {
    const delay = `propagationDelay (${this.config.propagationDelay ?? formatDuration(this.delayMs)})`;
    return new StoppedAtDeadline(`the dns-01 propagation delay, ${delay}`, (deadline) =>
      this.delayMs >= deadline.ms
        ? {
            hint: `${delay} is not shorter than the certificate's deadline (--timeout ${deadline.text}), so no run can get past it: lower propagationDelay, or raise --timeout well above it`,
            transient: false,
          }
        : {
            hint: `the steps before it and ${delay} took longer than the certificate's deadline (--timeout ${deadline.text}): raise --timeout, or lower propagationDelay; the next run tries again`,
            transient: true,
          },
    );
  }

  /** The deadline stopped the propagation check; `seen` is what its last round saw. */
  private stoppedInCheck(seen: string): StoppedAtDeadline {
    const timeout = this.config.propagationTimeout ?? formatDuration(this.timeoutMs);
    const both = this.delayMs + this.timeoutMs;
    const sum =
      this.delayMs > 0
        ? `propagationDelay + propagationTimeout (${formatDuration(both)})`
        : `propagationTimeout (${timeout})`;
    return new StoppedAtDeadline(
      `the dns-01 propagation check (propagationTimeout ${timeout}): ${seen}`,
      (deadline) => ({
        hint:
          both >= deadline.ms
            ? `check that every nameserver gets the zone (NOTIFY, zone transfers); ${sum} is not shorter than the certificate's deadline (--timeout ${deadline.text}), so the deadline ends the check before propagationTimeout does: lower propagationTimeout or raise --timeout; the next run tries again`
            : `check that every nameserver gets the zone (NOTIFY, zone transfers), or raise --timeout (now ${deadline.text}); the next run tries again`,
        transient: true,
      }),
    );
  }

  async settle(tasks: readonly ChallengeTask[], signal: AbortSignal): Promise<void> {
    if (this.delayMs > 0 && !(await pause(this.delayMs, signal))) throw this.stoppedInDelay();
    const records: ExpectedTxt[] = tasks.map((task) => ({
      name: this.targets.get(task) ?? this.recordName(task).replace(/\.$/, ''),
      value: task.value,
    }));
    const plugged = this.context.propagationCheck;
    if (plugged) {
      // A check given by the embedding program (tests) replaces the DNS one.
      for (let round = 0; ; round++) {
        const results = await Promise.all(
          records.map((r) => plugged(`${r.name}.`, r.value, signal).catch(() => false)),
        );
        if (signal.aborted) throw this.stoppedInCheck(`after ${round} round(s) of the plugged-in check`);
        if (results.every(Boolean)) return;
        if (round * this.intervalMs >= this.timeoutMs) {
          throw new CertRenewError(
            ErrorCode.challengeFailed,
            `TXT record ${records[results.indexOf(false)]?.name} did not propagate within ${this.timeoutMs / 1000}s`,
          );
        }
        if (!(await pause(this.intervalMs, signal))) {
          throw this.stoppedInCheck(`TXT record ${records[results.indexOf(false)]?.name} had not propagated`);
        }
      }
    }
    if (this.config.propagationCheck === false) return;
    const configured = this.configuredServers();
    let stopped: string | undefined;
    try {
      stopped = await waitForTxt(
        records,
        {
          serversFor: async (record, s) =>
            configured ? await configured : authoritativeServers(record.name, new DnsQuery(), s),
          timeoutMs: this.timeoutMs,
          intervalMs: this.intervalMs,
          onRound: (round, waiting) =>
            this.context.logger.debug(
              `${this.who()}: dns-01 propagation round ${round}: ${waiting.length === 0 ? 'every nameserver answers every value' : `waiting for ${waiting.join('; ')}`}`,
            ),
        },
        signal,
      );
    } catch (error) {
      if (!signal.aborted) throw error;
      stopped = `looking up the nameservers to ask (${error instanceof Error ? error.message : String(error)})`;
    }
    if (stopped !== undefined) throw this.stoppedInCheck(stopped);
  }

  async awaitTurn(tasks: readonly ChallengeTask[], signal: AbortSignal): Promise<void> {
    const gate = this.context.validationGate;
    if (!gate) return;
    const names = tasks.map((task) => this.targets.get(task) ?? this.recordName(task));
    this.turn = await gate.enter(
      names,
      {
        certName: this.context.certificateName,
        issuerName: this.context.issuerName,
        ttlSeconds: txtTtlSeconds(this.config),
        logger: this.context.logger,
      },
      signal,
    );
  }

  validated(): void {
    this.turn?.validated();
  }

  failureHintFor(detail: string): string {
    // What a CA says when it sees TXT values, but not this one (Pebble, Boulder, step-ca).
    if (!/value not found|incorrect txt|does not match/i.test(detail)) return this.failureHint;
    const ttl = txtTtlSeconds(this.config);
    return `${this.failureHint}; or the CA's resolver still held the TXT values of an earlier validation of this name, which it may cache for up to the record's TTL (${ttl}s): certificates of one run wait for that, separate runs do not, so try again after ${ttl}s`;
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    const target = this.targets.get(task);
    // A task whose CNAME lookup failed never reached the provider: nothing to remove.
    if (target === undefined) return;
    const record = { ...task, recordName: `${target}.` };
    if (!this.provider.remove) {
      await this.provider.cleanup(record);
      return;
    }
    const what = this.describeRecord(target, task.value);
    const unwatch = this.sayWhenInterrupted(target);
    try {
      await this.provider.remove(record);
      this.context.logger.debug(`${this.who()}: dns-01 cleanup removed ${what}`);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      if (this.failed.has(task)) {
        // Its present failed, mostly for the same reason: the certificate's error says it.
        this.context.logger.debug(
          `${this.who()}: dns-01 cleanup of ${what} after its failed present: ${why}`,
        );
        return;
      }
      this.context.logger.warn(`${this.who()}: the ${what} was not removed (${why}); remove it by hand`);
    } finally {
      unwatch();
    }
  }

  /**
   * An interrupted run (SIGINT, SIGTERM, SIGHUP, before or during the removal of the record at `name`)
   * waits for the removal, so no TXT record is left behind: one warning says so and for how long at most
   * (docs/operations.md "Interrupted runs"); a second signal kills it (cli.ts). Returns the unsubscribe.
   */
  private sayWhenInterrupted(name: string): () => void {
    const signal = this.signal;
    if (!signal) return () => {};
    const say = () => {
      const reason: unknown = signal.reason;
      if (!(reason instanceof CertRenewError) || reason.code !== ErrorCode.interrupted) return;
      const limit = this.provider.removeTimeoutMs;
      this.context.logger.warn(
        `${this.who()}: the run was interrupted: waiting for the dns-01 cleanup of TXT record ${name}${limit === undefined ? '' : ` (at most ${formatDuration(limit)})`} so that it is not left behind; a second signal kills it`,
      );
    };
    if (signal.aborted) {
      say();
      return () => {};
    }
    signal.addEventListener('abort', say, { once: true });
    return () => signal.removeEventListener('abort', say);
  }

  async close(): Promise<void> {
    this.turn?.release();
    await this.provider.close?.();
  }

  /**
   * Dry run of one certificate: each distinct `_acme-challenge` name of `domains` goes through what a real
   * run does before the CA is told, changing nothing: the CNAME chain followed (at `nameservers` or the
   * system resolver), the zone found at the provider (rfc2136: with an update that changes nothing, so
   * the key's permission is known; powerdns: the zone the API holds), and — unless `propagationCheck` is
   * false — every nameserver the propagation check would ask (the configured ones, or the zone's NS set
   * found through the system resolver) asked for the zone's SOA, each within NAMESERVER_CHECK_MS. Resolves
   * with one line; throws CertRenewError (CHALLENGE_FAILED …) naming the `_acme-challenge` name, what
   * failed and what to do.
   */
  async rehearse(domains: readonly string[], signal: AbortSignal): Promise<string> {
    const names = [...new Set(domains.map((d) => canonicalName(dnsRecordName(d))))];
    const lines: string[] = [];
    for (const asked of names) {
      let target = asked;
      try {
        target = await this.follow(asked, signal);
        const found = await this.provider.rehearseRecord?.(target, signal);
        const parts = [
          found?.note ??
            `${this.provider.description} is not run by a dry run (whether it can write the record is known at the first real run)`,
        ];
        if (this.config.propagationCheck !== false) {
          parts.push(await this.rehearseNameservers(target, found?.zone, signal));
        }
        lines.push(`${asked}${target === asked ? '' : ` (CNAME to ${target})`}: ${parts.join(', ')}`);
      } catch (error) {
        const e = error instanceof CertRenewError ? error : undefined;
        const via = target === asked ? '' : ` (a CNAME to ${target})`;
        throw new CertRenewError(
          e?.code ?? ErrorCode.challengeFailed,
          `dns-01 ${asked}${via}: ${e?.message ?? String(error)}`,
          { cause: error, ...(e?.hint ? { hint: e.hint } : {}) },
        );
      }
    }
    return `dns-01 ${lines.join('; ')}`;
  }

  /** Every server the propagation check would ask about `name` answers the SOA of its zone. */
  private async rehearseNameservers(
    name: string,
    zone: string | undefined,
    signal: AbortSignal,
  ): Promise<string> {
    const configured = await this.configuredServers();
    let servers: DnsServer[];
    let found = zone;
    if (configured) {
      servers = configured;
      found ??= await findZone(
        name,
        new DnsQuery(configured),
        `the "nameservers" (${configured.map((s) => s.label).join(', ')})`,
        signal,
        'list in "nameservers" the servers authoritative for the zone that holds the record',
      );
    } else {
      servers = await authoritativeServers(name, new DnsQuery(), signal);
    }
    const apex = found ?? (await findZone(name, new DnsQuery(servers), 'its nameservers', signal));
    const failures = (
      await Promise.all(
        servers.map(async (server) => {
          const bounded = AbortSignal.any([signal, AbortSignal.timeout(NAMESERVER_CHECK_MS)]);
          try {
            return (await new DnsQuery([server]).hasSoa(apex, bounded))
              ? undefined
              : `${server.label} has no SOA for zone ${apex}`;
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
            return bounded.aborted
              ? `${server.label} did not answer within ${NAMESERVER_CHECK_MS / 1000}s`
              : `${server.label} does not answer for zone ${apex} (${code})`;
          }
        }),
      )
    ).filter((f): f is string => f !== undefined);
    if (failures.length > 0) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `the propagation check would ask a nameserver that cannot answer it: ${failures.join('; ')}`,
        {
          hint: configured
            ? 'list in "nameservers" only servers that are up and authoritative for the zone'
            : 'fix the zone\'s NS set, or list the servers to ask in "nameservers"',
        },
      );
    }
    return `nameserver${servers.length === 1 ? '' : 's'} ${servers.map((s) => s.label).join(', ')} answer${servers.length === 1 ? 's' : ''} for zone ${apex}`;
  }

  async check(): Promise<string> {
    const parts = [await this.provider.check()];
    const servers = await this.configuredServers();
    if (servers) parts.push(`asks ${servers.map((s) => s.label).join(', ')}`);
    return parts.join('; ');
  }
}
