/**
 * dns-01 settings the schema cannot judge: ports in range, a propagation interval above zero, and an
 * API key that would cross the network in clear. Never contacts a server.
 */
import { parseDuration } from '../../util/duration.js';
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
