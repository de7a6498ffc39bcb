/**
 * Plain DNS queries to chosen servers (node:dns `Resolver`, c-ares underneath): the building block of
 * zone finding, CNAME following and the propagation check. Names are handled in lower case without the
 * trailing dot; servers are `{address, port, label}` with an IP address (c-ares takes no host names).
 */
import { lookup, Resolver } from 'node:dns/promises';
import { ipVersion } from '../util/ip.js';

/** One DNS server to ask: an IP address and a port; `label` is what messages call it. */
export interface DnsServer {
  address: string;
  port: number;
  label: string;
}

/** How long one query waits for an answer (ms) and how often it is sent. */
export const QUERY_TIMEOUT_MS = 3000;
export const QUERY_TRIES = 2;

/** `example.com.` / `EXAMPLE.com` → `example.com` (the form used for comparisons). */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * `host`, `host:port`, `[v6]:port` or a bare IPv6 address → host and port (default 53), or undefined when
 * the text is none of these. The host may be a name (resolved by `resolveServer`).
 */
export function parseServer(text: string, defaultPort = 53): { host: string; port: number } | undefined {
  const trimmed = text.trim();
  if (ipVersion(trimmed) === 6) return { host: trimmed, port: defaultPort };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::([0-9]{1,5}))?$/.exec(trimmed);
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && ipVersion(host) !== 6) return undefined;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535 || host === '') return undefined;
  return { host, port };
}

/** What a malformed server setting is told (the examples are valid nameserver addresses). */
export const NOT_A_SERVER =
  "is not a nameserver address: a host name or IP address with an optional port 1-65535, such as '192.0.2.53:53', '[2001:db8::53]:53' or 'ns1.example.com'";

/**
 * A `host[:port]` setting → a server to query (a host name is resolved through the system resolver).
 * Throws the resolver's error when the name does not resolve; returns undefined for malformed text.
 */
export async function resolveServer(text: string, defaultPort = 53): Promise<DnsServer | undefined> {
  const parsed = parseServer(text, defaultPort);
  if (!parsed) return undefined;
  const address = ipVersion(parsed.host) ? parsed.host : (await lookup(parsed.host)).address;
  return { address, port: parsed.port, label: text.trim() };
}

function resolverFor(servers: readonly DnsServer[] | undefined): Resolver {
  const resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
  if (servers && servers.length > 0) {
    resolver.setServers(
      servers.map((s) =>
        ipVersion(s.address) === 6 ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`,
      ),
    );
  }
  return resolver;
}

/** c-ares codes that mean "no such record" rather than "could not ask". */
const NO_RECORD = new Set(['ENODATA', 'ENOTFOUND', 'ENONAME']);

/** Whether a node:dns error says the record does not exist (as opposed to a failure to ask). */
export function isNoRecord(error: unknown): boolean {
  return NO_RECORD.has((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * Queries of one kind of server set: `undefined` servers means the system resolver (recursive), a list
 * means exactly those servers (authoritative ones, usually). Each method rejects with node:dns's error
 * (`code` ENODATA/ENOTFOUND when the record does not exist, ETIMEOUT/ECONNREFUSED/EREFUSED/ESERVFAIL
 * when asking failed); `signal` cancels the query.
 */
export class DnsQuery {
  constructor(private readonly servers?: readonly DnsServer[]) {}

  private async ask<T>(run: (resolver: Resolver) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const resolver = resolverFor(this.servers);
    const cancel = () => resolver.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await run(resolver);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** The TXT strings at `name` (each record's chunks joined). */
  txt(name: string, signal?: AbortSignal): Promise<string[]> {
    return this.ask(
      async (r) => (await r.resolveTxt(canonicalName(name))).map((chunks) => chunks.join('')),
      signal,
    );
  }

  /** The target of a CNAME at `name` (canonical form). */
  async cname(name: string, signal?: AbortSignal): Promise<string> {
    const targets = await this.ask((r) => r.resolveCname(canonicalName(name)), signal);
    const target = targets[0];
    if (target === undefined) throw Object.assign(new Error(`no CNAME at ${name}`), { code: 'ENODATA' });
    return canonicalName(target);
  }

  /** Whether `name` has an SOA record (is a zone apex). */
  async hasSoa(name: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.ask((r) => r.resolveSoa(canonicalName(name)), signal);
      return true;
    } catch (error) {
      if (isNoRecord(error)) return false;
      throw error;
    }
  }

  /** The NS host names of `zone` (canonical form). */
  async ns(zone: string, signal?: AbortSignal): Promise<string[]> {
    return (await this.ask((r) => r.resolveNs(canonicalName(zone)), signal)).map(canonicalName);
  }

  /** The IPv4 and IPv6 addresses of `host` (empty when it has none). */
  async addresses(host: string, signal?: AbortSignal): Promise<string[]> {
    const all = await Promise.allSettled([
      this.ask((r) => r.resolve4(canonicalName(host)), signal),
      this.ask((r) => r.resolve6(canonicalName(host)), signal),
    ]);
    return all.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  }
}
