/**
 * A real ACME server for the tests: Pebble, resolving every name through pebble-challtestsrv's DNS
 * server (which answers 127.0.0.1 for every A query and serves the TXT records a test sets), so http-01
 * is validated against a listener the test opens on 127.0.0.1:`httpPort` and dns-01 against TXT records
 * set through the management API.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  freePort,
  listensOn,
  retryOnPortClash,
  type ServerProcess,
  startServer,
  tempDir,
} from './process.js';
import { createCa, createLeaf } from './tls.js';

export interface PebbleOptions {
  /** Lifetime of issued certificates in seconds (Pebble's default is five years). */
  validityPeriodSeconds?: number;
  /** Percentage of good nonces Pebble rejects with badNonce (default 0 here, 5 in Pebble). */
  nonceRejectPercent?: number;
  /** Accept every challenge without contacting anyone (PEBBLE_VA_ALWAYS_VALID). */
  alwaysValid?: boolean;
  /** External account binding keys: kid → base64url HMAC key. */
  eabKeys?: Record<string, string>;
  eabRequired?: boolean;
  /** Where Pebble validates http-01 (default: a free port). */
  httpPort?: number;
  /** Alternate chains to offer besides the default one (PEBBLE_ALTERNATE_ROOTS; default 0). */
  alternateRoots?: number;
  /** The DNS server Pebble resolves through (`127.0.0.1:PORT`, e.g. a BIND under test); default challtestsrv's. */
  dnsServer?: string;
}

export interface Pebble {
  /** `https://127.0.0.1:PORT/dir` */
  directoryUrl: string;
  /** PEM file of the CA that signed Pebble's HTTPS certificate; clients pass it as `caBundle`. */
  caBundlePath: string;
  caBundlePem: string;
  /** Pebble validates http-01 by connecting to 127.0.0.1 on this port. */
  httpPort: number;
  /** Pebble validates tls-alpn-01 by connecting to 127.0.0.1 on this port. */
  tlsPort: number;
  /** pebble-challtestsrv's DNS server (UDP and TCP on 127.0.0.1). */
  dnsPort: number;
  /** Base URL of pebble-challtestsrv's management API (plain HTTP). */
  challtestsrvUrl: string;
  /** Base URL of Pebble's own management API (HTTPS, trusting `caBundlePem`). */
  managementUrl: string;
  dir: string;
  /**
   * PEM of the root that signs issued chains (it changes at every Pebble start); `index` 1… are the
   * alternate roots (with `alternateRoots`).
   */
  roots(index?: number): Promise<string>;
  intermediates(index?: number): Promise<string>;
  /** Serves a TXT record for `host` (a trailing dot is added when missing). */
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  /** Everything Pebble printed (for failure messages). */
  output(): string;
  /** Stops Pebble and pebble-challtestsrv and removes the directory. */
  stop(): Promise<void>;
  /** SIGKILL to Pebble only (the ACME server goes down; DNS stays up); `restart()` brings it back. */
  kill(): Promise<void>;
  /** A new Pebble process on the same ports (new roots, no accounts or orders from before). */
  restart(): Promise<void>;
}

/** GET over HTTPS trusting `ca`; rejects on any status but 200, or when no answer comes within `timeoutMs`. */
export async function httpsGet(url: string, ca: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function postJson(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status}: ${text.slice(0, 200)}`);
}

function fqdn(host: string): string {
  return host.endsWith('.') ? host : `${host}.`;
}

export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  return retryOnPortClash(() => startPebbleOnce(options));
}

async function startPebbleOnce(options: PebbleOptions = {}): Promise<Pebble> {
  const dir = await tempDir('cert-renew-pebble-');
  const stops: (() => Promise<void>)[] = [];
  try {
    const ca = await createCa(dir.path, { commonName: 'cert-renew test Pebble HTTPS CA' });
    const leaf = await createLeaf(ca, dir.path, { names: ['127.0.0.1', 'localhost'], name: 'pebble-https' });

    const dnsPort = await freePort();
    const challManagementPort = await freePort();
    const challtestsrv = await startServer(
      'pebble-challtestsrv',
      [
        '-dns01',
        `127.0.0.1:${dnsPort}`,
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-management',
        `127.0.0.1:${challManagementPort}`,
        '-defaultIPv4',
        '127.0.0.1',
        '-defaultIPv6',
        '',
      ],
      {
        name: 'pebble-challtestsrv',
        cwd: dir.path,
        // Its own socket, not just a connection: another test's server on a clashed port would accept one.
        ready: async (pid) => (await listensOn(pid, challManagementPort)) && (await listensOn(pid, dnsPort)),
      },
    );
    stops.push(() => challtestsrv.stop());

    const listenPort = await freePort();
    const managementPort = await freePort();
    const httpPort = options.httpPort ?? (await freePort());
    const tlsPort = await freePort();
    const configPath = join(dir.path, 'pebble-config.json');
    await writeFile(
      configPath,
      JSON.stringify(
        {
          pebble: {
            listenAddress: `127.0.0.1:${listenPort}`,
            managementListenAddress: `127.0.0.1:${managementPort}`,
            certificate: leaf.fullchainPath,
            privateKey: leaf.keyPath,
            httpPort,
            tlsPort,
            ocspResponderURL: '',
            externalAccountBindingRequired: options.eabRequired ?? false,
            externalAccountMACKeys: options.eabKeys ?? {},
            ...(options.validityPeriodSeconds === undefined
              ? {}
              : { certificateValidityPeriod: options.validityPeriodSeconds }),
          },
        },
        null,
        2,
      ),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: String(options.nonceRejectPercent ?? 0),
      PEBBLE_AUTHZREUSE: '0',
    };
    env.PEBBLE_ALTERNATE_ROOTS = String(options.alternateRoots ?? 0);
    if (options.alwaysValid) env.PEBBLE_VA_ALWAYS_VALID = '1';
    else delete env.PEBBLE_VA_ALWAYS_VALID;

    const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
    const start = () =>
      startServer(
        'pebble',
        ['-config', configPath, '-dnsserver', options.dnsServer ?? `127.0.0.1:${dnsPort}`],
        {
          name: 'pebble',
          cwd: dir.path,
          env,
          // One probe, asked again by startServer: short, so a port clash is noticed soon.
          ready: async () => (await httpsGet(directoryUrl, ca.certPem, 5_000)).includes('newNonce'),
        },
      );
    let pebble: ServerProcess = await start();
    stops.push(() => pebble.stop());

    const managementUrl = `https://127.0.0.1:${managementPort}`;
    const challtestsrvUrl = `http://127.0.0.1:${challManagementPort}`;
    return {
      directoryUrl,
      caBundlePath: ca.certPath,
      caBundlePem: ca.certPem,
      httpPort,
      tlsPort,
      dnsPort,
      challtestsrvUrl,
      managementUrl,
      dir: dir.path,
      roots: (index = 0) => httpsGet(`${managementUrl}/roots/${index}`, ca.certPem),
      intermediates: (index = 0) => httpsGet(`${managementUrl}/intermediates/${index}`, ca.certPem),
      setTxt: (host, value) => postJson(`${challtestsrvUrl}/set-txt`, { host: fqdn(host), value }),
      clearTxt: (host) => postJson(`${challtestsrvUrl}/clear-txt`, { host: fqdn(host) }),
      output: () => pebble.output(),
      stop: async () => {
        await Promise.allSettled([pebble.stop(), challtestsrv.stop()]);
        await dir.remove();
      },
      kill: () => pebble.kill(),
      restart: async () => {
        await pebble.stop();
        pebble = await start();
      },
    };
  } catch (error) {
    await Promise.allSettled(stops.map((stop) => stop()));
    await dir.remove();
    throw error;
  }
}

/**
 * Writes an executable dns-01 hook following the lego `exec` convention (`$1` present|cleanup, `$2` the
 * FQDN such as `_acme-challenge.example.test.`, `$3` the value) that sets or clears the TXT record
 * through pebble-challtestsrv's management API. It runs node (the one running the tests), not curl.
 */
export async function writeDnsExecHook(dir: string, challtestsrvUrl: string): Promise<string> {
  const path = join(dir, 'dns-exec-hook.sh');
  const script = [
    'const [action, name, value] = process.argv.slice(1);',
    "const host = name.endsWith('.') ? name : name + '.';",
    "const paths = { present: '/set-txt', cleanup: '/clear-txt' };",
    "if (!paths[action]) { console.error('unknown action: ' + action); process.exit(2); }",
    "const body = action === 'present' ? { host, value } : { host };",
    "fetch(process.env.CHALLTESTSRV_URL + paths[action], { method: 'POST', body: JSON.stringify(body) })",
    "  .then((r) => { if (!r.ok) { console.error('HTTP ' + r.status); process.exit(1); } })",
    '  .catch((e) => { console.error(String(e)); process.exit(1); });',
  ].join('\n');
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  await writeFile(
    path,
    [
      '#!/bin/sh',
      '# dns-01 hook for tests (lego exec convention): $1 = present|cleanup, $2 = FQDN, $3 = value',
      'set -eu',
      `CHALLTESTSRV_URL=${quote(challtestsrvUrl)} exec ${quote(process.execPath)} -e ${quote(script)} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return path;
}
