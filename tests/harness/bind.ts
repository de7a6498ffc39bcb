/**
 * A real authoritative BIND (`named` from bind9) for the tests: on 127.0.0.1 and a free port (UDP and
 * TCP), recursion off, no rndc channel, zones from the options, each updatable by the TSIG key through
 * RFC 2136 (`update-policy { grant KEY zonesub TXT; }`: TXT records anywhere in the zone, nothing else).
 * Runs as the current user from a temporary directory (zone files and journals live there).
 */
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  retryOnPortClash,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from './process.js';

export interface BindZone {
  /** `example.test` (no trailing dot). */
  name: string;
  /** Extra zone-file lines, relative names allowed (`_acme-challenge.www 60 IN CNAME www.other.test.`). */
  records?: string[];
  /** The key the zone's update-policy grants (default: the server's key); another name is declared with a random secret. */
  grant?: string;
}

export interface BindOptions {
  zones: BindZone[];
  /** TSIG key name (default `cert-renew-test`). */
  keyName?: string;
  /** Default hmac-sha256. */
  algorithm?: string;
  /** Base64 secret (default: 32 random bytes). */
  secret?: string;
  /** A resolver instead: recursion on, these zones forwarded to 127.0.0.1:port (see startBindResolver). */
  forwardTo?: { port: number; zones: string[] };
  /**
   * A resolver's `max-cache-ttl` in seconds: 1 by default (answers are barely cached); `'default'` leaves
   * BIND's own (a week), so answers stay cached for their records' TTL, as at a CA's resolver.
   */
  maxCacheTtl?: number | 'default';
}

export interface BindServer {
  port: number;
  /** `127.0.0.1:PORT`, as Pebble's `-dnsserver` and the manifest's `nameservers` take it. */
  address: string;
  keyName: string;
  algorithm: string;
  secret: string;
  dir: string;
  /** The TXT values at `name` (asked of this server only; empty when there are none). */
  txt(name: string): Promise<string[]>;
  /** Adds a TXT value through nsupdate with this server's key (what a "late" secondary step does). */
  addTxt(zone: string, name: string, value: string): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

function zoneFile(zone: BindZone): string {
  return [
    '$TTL 60',
    `@ IN SOA ns1.${zone.name}. hostmaster.${zone.name}. 1 3600 600 86400 60`,
    `@ IN NS ns1.${zone.name}.`,
    'ns1 IN A 127.0.0.1',
    '@ IN A 127.0.0.1',
    ...(zone.records ?? []),
    '',
  ].join('\n');
}

/**
 * A recursive BIND in front of `authoritative` (forward-only zones), the way a CA asks DNS: through a
 * resolver that follows CNAME chains across zones (an authoritative BIND stops at a zone boundary).
 */
export async function startBindResolver(
  authoritative: BindServer,
  zones: string[],
  options: Pick<BindOptions, 'maxCacheTtl'> = {},
): Promise<BindServer> {
  return startBind({ zones: [], forwardTo: { port: authoritative.port, zones }, ...options });
}

/** Starts named and waits until it answers the SOA of the first zone. */
export async function startBind(options: BindOptions): Promise<BindServer> {
  return retryOnPortClash(() => startBindOnce(options));
}

async function startBindOnce(options: BindOptions): Promise<BindServer> {
  const dir = await tempDir('cert-renew-bind-');
  try {
    const port = await freePort();
    const keyName = options.keyName ?? 'cert-renew-test';
    const algorithm = options.algorithm ?? 'hmac-sha256';
    const secret = options.secret ?? randomBytes(32).toString('base64');
    const zones = options.zones
      .map(
        (zone) =>
          `zone "${zone.name}" {\n  type primary;\n  file "${join(dir.path, `${zone.name}.db`)}";\n  update-policy { grant ${zone.grant ?? keyName} zonesub TXT; };\n};`,
      )
      .join('\n');
    const otherKeys = [...new Set(options.zones.map((z) => z.grant ?? keyName))]
      .filter((name) => name !== keyName)
      .map(
        (name) =>
          `key "${name}" {\n  algorithm ${algorithm};\n  secret "${randomBytes(32).toString('base64')}";\n};`,
      )
      .join('\n');
    const forward = options.forwardTo;
    const forwards = (forward?.zones ?? [])
      .map(
        (zone) =>
          `zone "${zone}" {\n  type forward;\n  forward only;\n  forwarders { 127.0.0.1 port ${forward?.port}; };\n};`,
      )
      .join('\n');
    const maxCacheTtl = options.maxCacheTtl ?? 1;
    const cacheTtl = maxCacheTtl === 'default' ? '' : `max-cache-ttl ${maxCacheTtl};\n  `;
    const conf = `options {
  directory "${dir.path}";
  pid-file "${join(dir.path, 'named.pid')}";
  session-keyfile "${join(dir.path, 'session.key')}";
  managed-keys-directory "${dir.path}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  ${forward ? `recursion yes;\n  allow-recursion { 127.0.0.1; };\n  ${cacheTtl}max-ncache-ttl 1;` : 'recursion no;'}
  allow-query { any; };
  dnssec-validation no;
  notify no;
};
controls { };
key "${keyName}" {
  algorithm ${algorithm};
  secret "${secret}";
};
${otherKeys}
${zones}
${forwards}
`;
    const confPath = join(dir.path, 'named.conf');
    await writeFile(confPath, conf);
    for (const zone of options.zones) await writeFile(join(dir.path, `${zone.name}.db`), zoneFile(zone));

    const first = options.zones[0]?.name ?? forward?.zones[0] ?? '.';
    // Short for the readiness poll (asked again at once); generous for what tests read (txt): a server on a
    // busy machine may answer a UDP query late, and a timeout there would fail the test.
    const query = (timeout = 10_000, tries = 3) => {
      const resolver = new Resolver({ timeout, tries });
      resolver.setServers([`127.0.0.1:${port}`]);
      return resolver;
    };
    const named: ServerProcess = await startServer('named', ['-g', '-4', '-c', confPath], {
      name: 'named',
      cwd: dir.path,
      ready: async () => (await query(1000, 1).resolveSoa(first)).serial > 0,
    });
    return {
      port,
      address: `127.0.0.1:${port}`,
      keyName,
      algorithm,
      secret,
      dir: dir.path,
      txt: (name) => txtValues(query(), name),
      addTxt: async (zone, name, value) => {
        await runCommand('nsupdate', ['-v', '-t', '10'], {
          input: [
            `server 127.0.0.1 ${port}`,
            `key ${algorithm}:${keyName} ${secret}`,
            `zone ${zone}.`,
            `update add ${name.replace(/\.$/, '')}. 60 TXT "${value}"`,
            'send',
            '',
          ].join('\n'),
        });
      },
      output: () => named.output(),
      stop: async () => {
        await named.stop();
        await dir.remove();
      },
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

/** The TXT values at `name` as `resolver` answers them; none when the name or the type is absent. */
export async function txtValues(resolver: Resolver, name: string): Promise<string[]> {
  try {
    return (await resolver.resolveTxt(name.replace(/\.$/, ''))).map((chunks) => chunks.join(''));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
    throw error;
  }
}
