/**
 * Shared pieces of the CLI tests against a real Pebble: manifests with an ACME issuer, checking what a
 * filesystem store holds against Pebble's root with node:crypto only (not the code under test), a hook
 * that logs its invocations, and a CLI child process whose stderr can be watched while it runs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AcmeIssuerConfig,
  CertificateConfig,
  Challenge,
  Hooks,
  Manifest,
} from '../../src/manifest/types.js';
import type { Pebble } from '../harness/pebble.js';
import { BIN, type CliResult, cliEnv, REPO } from './cli.js';

/** An ACME issuer for `pebble`, trusting its HTTPS CA through `caBundle`. */
export function pebbleIssuer(
  pebble: Pebble,
  challenge: Challenge,
  extra: Partial<AcmeIssuerConfig> = {},
): AcmeIssuerConfig {
  return {
    type: 'acme',
    directory: pebble.directoryUrl,
    email: 'ops@example.test',
    caBundle: pebble.caBundlePath,
    challenge,
    ...extra,
  };
}

/** The standalone http-01 challenge on the port where Pebble validates. */
export function standalone(pebble: Pebble): Challenge {
  return { type: 'http-01', standalone: `127.0.0.1:${pebble.httpPort}` };
}

/** A manifest with one ACME issuer `pebble` and one filesystem store `files`. */
export function acmeManifest(
  issuer: AcmeIssuerConfig,
  storePath: string,
  certificates: CertificateConfig[],
  hooks?: Hooks,
): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'pebble', store: 'files', ...(hooks ? { hooks } : {}) },
    issuers: { pebble: issuer },
    stores: { files: { type: 'filesystem', path: storePath } },
    certificates,
  };
}

/** Every certificate in a PEM text, in order. */
export function splitPem(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/**
 * Throws unless `leaf` chains through `chain` up to `rootPem`: each certificate names the next as its
 * issuer and carries its signature; the last one is signed by the root (or is the root).
 */
export function assertChainsToRoot(leaf: X509Certificate, chain: X509Certificate[], rootPem: string): void {
  const root = new X509Certificate(rootPem);
  let current = leaf;
  for (const next of chain) {
    if (next.fingerprint256 === root.fingerprint256) break;
    assert.ok(current.checkIssued(next), `${current.subject} is not issued by ${next.subject}`);
    assert.ok(current.verify(next.publicKey), `signature of ${current.subject} does not verify`);
    current = next;
  }
  assert.ok(current.checkIssued(root), `${current.subject} is not issued by Pebble's root ${root.subject}`);
  assert.ok(current.verify(root.publicKey), `signature of ${current.subject} does not verify with the root`);
}

export interface StoredAcme {
  cert: X509Certificate;
  chain: X509Certificate[];
  /** SAN DNS names, sorted. */
  dnsNames: string[];
  keyType: string;
  keyBits?: number;
  keyMatches: boolean;
}

/** Reads `<store>/<name>/{cert,chain,privkey}.pem` and checks it against Pebble's root. */
export async function readAndVerify(storePath: string, name: string, rootPem: string): Promise<StoredAcme> {
  const dir = join(storePath, name);
  const [certPem, chainPem, keyPem, fullchainPem] = await Promise.all(
    ['cert.pem', 'chain.pem', 'privkey.pem', 'fullchain.pem'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  const cert = new X509Certificate(certPem as string);
  const chain = splitPem(chainPem as string);
  assert.ok(chain.length >= 1, `${name}: chain.pem holds the intermediate`);
  assert.equal(
    splitPem(fullchainPem as string)[0]?.fingerprint256,
    cert.fingerprint256,
    `${name}: fullchain`,
  );
  assertChainsToRoot(cert, chain, rootPem);
  const key = createPrivateKey(keyPem as string);
  const details = key.asymmetricKeyDetails ?? {};
  return {
    cert,
    chain,
    dnsNames: sanNames(cert),
    keyType: key.asymmetricKeyType ?? '',
    ...(details.modulusLength ? { keyBits: details.modulusLength } : {}),
    keyMatches: cert.checkPrivateKey(key),
  };
}

export function sanNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
    .sort();
}

/** A postRenew hook script that appends `$CERT_RENEW_EVENT $CERT_RENEW_NAMES` to `log`. */
export async function loggingHook(dir: string, log: string): Promise<string> {
  const path = join(dir, 'log-hook.sh');
  await writeFile(path, `#!/bin/sh\necho "$CERT_RENEW_EVENT $CERT_RENEW_NAMES" >> '${log}'\n`);
  await chmod(path, 0o755);
  return path;
}

/** The built CLI as a child process whose stderr lines can be watched while it runs. */
export interface RunningCli {
  child: ChildProcess;
  /** Resolves with the first stderr line matching `pattern`. */
  waitForStderr(pattern: RegExp): Promise<string>;
  done: Promise<CliResult>;
}

export function startCli(
  args: string[],
  env: Record<string, string> = {},
  killAfterMs = 300_000,
): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const line = stderr.split('\n').find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    done,
    waitForStderr: (pattern) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        void done.then(() => reject(new Error(`the CLI exited before printing ${pattern}:\n${stderr}`)));
      }),
  };
}
