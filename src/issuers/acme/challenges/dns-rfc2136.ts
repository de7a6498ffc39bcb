/**
 * dns-01 through RFC 2136 dynamic update signed with TSIG (RFC 8945), by running BIND's `nsupdate`
 * (Debian: bind9-dnsutils). No npm DNS library signs UPDATE messages with TSIG (dns-packet, dns2 and
 * native-dns encode packets but none implements TSIG), and TSIG is exactly the part where hand-written
 * code would be a security risk; nsupdate is the reference client every RFC 2136 server is tested with.
 * The script goes to nsupdate's standard input, so the secret never appears in an argv or a log.
 *
 * present: `update add NAME TTL TXT "VALUE"`; cleanup: `update delete NAME TXT "VALUE"` (only that
 * value: a wildcard and its base name share the name and both records live at once). Dry run: an update
 * whose only content is the prerequisite "the zone exists" (RFC 2136 §2.4.4): the server checks the
 * signature and answers, and nothing changes.
 */

import { randomUUID } from 'node:crypto';
import { canonicalName, DnsQuery, type DnsServer, NOT_A_SERVER, resolveServer } from '../../../dns/query.js';
import { configuredZone, findZone } from '../../../dns/zone.js';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import { readSecret } from '../../../manifest/secrets.js';
import type { Rfc2136Settings } from '../../../manifest/types.js';
import { runProcess } from '../../../runtime/process.js';
import type { ChallengeTask, DnsProvider, SolverContext } from './types.js';

export const NSUPDATE_TIMEOUT_MS = 30_000;
/** How long the connect that tells a refused server from a silent one may take (ms). */
const PROBE_TIMEOUT_MS = 5000;
const DEFAULT_TTL = 60;
/** What may go into an nsupdate script line unquoted: DNS names, base64(url) values, key names. */
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;
const SAFE_SECRET = /^[A-Za-z0-9+/=]+$/;

export class Rfc2136Solver implements DnsProvider {
  readonly type = 'dns-01' as const;
  /** `remove` is one nsupdate on its timeout (ms); the zone is known from `present`. */
  readonly removeTimeoutMs = NSUPDATE_TIMEOUT_MS;
  readonly description: string;
  readonly failureHint: string;
  private server: Promise<DnsServer> | undefined;
  private readonly zones = new Map<string, Promise<string>>();
  /** name → the zone found for it, for the messages of a failed cleanup. */
  private readonly found = new Map<string, string>();

  constructor(
    private readonly settings: Rfc2136Settings,
    private readonly context: SolverContext,
  ) {
    this.description = `dns-01 rfc2136 ${settings.server} key ${settings.keyName}`;
    this.failureHint = `check that ${settings.server} takes updates signed with key ${settings.keyName} and that every nameserver of the zone gets them`;
  }

  private serverAddress(): Promise<DnsServer> {
    this.server ??= resolveServer(this.settings.server).then((server) => {
      if (!server) {
        throw new CertRenewError(
          ErrorCode.manifestInvalid,
          `rfc2136 server ${this.settings.server} ${NOT_A_SERVER}`,
        );
      }
      return server;
    });
    this.server.catch(() => {
      this.server = undefined;
    });
    return this.server;
  }

  /** The zone holding `name`: the configured one, or found by SOA queries to the server (kept in `found`). */
  private findZone(name: string, signal?: AbortSignal): Promise<string> {
    if (this.settings.zone) return Promise.resolve(configuredZone(this.settings.zone, name, 'rfc2136'));
    let zone = this.zones.get(name);
    if (!zone) {
      zone = this.serverAddress()
        .then((server) =>
          findZone(name, new DnsQuery([server]), `rfc2136 server ${this.settings.server}`, signal),
        )
        .then((found) => {
          this.found.set(name, found);
          return found;
        });
      this.zones.set(name, zone);
      zone.catch(() => this.zones.delete(name));
    }
    return zone;
  }

  private async script(zone: string, lines: string[]): Promise<string> {
    const server = await this.serverAddress();
    const secret = (await readSecret(this.settings.secret, this.context.env, this.context.baseDir)).trim();
    if (!SAFE_SECRET.test(secret)) {
      throw new CertRenewError(
        ErrorCode.secretUnavailable,
        `the TSIG secret of key ${this.settings.keyName} is not base64`,
        {
          hint: "give the secret exactly as in the server's key statement (tsig-keygen prints it)",
        },
      );
    }
    if ((zone !== '' && !SAFE_NAME.test(zone)) || !SAFE_NAME.test(this.settings.keyName)) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `rfc2136: unsafe zone or key name ${JSON.stringify(zone)}`,
      );
    }
    return [
      `server ${server.address} ${server.port}`,
      `key ${this.settings.algorithm ?? 'hmac-sha256'}:${this.settings.keyName} ${secret}`,
      `zone ${zone}.`,
      ...lines,
      'send',
      '',
    ].join('\n');
  }

  private async nsupdate(what: string, script: string, signal: AbortSignal): Promise<void> {
    const result = await (this.context.runProcess ?? runProcess)({
      argv: ['nsupdate', '-v', '-t', '10'],
      input: script,
      cwd: '/',
      env: { PATH: this.context.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: NSUPDATE_TIMEOUT_MS,
      signal,
      killGraceMs: 2000,
    });
    if (result.outcome === 'exited' && result.exitCode === 0) return;
    let why: string;
    if (result.outcome === 'not-started') {
      why =
        result.error.code === 'ENOENT'
          ? 'nsupdate is not installed (Debian: apt-get install bind9-dnsutils)'
          : `nsupdate could not be started (${result.error.code ?? result.error.message})`;
    } else if (result.outcome === 'timed-out') {
      why = `no answer within ${NSUPDATE_TIMEOUT_MS / 1000}s`;
    } else if (result.outcome === 'cancelled') {
      why = "cancelled (the certificate's deadline passed or the run was interrupted)";
    } else {
      const output = `${result.stderr}\n${result.stdout}`
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('>'));
      // "; Communication with 127.0.0.1#53 failed: connection refused": nothing answered.
      const unreachable = output
        .map((l) => /^;?\s*Communication with \S+ failed: (.+)$/.exec(l)?.[1])
        .find((reason) => reason !== undefined);
      // nsupdate says "operation canceled" for a refused TCP connection too: one connect says which.
      const reason =
        unreachable && (await tcpRefused(await this.serverAddress())) ? 'connection refused' : unreachable;
      why =
        (reason && `cannot reach the server (${reason})`) ??
        output.find((l) => l.startsWith('update failed')) ??
        output.find((l) => /tsig|BADSIG|BADKEY|BADTIME/i.test(l)) ??
        output.pop() ??
        'failed';
    }
    const hint =
      result.outcome === 'not-started'
        ? 'install nsupdate, or put its directory in PATH'
        : result.outcome === 'cancelled'
          ? undefined
          : why.startsWith('cannot reach') || result.outcome === 'timed-out'
            ? 'check "server" (host:port) and that the nameserver listens there over TCP (updates are sent over TCP)'
            : /tsig|BADSIG|BADKEY/i.test(why)
              ? 'the server rejected the TSIG signature: check keyName, algorithm and secret'
              : "check the server's allow-update / update-policy for this key and zone";
    throw new CertRenewError(
      ErrorCode.challengeFailed,
      `rfc2136 ${what} at ${this.settings.server} with key ${this.settings.keyName}: ${why}`,
      hint ? { hint } : {},
    );
  }

  private async update(action: 'add' | 'delete', task: ChallengeTask, signal: AbortSignal): Promise<void> {
    const name = canonicalName(task.recordName ?? '');
    if (!SAFE_NAME.test(name) || !SAFE_NAME.test(task.value)) {
      throw new CertRenewError(ErrorCode.challengeFailed, `rfc2136: unsafe record ${JSON.stringify(name)}`);
    }
    const zone = await this.findZone(name, signal);
    const line =
      action === 'add'
        ? `update add ${name}. ${this.settings.ttl ?? DEFAULT_TTL} TXT "${task.value}"`
        : `update delete ${name}. TXT "${task.value}"`;
    await this.nsupdate(
      `${action === 'add' ? 'adding' : 'deleting'} TXT ${name} in zone ${zone}`,
      await this.script(zone, [line]),
      signal,
    );
  }

  async present(task: ChallengeTask, signal: AbortSignal): Promise<void> {
    await this.update('add', task, signal);
  }

  /** `update delete` of the one value; throws CertRenewError when it fails (DnsProvider). */
  async remove(task: ChallengeTask): Promise<void> {
    // No zone found for the name: present never sent an update, and asking again would only wait again.
    if (!this.zoneOf(task.recordName ?? '')) return;
    // nsupdate's own time limit only: a cleanup that hangs is reported as timed out.
    await this.update('delete', task, new AbortController().signal);
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
   * The record's zone (as `present` finds it) and an update that changes nothing but is checked like a
   * real one: the prerequisite "the zone exists" and the deletion of a TXT value that cannot be there (a
   * random one). RFC 2136 §3.2–3.4 checks prerequisites, then the requestor's permission for each update
   * RR, then applies: BIND's update-policy answers REFUSED ("rejected by secure update") for a key not
   * granted the name, PowerDNS REFUSED for a key not in TSIG-ALLOW-DNSUPDATE; a granted key gets NOERROR
   * and no change (BIND writes no journal entry and keeps the serial; PowerDNS logs "0 changes, rolling
   * back"). tests/e2e/dns01-rehearsal.test.ts checks this against BIND.
   */
  async rehearseRecord(recordName: string, signal: AbortSignal): Promise<{ zone: string; note: string }> {
    const name = canonicalName(recordName);
    if (!SAFE_NAME.test(name)) {
      throw new CertRenewError(ErrorCode.challengeFailed, `rfc2136: unsafe record ${JSON.stringify(name)}`);
    }
    const zone = await this.findZone(name, signal);
    const probe = `cert-renew-dry-run-${randomUUID()}`;
    await this.nsupdate(
      `trying an update of TXT ${name} in zone ${zone} that changes nothing`,
      await this.script(zone, [`prereq yxdomain ${zone}.`, `update delete ${name}. TXT "${probe}"`]),
      AbortSignal.any([signal, AbortSignal.timeout(NSUPDATE_TIMEOUT_MS)]),
    );
    return { zone, note: `zone ${zone}, key ${this.settings.keyName} may update it` };
  }

  async check(): Promise<string> {
    // Without a configured zone, ask about the root: a server that verified the signature answers
    // NOTAUTH (not its zone), one that did not answers with a TSIG error.
    const zone = this.settings.zone ? canonicalName(this.settings.zone) : '';
    const lines = zone ? [`prereq yxdomain ${zone}.`] : ['prereq yxdomain .'];
    try {
      await this.nsupdate(
        zone ? `checking zone ${zone}` : 'checking the key',
        await this.script(zone, lines),
        AbortSignal.timeout(NSUPDATE_TIMEOUT_MS),
      );
    } catch (error) {
      if (!zone && error instanceof CertRenewError && /NOTAUTH$|NOTZONE$|REFUSED$/.test(error.message)) {
        return `${this.description}: the server answers and accepts the key (whether it may update a name is checked per certificate)`;
      }
      throw error;
    }
    return `${this.description}: the server answers, accepts the key and holds zone ${zone} (whether the key may update a name is checked per certificate)`;
  }
}

/** Whether a TCP connect to `server` is refused (ECONNREFUSED); false when it connects or times out. */
async function tcpRefused(server: DnsServer): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: server.address, port: server.port, timeout: PROBE_TIMEOUT_MS });
    const done = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.once('connect', () => done(false));
    socket.once('timeout', () => done(false));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}
