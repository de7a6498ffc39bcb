/**
 * Small helpers for the end-to-end tests with real servers: reading what a filesystem store holds (with
 * node:crypto only, not the code under test), snapshots to prove a failed run changed nothing, and hook
 * wrapper scripts that log their invocations.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunReport } from '../../src/report/model.js';
import { FilesystemStore } from '../../src/stores/filesystem/index.js';
import type { AriServer } from '../harness/ari.js';
import { normalizeSerial } from '../harness/tls.js';
import { makeCertificates, testContext } from '../integration/redis-fixtures.js';

export interface StoredFiles {
  cert: X509Certificate;
  /** Upper-case hex without leading zeros, as the TLS harness prints it. */
  serial: string;
  keyPem: string;
  chainPem: string;
  fullchainPem: string;
  /** The private key file pairs with the certificate file. */
  keyMatches: boolean;
}

/** What `<store>/<name>/` holds now, read through its stable paths. */
export async function readStored(store: string, name: string): Promise<StoredFiles> {
  const dir = join(store, name);
  const [certPem, keyPem, chainPem, fullchainPem] = await Promise.all(
    ['cert.pem', 'privkey.pem', 'chain.pem', 'fullchain.pem'].map((file) =>
      readFile(join(dir, file), 'utf8'),
    ),
  );
  const cert = new X509Certificate(certPem ?? '');
  return {
    cert,
    serial: normalizeSerial(cert.serialNumber),
    keyPem: keyPem ?? '',
    chainPem: chainPem ?? '',
    fullchainPem: fullchainPem ?? '',
    keyMatches: cert.checkPrivateKey(createPrivateKey(keyPem ?? '')),
  };
}

/**
 * Every file (its content) and symlink (its target) under `<store>/<name>/`, except `attempts.json` (the
 * record of failed attempts, which a failed run is meant to write) and lock files.
 */
export async function snapshotStore(store: string, name: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir);
    for (const entry of entries.sort()) {
      if (entry === 'attempts.json' || entry.endsWith('.lock')) continue;
      const path = join(dir, entry);
      const relPath = rel === '' ? entry : `${rel}/${entry}`;
      const info = await lstat(path);
      if (info.isSymbolicLink()) out[relPath] = `-> ${await readlink(path)}`;
      else if (info.isDirectory()) await walk(path, relPath);
      else out[relPath] = await readFile(path, 'utf8');
    }
  };
  await walk(join(store, name), '');
  return out;
}

/** A command's `--json` stdout (a run report unless told otherwise); a clear error when it is not JSON. */
export function parseReport<T = RunReport>(stdout: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`stdout is not a JSON report:\n${stdout}`);
  }
}

/** Lines of a log file (none when it does not exist yet). */
export async function logLines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * A hook wrapper: appends `$CERT_RENEW_EVENT $CERT_RENEW_SERIAL $CERT_RENEW_NAMES` to `log`, then runs its
 * arguments (the real reload). While `failFlag` exists, a `post-renew` invocation still reloads but then
 * exits 1, as a post-reload health check that fails would.
 */
export async function reloadWrapper(dir: string, log: string, failFlag: string): Promise<string> {
  const script = join(dir, 'reload-wrapper.sh');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      `echo "$CERT_RENEW_EVENT $CERT_RENEW_SERIAL $CERT_RENEW_NAMES" >> '${log}'`,
      `if [ -f '${failFlag}' ] && [ "$CERT_RENEW_EVENT" = post-renew ]; then`,
      '  "$@" || exit 2',
      '  echo "reloaded, but the health check failed" >&2',
      '  exit 1',
      'fi',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  await chmod(script, 0o755);
  return script;
}

/**
 * A filesystem store at `path` holding one test certificate (makeCertificates) per name, each recorded as
 * issued by `issuer` (a manifest's issuer name).
 */
export async function filesystemStoreWith(
  path: string,
  names: readonly string[],
  issuer: string,
): Promise<void> {
  const store = new FilesystemStore('files', { type: 'filesystem', path }, testContext());
  try {
    const certs = await makeCertificates(names.length);
    for (const [i, name] of names.entries()) {
      const cert = certs[i];
      assert.ok(cert);
      await store.save(name, cert.bundle, { ...cert.meta(name), issuer });
    }
  } finally {
    await store.close();
  }
}

/**
 * A manifest whose one issuer, `ca`, is the local renewal-information server `ari` (tests/harness/ari.ts),
 * and whose certificates (`names`, each with its own host name) are in the filesystem store `store` at
 * `path` (relative to the manifest).
 */
export function ariManifest(
  ari: Pick<AriServer, 'directoryUrl' | 'caBundlePath'>,
  store: string,
  path: string,
  names: readonly string[],
) {
  return {
    version: 1,
    defaults: { issuer: 'ca', store },
    issuers: {
      ca: {
        type: 'acme',
        directory: ari.directoryUrl,
        email: 'ops@example.test',
        caBundle: ari.caBundlePath,
        challenge: { type: 'http-01', webroot: 'webroot' },
      },
    },
    stores: { [store]: { type: 'filesystem', path } },
    certificates: names.map((name, i) => ({ name, domains: [`host${i}.example.test`] })),
  };
}
