import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../errors.js';
import { rememberSecret, rememberSecretEnvironment } from '../util/text.js';
import type { Manifest, SecretRef } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/**
 * Reads a secret at run time. The value is never logged; errors name only where it was looked for. It is
 * remembered as a secret of the run (src/util/text.ts rememberSecret), so wherever a command or server
 * echoes it, it shows as `***`. A file's trailing newline is dropped (files written with `echo` end in one).
 */
export async function readSecret(ref: SecretRef, env: Env, baseDir: string): Promise<string> {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      const state = value === undefined ? 'is not set' : 'is empty';
      throw new CertRenewError(ErrorCode.secretUnavailable, `secret ${describeSecretRef(ref)} ${state}`, {
        hint: `export ${ref.env} with the secret's value before running cert-renew`,
      });
    }
    rememberSecret(value);
    return value;
  }
  const path = resolve(baseDir, ref.file);
  try {
    const value = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    rememberSecret(value);
    return value;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CertRenewError(ErrorCode.secretUnavailable, `secret file ${path} cannot be read (${code})`, {
      hint: 'check the path and that cert-renew may read it',
      cause: error,
    });
  }
}

/**
 * Remembers as secrets of the run (src/util/text.ts) what is known before anything runs: the values of
 * the environment variables whose names say they hold one (the environment hooks and dns-01 commands are
 * given), and of every `{"env": NAME}` secret reference of the manifest's issuers and stores. File
 * references are remembered when they are read (readSecret).
 */
export function rememberManifestSecrets(manifest: Pick<Manifest, 'issuers' | 'stores'>, env: Env): void {
  rememberSecretEnvironment(env);
  const walk = (node: unknown, depth: number): void => {
    if (depth > 8 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1);
      return;
    }
    const keys = Object.keys(node);
    const ref = (node as { env?: unknown }).env;
    if (keys.length === 1 && typeof ref === 'string') {
      const value = Object.hasOwn(env, ref) ? env[ref] : undefined;
      if (value) rememberSecret(value);
      return;
    }
    for (const value of Object.values(node)) walk(value, depth + 1);
  };
  walk(manifest.issuers, 0);
  walk(manifest.stores, 0);
}
