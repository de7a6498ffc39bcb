/**
 * Zone finding (the closest enclosing name with an SOA record), CNAME following (RFC 1034 §3.6.2: a
 * resolver follows the chain; we do the same for `_acme-challenge.<domain>` so the TXT record is written
 * where the CA will end up) and the authoritative nameservers of a zone.
 */
import { CertRenewError, ErrorCode } from '../errors.js';
import {
  canonicalName,
  type DnsQuery,
  type DnsServer,
  isNoRecord,
  QUERY_TIMEOUT_MS,
  QUERY_TRIES,
} from './query.js';

/** As many CNAME hops as a resolver follows before giving up (BIND and Unbound stop near this). */
export const MAX_CNAME_HOPS = 16;

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** node:dns codes that say the server could not be asked at all (not what it answered). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEOUT']);

function isUnreachable(error: unknown): boolean {
  return UNREACHABLE.has((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * "cannot reach rfc2136 server 127.0.0.1:5300 to find the zone of … (connection refused)". A server that
 * never answers fails one query's time: QUERY_TIMEOUT_MS, then twice that (about 9 s).
 */
function unreachableError(where: string, what: string, error: unknown): CertRenewError {
  const code = codeOf(error);
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ETIMEOUT'
        ? `no answer within ${(QUERY_TIMEOUT_MS * (2 ** QUERY_TRIES - 1)) / 1000}s`
        : code;
  return new CertRenewError(ErrorCode.challengeFailed, `cannot reach ${where} to find ${what} (${reason})`, {
    cause: error,
    hint: 'check the address and port, and that the DNS server runs and answers there',
  });
}

/**
 * The configured `zone`, canonical, when `name` is inside it. Throws CHALLENGE_FAILED otherwise: an update
 * of a record outside the zone can only be refused (NOTZONE, or NOTAUTH from a server without the zone),
 * and the refusal would point at the update policy instead of the setting.
 */
export function configuredZone(zone: string, name: string, provider: string): string {
  const canonical = canonicalName(zone);
  if (name === canonical || name.endsWith(`.${canonical}`)) return canonical;
  throw new CertRenewError(
    ErrorCode.challengeFailed,
    `${provider}: the record ${name} is not in zone ${canonical} (the challenge's "zone")`,
    {
      hint: `set "zone" to the zone that holds ${name} (after any CNAME at _acme-challenge), or leave it out to have it found`,
    },
  );
}

/**
 * The zone that holds `name`: the longest suffix of it (itself included) with an SOA record, asked of
 * `query`'s servers. Servers that refuse a name above their zones are passed over like "no SOA".
 * Throws CHALLENGE_FAILED when no suffix has one, with `hint` (what the operator can set).
 */
export async function findZone(
  name: string,
  query: DnsQuery,
  where: string,
  signal?: AbortSignal,
  hint = 'set "zone" in the dns-01 provider settings, or check that the server is authoritative for it',
): Promise<string> {
  const labels = canonicalName(name).split('.');
  let lastError: unknown;
  for (let i = 0; i < labels.length; i++) {
    const candidate = labels.slice(i).join('.');
    try {
      if (await query.hasSoa(candidate, signal)) return candidate;
    } catch (error) {
      // Nothing answers there: asking about the next name would only wait as long again.
      if (isUnreachable(error)) throw unreachableError(where, `the zone of ${canonicalName(name)}`, error);
      lastError = error;
    }
  }
  throw new CertRenewError(
    ErrorCode.challengeFailed,
    `cannot find the DNS zone of ${canonicalName(name)} at ${where}${lastError ? ` (${codeOf(lastError)})` : ''}`,
    { hint },
  );
}

/**
 * Follows CNAME records from `name` and returns the final name (canonical, no trailing dot; `name`
 * itself when it has no CNAME). Throws CHALLENGE_FAILED on a loop, on more than MAX_CNAME_HOPS hops, or
 * when the lookup itself fails (a timeout is not taken for "no CNAME": writing the record at the wrong
 * name would only fail later, at the CA). `where` names `query`'s servers in messages ("nameservers
 * 192.0.2.53:53"); a name they refuse is outside every zone they hold, and the message names the CNAME
 * that led there.
 */
export async function followCname(
  name: string,
  query: DnsQuery,
  signal?: AbortSignal,
  where = 'the system resolver',
): Promise<string> {
  const seen = [canonicalName(name)];
  let current = canonicalName(name);
  for (;;) {
    let target: string;
    try {
      target = await query.cname(current, signal);
    } catch (error) {
      if (isNoRecord(error)) return current;
      if (isUnreachable(error)) throw unreachableError(where, `a CNAME at ${current}`, error);
      // Which CNAME led to a name nobody serves (a dangling delegation), when one did.
      const via = seen.length > 1 ? `, where the CNAME at ${seen[seen.length - 2]} points` : '';
      if (codeOf(error) === 'EREFUSED') {
        throw new CertRenewError(
          ErrorCode.challengeFailed,
          `${current} is outside every zone served by ${where}${via} (they answer REFUSED)`,
          {
            cause: error,
            hint:
              via === ''
                ? 'add the servers of its zone to "nameservers", or check the certificate\'s domain'
                : 'fix the CNAME so it points into a zone that exists, or add the servers of that zone to "nameservers"',
          },
        );
      }
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `cannot look up a CNAME at ${current}${via} (${codeOf(error)})`,
        { cause: error, hint: 'check the DNS servers in "nameservers" (or the system resolver) answer' },
      );
    }
    if (seen.includes(target)) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `CNAME loop at ${canonicalName(name)}: ${[...seen, target].join(' -> ')}`,
        { hint: 'fix the CNAME records so the chain ends at a name that can hold the TXT record' },
      );
    }
    seen.push(target);
    if (seen.length > MAX_CNAME_HOPS + 1) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `CNAME chain from ${canonicalName(name)} is longer than ${MAX_CNAME_HOPS} hops`,
      );
    }
    current = target;
  }
}

/**
 * The authoritative nameservers of the zone holding `name`, found through `query` (normally the system
 * resolver): the zone by SOA, its NS set, each NS host's addresses, on port 53. Throws CHALLENGE_FAILED
 * when there is no NS set or none of its hosts has an address.
 */
export async function authoritativeServers(
  name: string,
  query: DnsQuery,
  signal?: AbortSignal,
): Promise<DnsServer[]> {
  const zone = await findZone(
    name,
    query,
    'the system resolver',
    signal,
    'name the zone\'s servers in the challenge\'s "nameservers" (split-horizon DNS, a zone the system resolver does not see), or set "propagationCheck": false and a "propagationDelay"',
  );
  let hosts: string[];
  try {
    hosts = await query.ns(zone, signal);
  } catch (error) {
    throw new CertRenewError(
      ErrorCode.challengeFailed,
      `cannot find the nameservers of zone ${zone} (${codeOf(error)})`,
      { cause: error, hint: 'set "nameservers" in the dns-01 challenge to the servers to check' },
    );
  }
  const servers: DnsServer[] = [];
  for (const host of hosts.sort()) {
    for (const address of await query.addresses(host, signal)) {
      servers.push({ address, port: 53, label: `${host} (${address})` });
    }
  }
  if (servers.length === 0) {
    throw new CertRenewError(
      ErrorCode.challengeFailed,
      `the nameservers of zone ${zone} (${hosts.join(', ') || 'none'}) have no address`,
      { hint: 'set "nameservers" in the dns-01 challenge to the servers to check' },
    );
  }
  return servers;
}
