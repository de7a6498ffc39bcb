/**
 * A real PowerDNS Authoritative server (`pdns_server` with the gsqlite3 backend) for the tests: DNS on
 * 127.0.0.1 and a free port, the HTTP API (api=yes) on another, caches off so an API change is answered
 * at once, zones created through the API. Runs as the current user from a temporary directory (its own
 * config dir, control socket and database).
 */
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { txtValues } from './bind.js';
import {
  freePort,
  retryOnPortClash,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from './process.js';

/** Where Debian's pdns-backend-sqlite3 puts the schema (the doc copy may be stripped from small images). */
const SCHEMAS = [
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
];

export interface PowerDnsZone {
  name: string;
  /** Extra RRsets in the API's form, e.g. `{name: '_acme-challenge.www.example.test.', type: 'CNAME', records: ['x.other.test.']}`. */
  rrsets?: { name: string; type: string; records: string[] }[];
}

export interface PowerDnsServer {
  port: number;
  /** `127.0.0.1:PORT` (DNS). */
  address: string;
  /** `http://127.0.0.1:PORT` (the API's base URL, without /api/v1). */
  apiUrl: string;
  apiKey: string;
  dir: string;
  txt(name: string): Promise<string[]>;
  output(): string;
  stop(): Promise<void>;
}

async function schemaPath(): Promise<string> {
  for (const path of SCHEMAS) {
    try {
      await access(path);
      return path;
    } catch {
      // next
    }
  }
  throw new Error('the PowerDNS sqlite3 schema is missing: install pdns-backend-sqlite3');
}

export async function startPowerDns(options: { zones: PowerDnsZone[] }): Promise<PowerDnsServer> {
  return retryOnPortClash(() => startPowerDnsOnce(options));
}

async function startPowerDnsOnce(options: { zones: PowerDnsZone[] }): Promise<PowerDnsServer> {
  const dir = await tempDir('cert-renew-pdns-');
  try {
    const port = await freePort();
    const apiPort = await freePort();
    const apiKey = randomBytes(18).toString('base64url');
    const db = join(dir.path, 'pdns.sqlite3');
    await runCommand('sqlite3', [db], { input: `.read ${await schemaPath()}\n` });
    await writeFile(join(dir.path, 'pdns.conf'), '');
    const args = [
      `--config-dir=${dir.path}`,
      `--socket-dir=${dir.path}`,
      '--guardian=no',
      '--daemon=no',
      '--disable-syslog',
      '--write-pid=no',
      `--local-address=127.0.0.1`,
      `--local-port=${port}`,
      '--launch=gsqlite3',
      `--gsqlite3-database=${db}`,
      '--api=yes',
      `--api-key=${apiKey}`,
      '--webserver=yes',
      '--webserver-address=127.0.0.1',
      `--webserver-port=${apiPort}`,
      '--webserver-allow-from=127.0.0.0/8',
      '--cache-ttl=0',
      '--query-cache-ttl=0',
      '--negquery-cache-ttl=0',
      '--zone-cache-refresh-interval=0',
      '--loglevel=4',
    ];
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = (method: string, path: string, body?: unknown, timeoutMs = 30_000) =>
      fetch(`${apiUrl}/api/v1/servers/localhost${path}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        headers: { 'X-API-Key': apiKey, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const pdns: ServerProcess = await startServer('pdns_server', args, {
      name: 'pdns_server',
      cwd: dir.path,
      // One probe, asked again by startServer: short, so a port clash is noticed soon.
      ready: async () => (await api('GET', '', undefined, 5_000)).ok,
    });
    try {
      for (const zone of options.zones) {
        const response = await api('POST', '/zones', {
          name: `${zone.name}.`,
          kind: 'Native',
          nameservers: [`ns1.${zone.name}.`],
          rrsets: [
            {
              name: `ns1.${zone.name}.`,
              type: 'A',
              ttl: 60,
              records: [{ content: '127.0.0.1', disabled: false }],
            },
            ...(zone.rrsets ?? []).map((r) => ({
              name: r.name,
              type: r.type,
              ttl: 60,
              records: r.records.map((content) => ({ content, disabled: false })),
            })),
          ],
        });
        if (!response.ok)
          throw new Error(`creating zone ${zone.name}: HTTP ${response.status} ${await response.text()}`);
      }
    } catch (error) {
      await pdns.stop();
      throw error;
    }
    // Short for the readiness poll (asked again at once); generous for what tests read (txt): a server on a
    // busy machine may answer a UDP query late, and a timeout there would fail the test.
    const query = (timeout = 10_000, tries = 3) => {
      const resolver = new Resolver({ timeout, tries });
      resolver.setServers([`127.0.0.1:${port}`]);
      return resolver;
    };
    return {
      port,
      address: `127.0.0.1:${port}`,
      apiUrl,
      apiKey,
      dir: dir.path,
      txt: (name) => txtValues(query(), name),
      output: () => pdns.output(),
      stop: async () => {
        await pdns.stop();
        await dir.remove();
      },
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}
