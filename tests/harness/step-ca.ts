/**
 * A real step-ca for the tests: the server binary built from Debian's Go sources by
 * scripts/build-step-ca.sh (cached outside the repository), and a CA initialised per test in a temporary
 * directory without the `step` CLI — root and intermediate made with openssl, the JWK provisioner with
 * jose — then started on 127.0.0.1 on a free port and awaited on GET /health.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactEncrypt, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import {
  freePort,
  retryOnPortClash,
  runCommand,
  type ServerProcess,
  startServer,
  type TempDir,
  tempDir,
} from './process.js';

export interface StepCaOptions {
  /** The JWK provisioner's default certificate lifetime. Default "24h" (step-ca's own default). */
  defaultDuration?: string;
  /** Shortest lifetime a client may ask for. Default "5m". */
  minDuration?: string;
  /** Longest lifetime a client may ask for. Default "720h" (30 days). */
  maxDuration?: string;
  /** Lets /1.0/renew accept an expired certificate (with a renewal token; mutual TLS still refuses it). */
  allowRenewalAfterExpiry?: boolean;
  /** Adds an ACME provisioner named "acme". */
  acme?: boolean;
  /** Port on 127.0.0.1 of a DNS server step-ca resolves names with (pebble-challtestsrv), for ACME. */
  resolverPort?: number;
}

export interface StepCa {
  /** `https://127.0.0.1:PORT` (127.0.0.1 is an IP SAN of the server's certificate). */
  url: string;
  port: number;
  rootPem: string;
  rootPath: string;
  /** SHA-256 of the root certificate (DER), lower-case hex without colons. */
  rootFingerprint: string;
  intermediatePem: string;
  intermediatePath: string;
  /** The intermediate's private key, encrypted PKCS#8 PEM (the password decrypts it). */
  intermediateKeyPath: string;
  /** Name of the JWK provisioner. */
  provisioner: string;
  /** A file holding `password` (the CA keys' and the provisioner key's password). */
  passwordFile: string;
  password: string;
  /** `<url>/acme/acme/directory` (answers only when started with `acme: true`). */
  acmeDirectoryUrl: string;
  /** The CA's directory (STEPPATH): config/ca.json, certs/, secrets/, db/. */
  dir: string;
  configPath: string;
  /** Everything step-ca printed, for failure messages. */
  output(): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** Stops the server if it runs and starts it again on the same port with the same CA and database. */
  restart(): Promise<void>;
}

export const STEP_CA_PROVISIONER = 'cert-renew-tests';

/**
 * Where scripts/build-step-ca.sh puts the binary:
 * `${CERT_RENEW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cert-renew}/step-ca/bin/step-ca`.
 */
export function stepCaBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  const cache =
    nonEmpty(env.CERT_RENEW_CACHE) ??
    join(nonEmpty(env.XDG_CACHE_HOME) ?? join(nonEmpty(env.HOME) ?? homedir(), '.cache'), 'cert-renew');
  return join(cache, 'step-ca', 'bin', 'step-ca');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** scripts/build-step-ca.sh, found by walking up from this file (it runs from tests/ or dist/tests/). */
function buildScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'scripts', 'build-step-ca.sh');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('scripts/build-step-ca.sh not found above the test harness');
    dir = parent;
  }
}

let built: Promise<string> | undefined;

/**
 * Runs scripts/build-step-ca.sh once per test process (a no-op when the cached binary is up to date; about
 * 30 s on a cold cache) and returns the binary's path. A failed build is a setup failure, not a skip.
 */
export function ensureStepCaBinary(): Promise<string> {
  built ??= (async () => {
    await runCommand('sh', [buildScript()], { timeoutMs: 600_000 });
    const path = stepCaBinaryPath();
    if (!existsSync(path)) throw new Error(`scripts/build-step-ca.sh did not produce ${path}`);
    return path;
  })();
  return built;
}

const HOST = '127.0.0.1';

/** Initialises a CA in a temporary directory and starts step-ca on it. Always `stop()` it (in `after`). */
export async function startStepCa(options: StepCaOptions = {}): Promise<StepCa> {
  return retryOnPortClash(() => startStepCaOnce(options));
}

async function startStepCaOnce(options: StepCaOptions = {}): Promise<StepCa> {
  const binary = await ensureStepCaBinary();
  const temp = await tempDir('cert-renew-step-ca-');
  try {
    return await initAndStart(binary, temp, options);
  } catch (error) {
    await temp.remove();
    throw error;
  }
}

async function initAndStart(binary: string, temp: TempDir, options: StepCaOptions): Promise<StepCa> {
  const dir = temp.path;
  for (const sub of ['certs', 'secrets', 'config', 'db']) await mkdir(join(dir, sub), { recursive: true });
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(dir, 'secrets', 'password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });

  const pki = await createPki(dir, passwordFile);
  const jwk = await createJwkProvisionerKey(password);
  const port = await freePort();
  const url = `https://${HOST}:${port}`;

  const provisioners: unknown[] = [
    {
      type: 'JWK',
      name: STEP_CA_PROVISIONER,
      key: jwk.publicJwk,
      encryptedKey: jwk.encryptedKey,
      claims: {
        minTLSCertDuration: options.minDuration ?? '5m',
        maxTLSCertDuration: options.maxDuration ?? '720h',
        defaultTLSCertDuration: options.defaultDuration ?? '24h',
        disableRenewal: false,
        allowRenewalAfterExpiry: options.allowRenewalAfterExpiry ?? false,
      },
    },
  ];
  if (options.acme) provisioners.push({ type: 'ACME', name: 'acme' });

  const configPath = join(dir, 'config', 'ca.json');
  const config = {
    root: pki.rootPath,
    crt: pki.intermediatePath,
    key: pki.intermediateKeyPath,
    address: `${HOST}:${port}`,
    dnsNames: ['localhost', HOST],
    logger: { format: 'text' },
    db: { type: 'bbolt', dataSource: join(dir, 'db', 'bbolt.db') },
    authority: { provisioners },
  };
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);

  const args = [configPath, '--password-file', passwordFile];
  if (options.resolverPort !== undefined) args.push('--resolver', `${HOST}:${options.resolverPort}`);
  const env = { ...process.env, STEPPATH: dir, HOME: dir };
  const launch = () =>
    startServer(binary, args, {
      env,
      cwd: dir,
      name: 'step-ca',
      ready: () => healthy(url, pki.rootPem),
      timeoutMs: 60_000,
    });

  let server: ServerProcess | undefined = await launch();
  let stopped = false;
  return {
    url,
    port,
    rootPem: pki.rootPem,
    rootPath: pki.rootPath,
    rootFingerprint: pki.rootFingerprint,
    intermediatePem: pki.intermediatePem,
    intermediatePath: pki.intermediatePath,
    intermediateKeyPath: pki.intermediateKeyPath,
    provisioner: STEP_CA_PROVISIONER,
    passwordFile,
    password,
    acmeDirectoryUrl: `${url}/acme/acme/directory`,
    dir,
    configPath,
    output: () => server?.output() ?? '',
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server?.stop();
      server = undefined;
      await temp.remove();
    },
    restart: async () => {
      if (stopped) throw new Error('step-ca was stopped for good; start a new one');
      await server?.stop();
      server = undefined;
      server = await launch();
    },
  };
}

/** GET /health over TLS trusting only the CA's root: true when it answers {"status":"ok"}. */
async function healthy(url: string, rootPem: string): Promise<boolean> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(`${url}/health`, { ca: rootPem, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? text : ''));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
  return body.includes('"ok"');
}

interface Pki {
  rootPath: string;
  rootPem: string;
  rootFingerprint: string;
  intermediatePath: string;
  intermediatePem: string;
  intermediateKeyPath: string;
}

/** Root (pathlen 1) and intermediate (pathlen 0), EC P-256 keys encrypted with the password file. */
async function createPki(dir: string, passwordFile: string): Promise<Pki> {
  const certs = join(dir, 'certs');
  const secrets = join(dir, 'secrets');
  const rootKeyPath = join(secrets, 'root_ca_key');
  const rootPath = join(certs, 'root_ca.crt');
  const intermediateKeyPath = join(secrets, 'intermediate_ca_key');
  const intermediateCsrPath = join(secrets, 'intermediate_ca.csr');
  const intermediatePath = join(certs, 'intermediate_ca.crt');
  const extPath = join(secrets, 'openssl.cnf');
  const pass = `file:${passwordFile}`;
  await writeFile(
    extPath,
    [
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[root]',
      'basicConstraints = critical,CA:TRUE,pathlen:1',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '[intermediate]',
      'basicConstraints = critical,CA:TRUE,pathlen:0',
      'keyUsage = critical,digitalSignature,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
  );
  const genKey = (out: string) =>
    runCommand('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-aes-256-cbc',
      '-pass',
      pass,
      '-out',
      out,
    ]);
  await genKey(rootKeyPath);
  await genKey(intermediateKeyPath);
  const serial = () => `0x${randomBytes(16).toString('hex').replace(/^./, '4')}`;
  await runCommand('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    rootKeyPath,
    '-passin',
    pass,
    '-config',
    extPath,
    '-extensions',
    'root',
    '-subj',
    '/O=cert-renew tests/CN=cert-renew test step-ca Root CA',
    '-days',
    '3650',
    '-sha256',
    '-set_serial',
    serial(),
    '-out',
    rootPath,
  ]);
  await runCommand('openssl', [
    'req',
    '-new',
    '-key',
    intermediateKeyPath,
    '-passin',
    pass,
    '-subj',
    '/O=cert-renew tests/CN=cert-renew test step-ca Intermediate CA',
    '-out',
    intermediateCsrPath,
  ]);
  await runCommand('openssl', [
    'x509',
    '-req',
    '-in',
    intermediateCsrPath,
    '-CA',
    rootPath,
    '-CAkey',
    rootKeyPath,
    '-passin',
    pass,
    '-extfile',
    extPath,
    '-extensions',
    'intermediate',
    '-days',
    '3650',
    '-sha256',
    '-set_serial',
    serial(),
    '-out',
    intermediatePath,
  ]);
  const rootPem = await readFile(rootPath, 'utf8');
  const rootFingerprint = createHash('sha256').update(new X509Certificate(rootPem).raw).digest('hex');
  return {
    rootPath,
    rootPem,
    rootFingerprint,
    intermediatePath,
    intermediatePem: await readFile(intermediatePath, 'utf8'),
    intermediateKeyPath,
  };
}

/**
 * An ES256 provisioner key the way `step ca provisioner add` makes one: `kid` is the RFC 7638 thumbprint,
 * the private JWK is a compact JWE (PBES2-HS256+A128KW, A256GCM, 100000 iterations) under the password.
 */
async function createJwkProvisionerKey(
  password: string,
): Promise<{ publicJwk: object; encryptedKey: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  const publicJwk = { use: 'sig', kty: pub.kty, kid, crv: pub.crv, alg: 'ES256', x: pub.x, y: pub.y };
  const priv = await exportJWK(privateKey);
  const privateJwk = { ...publicJwk, d: priv.d };
  const encryptedKey = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
    .setProtectedHeader({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', cty: 'jwk+json' })
    .setKeyManagementParameters({ p2c: 100_000 })
    .encrypt(new TextEncoder().encode(password));
  return { publicJwk, encryptedKey };
}
