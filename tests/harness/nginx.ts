/**
 * A real nginx for the tests, entirely inside a temporary prefix (config, pid file, logs, temp paths):
 * a TLS server block serving a given certificate, and a plain HTTP server block that serves `webroot`
 * at `/.well-known/acme-challenge/` (what an ACME webroot challenge writes to).
 */
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort,
  listensOn,
  retryOnPortClash,
  runCommand,
  type ServerProcess,
  startServer,
  tempDir,
} from './process.js';
import { normalizeSerial, type PeerCertificate, peerCertificate } from './tls.js';

export interface NginxOptions {
  certPath: string;
  keyPath: string;
  /** Extra text placed inside the `http {}` block, e.g. another `server {}`. */
  extraServer?: string;
  /** Port of the plain HTTP server (default: a free port); pass Pebble's `httpPort` for http-01. */
  httpPort?: number;
  /** Port of the TLS server (default: a free port). */
  tlsPort?: number;
  /** Directory served at `/.well-known/acme-challenge/` (default: `<prefix>/webroot`). */
  webroot?: string;
  /**
   * A document root (`root` directive) for the plain HTTP server instead of the `webroot` alias: what
   * certbot's, lego's and acme.sh's webroot mode expect.
   */
  documentRoot?: string;
  /** More directives for the TLS server block, e.g. `ssl_trusted_certificate /path/chain.pem;`. */
  tlsDirectives?: string[];
}

export interface Nginx {
  tlsPort: number;
  httpPort: number;
  webroot: string;
  prefix: string;
  confPath: string;
  pidFile: string;
  errorLog: string;
  /** The argv that reloads this nginx (and no other), for hooks: `[/path/to/nginx, -p, PREFIX, -c, CONF, -e, LOG, -s, reload]`. */
  reloadCommand: string[];
  /** Runs `reloadCommand`. */
  reload(): Promise<void>;
  /** `nginx -t` on this configuration (as it reads the files now); rejects with nginx's message when it fails. */
  configTest(): Promise<string>;
  /** What the TLS server presents now (no verification). */
  peerCertificate(servername?: string): Promise<PeerCertificate>;
  /** Polls until the TLS server presents the certificate with `serial` (reloads apply asynchronously). */
  waitForSerial(serial: string, timeoutMs?: number): Promise<PeerCertificate>;
  output(): string;
  stop(): Promise<void>;
}

let missingModules: Promise<Set<string>> | undefined;

/** nginx lives in sbin, which is not on a normal user's PATH; hooks get the absolute path. */
function nginxBinary(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nginx');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return 'nginx';
}

/** Modules this nginx was built without (their temp-path directives would be unknown). */
function modulesBuiltWithout(): Promise<Set<string>> {
  missingModules ??= runCommand(nginxBinary(), ['-V']).then(({ stdout, stderr }) => {
    const found = (stdout + stderr).matchAll(/--without-http_(\w+)_module/g);
    return new Set([...found].map((m) => m[1] ?? ''));
  });
  return missingModules;
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  return retryOnPortClash(() => startNginxOnce(options));
}

async function startNginxOnce(options: NginxOptions): Promise<Nginx> {
  const dir = await tempDir('cert-renew-nginx-');
  try {
    const prefix = dir.path;
    const webroot = options.webroot ?? join(prefix, 'webroot');
    await mkdir(webroot, { recursive: true });
    await mkdir(join(prefix, 'temp'));
    const tlsPort = options.tlsPort ?? (await freePort());
    const httpPort = options.httpPort ?? (await freePort());
    const confPath = join(prefix, 'nginx.conf');
    const pidFile = join(prefix, 'nginx.pid');
    const errorLog = join(prefix, 'error.log');
    const without = await modulesBuiltWithout();
    const tempPaths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .filter((module) => !without.has(module))
      .map((module) => `  ${module}_temp_path ${join(prefix, 'temp', module)};`);
    const runningAsRoot = process.getuid?.() === 0;
    await writeFile(
      confPath,
      [
        // As root, workers would otherwise run as nobody and could not read files under /tmp/….
        ...(runningAsRoot ? ['user root;'] : []),
        'worker_processes 1;',
        `pid ${pidFile};`,
        `error_log ${errorLog} info;`,
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        '  default_type application/octet-stream;',
        ...tempPaths,
        '  server {',
        `    listen 127.0.0.1:${tlsPort} ssl;`,
        '    server_name _;',
        `    ssl_certificate ${options.certPath};`,
        `    ssl_certificate_key ${options.keyPath};`,
        ...(options.tlsDirectives ?? []).map((line) => `    ${line}`),
        '    location / { return 200 "ok\\n"; }',
        '  }',
        '  server {',
        `    listen 127.0.0.1:${httpPort};`,
        '    server_name _;',
        ...(options.documentRoot
          ? [`    root ${options.documentRoot};`, '    location / { default_type text/plain; }']
          : [
              `    location /.well-known/acme-challenge/ { alias ${webroot}/; default_type text/plain; }`,
              '    location / { return 404; }',
            ]),
        '  }',
        options.extraServer ?? '',
        '}',
        '',
      ].join('\n'),
    );
    // -e keeps nginx away from the compiled-in error log before it has read the config.
    const base = ['-p', prefix, '-c', confPath, '-e', errorLog];
    const binary = nginxBinary();
    const child: ServerProcess = await startServer(binary, [...base, '-g', 'daemon off;'], {
      name: 'nginx',
      cwd: prefix,
      // Its own sockets (the master's), not just connections: another test's server on a clashed port would
      // accept one.
      ready: async (pid) => (await listensOn(pid, tlsPort)) && (await listensOn(pid, httpPort)),
    });
    const reloadCommand = [binary, ...base, '-s', 'reload'];
    const served = (servername?: string) =>
      peerCertificate(tlsPort, servername === undefined ? {} : { servername });
    return {
      tlsPort,
      httpPort,
      webroot,
      prefix,
      confPath,
      pidFile,
      errorLog,
      reloadCommand,
      reload: async () => {
        await runCommand(reloadCommand[0]!, reloadCommand.slice(1));
      },
      configTest: async () => {
        const { stdout, stderr } = await runCommand(binary, [...base, '-t']);
        return stdout + stderr;
      },
      peerCertificate: served,
      waitForSerial: async (serial, timeoutMs = 60_000) => {
        const wanted = normalizeSerial(serial);
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const current = await served();
          if (current.serial === wanted) return current;
          if (Date.now() > deadline) {
            throw new Error(`nginx still serves serial ${current.serial}, not ${wanted}`);
          }
          await sleep(50);
        }
      },
      output: () => child.output(),
      stop: async () => {
        // SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open connections).
        await child.stop();
        await dir.remove();
      },
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}
