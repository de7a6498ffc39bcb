/** Shared pieces of the CLI tests against real Redis: manifests, reading `cert:{name}`, stderr lines. */
import assert from 'node:assert/strict';
import type { Manifest, RedisStoreConfig } from '../../src/manifest/types.js';
import type { RunReport } from '../../src/report/model.js';
import type { CliResult } from './cli.js';

/** A manifest with local-ca certificates `names` in one Redis store called `shared`. */
export function redisManifest(
  store: Omit<RedisStoreConfig, 'type'>,
  names: string[],
  overrides: Partial<Manifest> = {},
): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'shared' },
    issuers: { local: { type: 'local-ca', lifetime: '30d' } },
    stores: { shared: { type: 'redis', ...store } },
    certificates: names.map((name) => ({ name, domains: [`${name}.example.test`] })),
    ...overrides,
  };
}

export function names(count: number, prefix = 'site'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
}

/** The JSON report of `run --json`, with the CLI's stderr in the failure message when it is not JSON. */
export function runReport(result: CliResult): RunReport {
  try {
    return JSON.parse(result.stdout) as RunReport;
  } catch {
    assert.fail(`run --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** The `cert:{name}` value as proxies read it. */
export interface CertValue {
  name: string;
  domains: string[];
  serial: string;
  fingerprint: string;
  expires_at: string;
  fullchain_pem: string;
  cert_pem: string;
  private_key_pem?: string;
  private_key_enc?: { alg: string; kid: string; iv: string; tag: string; ct: string };
}

/** `GET cert:{name}` through redis-cli, parsed; undefined when there is none. */
export async function readCertValue(
  cli: (...args: string[]) => Promise<string>,
  name: string,
): Promise<CertValue | undefined> {
  const text = await cli('GET', `cert:{${name}}`);
  if (text === '') return undefined;
  return JSON.parse(text) as CertValue;
}

/** Lines of the CLI's log at level `error` about certificate `name` (`cert-renew error: NAME: …`). */
export function errorLines(stderr: string, name: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith(`cert-renew error: ${name}: `));
}

/** Every `-----BEGIN … PRIVATE KEY-----` block in `text`. */
export function privateKeyPems(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----\n?/g) ?? [];
}
