/**
 * Lists a hook receives through files, so nothing it gets depends on how many certificates a run touches:
 * Linux refuses one environment variable longer than 128 KiB (E2BIG), which a shared hook for a few
 * thousand certificates, or an onFailure hook during a CA outage, would pass.
 *
 *   CERT_RENEW_NAMES_FILE      one certificate name per line
 *   CERT_RENEW_CERTIFICATES_FILE  one JSON object per line: name, domains, store, paths, serial, … (JSON Lines)
 *   CERT_RENEW_FAILURES_FILE   onFailure: one `name: CODE: message` line per failure
 *
 * The short list variables (`CERT_RENEW_NAMES`, `CERT_RENEW_FAILED_NAMES`, `CERT_RENEW_FAILURES`) are kept
 * while they fit in LIST_VARIABLE_LIMIT bytes and are left out beyond it (docs/hooks.md).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailureInfo, HookCertificateInfo } from './env.js';

/** The longest value of a list variable that is still set (bytes); longer lists are only in the files. */
export const LIST_VARIABLE_LIMIT = 32 * 1024;

/** Removes the list variables whose value is longer than LIST_VARIABLE_LIMIT. */
export function dropLongLists(env: Record<string, string>): Record<string, string> {
  for (const key of ['CERT_RENEW_NAMES', 'CERT_RENEW_FAILED_NAMES', 'CERT_RENEW_FAILURES']) {
    const value = env[key];
    if (value !== undefined && Buffer.byteLength(value) > LIST_VARIABLE_LIMIT) delete env[key];
  }
  return env;
}

function certificateLine(cert: HookCertificateInfo): string {
  return JSON.stringify({
    name: cert.name,
    domains: cert.domains,
    store: cert.storeName,
    storeType: cert.storeType,
    issuer: cert.issuerName,
    ...(cert.paths ? { paths: cert.paths } : {}),
    ...(cert.notAfter ? { notAfter: cert.notAfter.toISOString() } : {}),
    ...(cert.serial !== undefined ? { serial: cert.serial } : {}),
    ...(cert.fingerprint !== undefined ? { fingerprint: cert.fingerprint } : {}),
    ...(cert.reason !== undefined ? { reason: cert.reason } : {}),
  });
}

const flat = (text: string) => text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();

/** The list files of one hook run, in a private temporary directory; `remove()` deletes them. */
export interface HookListFiles {
  env: Record<string, string>;
  remove(): Promise<void>;
}

/**
 * Writes the list files into a new private directory under `tmpDir` (mode 0700, files 0600) and returns the
 * variables naming them. Rejects when the directory cannot be written (the caller reports the hook as not run).
 */
export async function writeHookLists(
  tmpDir: string,
  certs: readonly HookCertificateInfo[],
  failures: readonly FailureInfo[] | undefined,
): Promise<HookListFiles> {
  const dir = await mkdtemp(join(tmpDir, 'cert-renew-hook-'));
  const remove = () => rm(dir, { recursive: true, force: true }).catch(() => {});
  try {
    const env: Record<string, string> = {
      CERT_RENEW_NAMES_FILE: join(dir, 'names'),
      CERT_RENEW_CERTIFICATES_FILE: join(dir, 'certificates.jsonl'),
    };
    const lines = (items: readonly string[]) => (items.length > 0 ? `${items.join('\n')}\n` : '');
    await writeFile(env.CERT_RENEW_NAMES_FILE as string, lines(certs.map((c) => c.name)), { mode: 0o600 });
    await writeFile(env.CERT_RENEW_CERTIFICATES_FILE as string, lines(certs.map(certificateLine)), {
      mode: 0o600,
    });
    if (failures) {
      env.CERT_RENEW_FAILURES_FILE = join(dir, 'failures');
      await writeFile(
        env.CERT_RENEW_FAILURES_FILE,
        lines(failures.map((f) => `${f.name}: ${f.code}: ${flat(f.message)}`)),
        { mode: 0o600 },
      );
    }
    return { env, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
