/**
 * dns-01 settings the schema cannot judge: ports in range, a propagation interval above zero, waits that
 * do not fit in a run's per-certificate deadline, and an API key that would cross the network in clear.
 * Never contacts a server.
 */
import { DEFAULT_PROPAGATION_TIMEOUT_MS } from '../../dns/defaults.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { error, type Finding, warning } from './finding.js';
import { type Json, objectAt, stringAt } from './view.js';

/** The findings about one written challenge (`pointer` is where it is written); none unless it is dns-01. */
export function dns01Settings(challenge: Json, pointer: string): Finding[] {
  if (challenge.type !== 'dns-01') return [];
  const findings: Finding[] = [];
  const port = (text: unknown, at: string) => {
    const match = typeof text === 'string' ? /:([0-9]{1,5})$/.exec(text) : null;
    if (match && (Number(match[1]) < 1 || Number(match[1]) > 65535)) {
      findings.push(error(at, `port ${match[1]} is out of range (1-65535)`));
    }
  };
  const nameservers = challenge.nameservers;
  if (Array.isArray(nameservers)) {
    for (const [i, server] of nameservers.entries()) port(server, `${pointer}/nameservers/${i}`);
  }
  const rfc2136 = objectAt(challenge, 'rfc2136');
  if (rfc2136) port(rfc2136.server, `${pointer}/rfc2136/server`);
  const interval = stringAt(challenge, 'propagationInterval');
  if (interval !== undefined && parseDuration(interval) === 0) {
    findings.push(
      error(
        `${pointer}/propagationInterval`,
        'must be longer than 0s (every authoritative server is asked each round)',
      ),
    );
  }
  findings.push(...deadlineFit(challenge, pointer));
  const url = stringAt(objectAt(challenge, 'powerdns'), 'url');
  if (url?.startsWith('http://')) {
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      host = '';
    }
    if (host !== '' && host !== 'localhost' && host !== '[::1]' && !host.startsWith('127.')) {
      findings.push(
        warning(
          `${pointer}/powerdns/url`,
          `the API key would cross the network in clear to ${host}: use https (a TLS proxy in front of the PowerDNS webserver)`,
        ),
      );
    }
  }
  return findings;
}

/** The default `propagationTimeout` (ms), from dns/defaults.ts (not dns/propagation.ts, which loads node:dns). */
export const PROPAGATION_TIMEOUT_DEFAULT_MS = DEFAULT_PROPAGATION_TIMEOUT_MS;

/** `run --timeout`'s default (src/cli.ts): the per-certificate deadline the waits must fit in (ms). */
export const DEFAULT_RUN_TIMEOUT_MS = 10 * 60_000;

/**
 * Warnings when the dns-01 waits cannot fit in the default per-certificate deadline: a propagationDelay
 * at least as long never gets past the delay; propagationDelay + propagationTimeout at least as long
 * lets the deadline, not propagationTimeout, end the propagation check (the lagging nameserver is then
 * not what the error names first). Warnings, not errors: `run --timeout` may be raised.
 */
function deadlineFit(challenge: Json, pointer: string): Finding[] {
  const delayText = stringAt(challenge, 'propagationDelay');
  const timeoutText = stringAt(challenge, 'propagationTimeout');
  const delay = delayText === undefined ? 0 : (parseDuration(delayText) ?? 0);
  const timeout =
    timeoutText === undefined ? PROPAGATION_TIMEOUT_DEFAULT_MS : (parseDuration(timeoutText) ?? 0);
  const limit = formatDuration(DEFAULT_RUN_TIMEOUT_MS);
  if (delay >= DEFAULT_RUN_TIMEOUT_MS) {
    return [
      warning(
        `${pointer}/propagationDelay`,
        `propagationDelay ${delayText} is not shorter than run's default per-certificate deadline (--timeout ${limit}): such a run always stops in the delay; lower it, or run with --timeout well above it`,
      ),
    ];
  }
  if (challenge.propagationCheck === false || delay + timeout < DEFAULT_RUN_TIMEOUT_MS) return [];
  return [
    warning(
      `${pointer}/${timeoutText === undefined ? 'propagationDelay' : 'propagationTimeout'}`,
      `propagationDelay + propagationTimeout (${formatDuration(delay + timeout)}) is not shorter than run's default per-certificate deadline (--timeout ${limit}): a nameserver that never gets the record is reported at the deadline, not by propagationTimeout; lower them, or run with --timeout above their sum`,
    ),
  ];
}
