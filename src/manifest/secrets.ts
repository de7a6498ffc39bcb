import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../errors.js';
import type { SecretRef } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/**
 * Reads a secret at run time. The value is never logged; errors name only where it was looked for.
 * A file's trailing newline is dropped (files written with `echo` end in one).
 */
export async function readSecret(ref: SecretRef, env: Env, baseDir: string): Promise<string> {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      throw new CertRenewError(ErrorCode.secretUnavailable, `secret ${describeSecretRef(ref)} is not set`, {
        hint: `export ${ref.env} before running cert-renew`,
      });
    }
    return value;
  }
  const path = resolve(baseDir, ref.file);
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CertRenewError(ErrorCode.secretUnavailable, `secret file ${path} cannot be read (${code})`, {
      hint: 'check the path and that cert-renew may read it',
      cause: error,
    });
  }
}
