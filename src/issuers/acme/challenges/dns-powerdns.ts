/**
 * dns-01 through the PowerDNS Authoritative HTTP API (`/api/v1`, authenticated by `X-API-Key`).
 * The API replaces whole RRsets (PATCH with changetype REPLACE), so present and cleanup read the TXT
 * RRset, add or remove exactly one value and write it back; the updates to one API server are serialized
 * within the process (every order of a run), so two values at one name (a wildcard and its base name, or
 * the same names in several certificates) never overwrite each other.
 * Dry run: an authenticated GET of the server's zone list, which changes nothing.
 */

import { canonicalName } from '../../../dns/query.js';
import { configuredZone } from '../../../dns/zone.js';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import { readSecret } from '../../../manifest/secrets.js';
import type { PowerDnsSettings } from '../../../manifest/types.js';
import type { ChallengeTask, DnsProvider, SolverContext } from './types.js';

export const API_TIMEOUT_MS = 30_000;
const DEFAULT_TTL = 60;

interface ApiRecord {
  content: string;
  disabled?: boolean;
}
interface ApiRrset {
  name: string;
  type: string;
  ttl?: number;
  records: ApiRecord[];
}

/**
 * The tail of the queue of RRset changes per API server (`<url>/api/v1/servers/<id>`), for the whole
 * process: a solver serves one order, but the orders of a run (one apex and wildcard in several
 * certificates, or several names in one zone) change the same RRsets at once, and each change is a read
 * followed by a whole-RRset write — run together, one write loses the other's value (and PowerDNS's
 * sqlite backend answers concurrent PATCHes with HTTP 500).
 */
const queues = new Map<string, Promise<unknown>>();

export class PowerDnsSolver implements DnsProvider {
  readonly type = 'dns-01' as const;
  /** `remove` runs on one API timeout (ms). */
  readonly removeTimeoutMs = API_TIMEOUT_MS;
  readonly description: string;
  readonly failureHint: string;
  private readonly base: string;
  /** name → the zone its record went to, for the messages of a failed cleanup. */
  private readonly found = new Map<string, string>();

  constructor(
    private readonly settings: PowerDnsSettings,
    private readonly context: SolverContext,
  ) {
    this.base = `${settings.url.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1/servers/${encodeURIComponent(settings.serverId ?? 'localhost')}`;
    this.description = `dns-01 powerdns ${settings.url}`;
    this.failureHint = `check that PowerDNS at ${settings.url} serves the zone and that every nameserver of it gets the change`;
  }

  private async api<T>(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<T | undefined> {
    const key = await readSecret(this.settings.apiKey, this.context.env, this.context.baseDir);
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'X-API-Key': key,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.any([signal, AbortSignal.timeout(API_TIMEOUT_MS)]),
      });
    } catch (error) {
      // fetch's TypeError says only "fetch failed": the reason is its cause (ECONNREFUSED, ENOTFOUND,
      // or a message without a code, such as "bad port" for a port fetch refuses to use).
      const inner = (error as { cause?: { code?: string; message?: string } }).cause;
      const cause = inner?.code ?? inner?.message ?? (error as Error).name;
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `powerdns ${method} ${this.settings.url}: ${cause}`,
        {
          cause: error,
          hint: 'check the url and that the PowerDNS webserver (webserver=yes, api=yes) listens there',
        },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { error?: string }).error ?? detail;
      } catch {
        // not JSON
      }
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `powerdns ${method} ${path || '/'} at ${this.settings.url}: HTTP ${response.status}${detail ? ` ${detail.trim()}` : ''}`,
        {
          hint:
            response.status === 401 || response.status === 403
              ? 'the API key was refused: check apiKey against api-key in pdns.conf'
              : 'check serverId and zone',
        },
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as T);
  }

  /** The configured zone, or the longest zone the server holds that ends `name`. */
  private async findZone(name: string, signal: AbortSignal): Promise<string> {
    if (this.settings.zone) return configuredZone(this.settings.zone, name, 'powerdns');
    const zones = (await this.api<{ name: string }[]>('GET', '/zones', undefined, signal)) ?? [];
    const match = zones
      .map((z) => canonicalName(z.name))
      .filter((z) => name === z || name.endsWith(`.${z}`))
      .sort((a, b) => b.length - a.length)[0];
    if (!match) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `powerdns at ${this.settings.url} holds no zone for ${name}`,
        {
          hint: 'create the zone in PowerDNS, or set "zone"',
        },
      );
    }
    return match;
  }

  private serialized<T>(run: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.base) ?? Promise.resolve();
    const next = previous.then(run, run);
    const tail = next.catch(() => {});
    queues.set(this.base, tail);
    // The last change to finish forgets the queue, so the map holds only servers with changes under way.
    void tail.then(() => {
      if (queues.get(this.base) === tail) queues.delete(this.base);
    });
    return next;
  }

  private change(action: 'add' | 'delete', task: ChallengeTask, signal: AbortSignal): Promise<void> {
    return this.serialized(async () => {
      const name = canonicalName(task.recordName ?? '');
      const zone = await this.findZone(name, signal);
      this.found.set(name, zone);
      const zonePath = `/zones/${encodeURIComponent(`${zone}.`)}`;
      const current = await this.api<{ rrsets?: ApiRrset[] }>(
        'GET',
        `${zonePath}?rrsets=true&rrset_name=${encodeURIComponent(`${name}.`)}&rrset_type=TXT`,
        undefined,
        signal,
      );
      const rrset = current?.rrsets?.find((r) => r.type === 'TXT' && canonicalName(r.name) === name);
      const content = `"${task.value}"`;
      const others = (rrset?.records ?? []).filter((r) => r.content !== content);
      const records = action === 'add' ? [...others, { content, disabled: false }] : others;
      const change =
        records.length === 0
          ? { name: `${name}.`, type: 'TXT', changetype: 'DELETE' }
          : {
              name: `${name}.`,
              type: 'TXT',
              ttl: this.settings.ttl ?? rrset?.ttl ?? DEFAULT_TTL,
              changetype: 'REPLACE',
              records,
            };
      await this.api('PATCH', zonePath, { rrsets: [change] }, signal);
    });
  }

  async present(task: ChallengeTask, signal: AbortSignal): Promise<void> {
    await this.change('add', task, signal);
  }

  /** Removes the one value from the RRset; throws CertRenewError when it fails (DnsProvider). */
  async remove(task: ChallengeTask): Promise<void> {
    // No zone found for the name: present never wrote, and asking again would only fail again.
    if (!this.zoneOf(task.recordName ?? '')) return;
    await this.change('delete', task, AbortSignal.timeout(API_TIMEOUT_MS));
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    try {
      await this.remove(task);
    } catch (error) {
      this.context.logger.warn(`issuer ${this.context.issuerName}: ${(error as Error).message}`);
    }
  }

  zoneOf(name: string): string | undefined {
    return this.settings.zone ? canonicalName(this.settings.zone) : this.found.get(canonicalName(name));
  }

  /**
   * The record's zone as `present` finds it (the configured one must exist at the server and hold the
   * name; otherwise the longest zone the server lists that ends it). Reads only.
   */
  async rehearseRecord(recordName: string, signal: AbortSignal): Promise<{ zone: string; note: string }> {
    const name = canonicalName(recordName);
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(API_TIMEOUT_MS)]);
    const zone = await this.findZone(name, bounded);
    if (this.settings.zone) {
      await this.api('GET', `/zones/${encodeURIComponent(`${zone}.`)}?rrsets=false`, undefined, bounded);
    }
    return { zone, note: `zone ${zone} at ${this.settings.url}` };
  }

  async check(): Promise<string> {
    const signal = AbortSignal.timeout(API_TIMEOUT_MS);
    if (this.settings.zone) {
      const zone = canonicalName(this.settings.zone);
      await this.api('GET', `/zones/${encodeURIComponent(`${zone}.`)}?rrsets=false`, undefined, signal);
      return `${this.description}: the API accepts the key and holds zone ${zone}`;
    }
    const zones = (await this.api<unknown[]>('GET', '/zones', undefined, signal)) ?? [];
    return `${this.description}: the API accepts the key (${zones.length} zone${zones.length === 1 ? '' : 's'})`;
  }
}
