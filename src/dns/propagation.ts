/**
 * Waiting for TXT records to reach every authoritative nameserver (what lego's and certbot's propagation
 * checks do): each server is asked directly, never through a recursive resolver whose cache could
 * answer an old state, until every one answers every value.
 */
import { CertRenewError, ErrorCode } from '../errors.js';
import { pause } from '../issuers/acme/retry.js';
import { DnsQuery, type DnsServer } from './query.js';

export { DEFAULT_PROPAGATION_INTERVAL_MS, DEFAULT_PROPAGATION_TIMEOUT_MS } from './defaults.js';

/** One TXT value expected at one name (canonical, no trailing dot). */
export interface ExpectedTxt {
  name: string;
  value: string;
}

export interface PropagationOptions {
  /** The servers that must answer `record` (one lookup per record, before the first round). */
  serversFor(record: ExpectedTxt, signal: AbortSignal): Promise<DnsServer[]>;
  /** Give up after this many ms (counted in rounds of `intervalMs`, so no clock is needed). */
  timeoutMs: number;
  intervalMs: number;
  /**
   * After each round (1, 2, …): what is still missing, one `name at server: answer` per lagging pair
   * (empty once every server answers). For the -v log.
   */
  onRound?(round: number, waiting: string[]): void;
}

/**
 * Resolves with undefined once every record is answered by every one of its servers. Throws
 * CHALLENGE_FAILED at the timeout, naming the first record and server still lagging (and what that server
 * answered). When `signal` aborts first it resolves early with what the last round saw ("TXT record … had
 * not reached nameserver … (it answers: no TXT record)", or that no round was finished), for the caller's
 * deadline message.
 */
export async function waitForTxt(
  records: readonly ExpectedTxt[],
  options: PropagationOptions,
  signal: AbortSignal,
): Promise<string | undefined> {
  let pending: { record: ExpectedTxt; server: DnsServer; last: string }[] = [];
  for (const record of records) {
    for (const server of await options.serversFor(record, signal)) pending.push({ record, server, last: '' });
  }
  const rounds = Math.max(1, Math.floor(options.timeoutMs / Math.max(1, options.intervalMs)) + 1);
  const lastSeen = (): string => {
    const first = pending.find((p) => p.last !== '');
    if (!first) return 'no round of queries had finished';
    const lagging = [...new Set(pending.map((p) => p.server.label))];
    return `after ${round - 1} round(s), TXT record ${first.record.name} had not reached nameserver ${lagging.join(', ')} (it answers: ${first.last})`;
  };
  let round = 1;
  for (; ; round++) {
    const answered = await Promise.all(
      pending.map(async (item) => {
        try {
          const values = await new DnsQuery([item.server]).txt(item.record.name, signal);
          const last = values.length === 0 ? 'no TXT record' : `${values.length} other TXT value(s)`;
          return { ok: values.includes(item.record.value), last };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? 'error';
          return { ok: false, last: code === 'ENODATA' || code === 'ENOTFOUND' ? 'no TXT record' : code };
        }
      }),
    );
    // A round cut short by the abort says nothing (its queries were cancelled): the one before is reported.
    if (signal.aborted) return lastSeen();
    for (const [i, item] of pending.entries()) item.last = answered[i]?.last ?? item.last;
    pending = pending.filter((_, i) => !answered[i]?.ok);
    options.onRound?.(
      round,
      pending.map((p) => `${p.record.name} at ${p.server.label} (${p.last})`),
    );
    if (pending.length === 0) return undefined;
    if (round >= rounds) {
      const first = pending[0];
      const lagging = [...new Set(pending.map((p) => p.server.label))];
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `TXT record ${first?.record.name} did not reach nameserver ${lagging.join(', ')} within ${options.timeoutMs / 1000}s (it answers: ${first?.last})`,
        {
          hint: 'check that the nameserver gets the zone (NOTIFY, zone transfers), or raise propagationTimeout',
        },
      );
    }
    if (!(await pause(options.intervalMs, signal))) {
      round++;
      return lastSeen();
    }
  }
}
