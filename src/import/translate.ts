/**
 * Translations every source shares: an ACME directory URL to our alias, a shell command line to a hook,
 * a file or domain name to a manifest name, a certificate's names to `domains`, and reading the PEM files
 * of one certificate.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseShell } from 'shell-quote';
import { ACME_DIRECTORY_URLS } from '../issuers/acme/directory.js';
import type { HookSpec } from '../manifest/types.js';
import type { CertificateBundle } from '../stores/types.js';
import { inspectCertificate, joinPem, splitPemChain } from '../x509/index.js';
import type { ImportedHook, LegacyEnv } from './types.js';

/** The alias for one of the public CAs' directory URLs (`letsencrypt`, …), or the URL as it is. */
export function directoryAlias(url: string): string {
  const trimmed = url.trim();
  for (const [alias, known] of Object.entries(ACME_DIRECTORY_URLS)) {
    if (known === trimmed || known === trimmed.replace(/\/+$/, '')) return alias;
  }
  return trimmed;
}

/** The directory URL of an alias (or the URL as it is). */
export function directoryUrl(directory: string): string {
  return Object.hasOwn(ACME_DIRECTORY_URLS, directory)
    ? ACME_DIRECTORY_URLS[directory as keyof typeof ACME_DIRECTORY_URLS]
    : directory;
}

/** Characters that make a command need a shell: expansion, globbing, redirection, several commands. */
const SHELL_SYNTAX = /[`$~*?[\]{}()<>|&;!#\\\n]/;

/**
 * A hook from a command line that certbot, lego or acme.sh run through `sh -c`: an argv (run without a
 * shell) when the line is plain words and quotes, otherwise `{run: LINE, shell: true}` exactly as written.
 * `env` values (e.g. certbot's RENEWED_LINEAGE, pointing at the new store) are added when given.
 */
export function hookFromCommandLine(line: string, env?: Record<string, string>): HookSpec {
  const text = line.trim();
  const extra = env && Object.keys(env).length > 0 ? { env } : {};
  if (!SHELL_SYNTAX.test(text)) {
    const words = parseShell(text);
    if (words.length > 0 && words.every((w): w is string => typeof w === 'string')) {
      return { run: words, ...extra };
    }
  }
  return { run: text, shell: true, ...extra };
}

/**
 * A translated hook, marked as reading the source's own variables (`pattern`) when its command line
 * names them or the script it runs does (so the adoption step can point them at the new store).
 */
export async function importedHook(spec: HookSpec, pattern: RegExp, kind: LegacyEnv): Promise<ImportedHook> {
  const line = Array.isArray(spec.run) ? spec.run.join(' ') : spec.run;
  const program = Array.isArray(spec.run) ? spec.run[0] : undefined;
  const script = program ? await readFile(program, 'utf8').catch(() => '') : '';
  return pattern.test(line) || pattern.test(script) ? { spec, legacyEnv: kind } : { spec };
}

/**
 * A name safe as a file and key name (the manifest's `name` pattern). A wildcard's `*.` (lego writes `_.`)
 * becomes `wildcard.`: `*.example.com` → `wildcard.example.com`.
 */
export function manifestName(text: string): string {
  let name = text.replace(/^[*_]\./, 'wildcard.').replace(/[^A-Za-z0-9._-]/g, '_');
  if (!/^[A-Za-z0-9]/.test(name)) name = `x${name}`;
  return name.slice(0, 128);
}

/** The certificate's DNS names with its subject's common name first (the manifest's first domain). */
export function domainsOf(certPem: string): string[] {
  const info = inspectCertificate(certPem);
  const names = [...info.dnsNames];
  const cn = info.commonName?.toLowerCase();
  if (cn && names.includes(cn)) return [cn, ...names.filter((n) => n !== cn)];
  return names;
}

/**
 * Reads one certificate's files: the leaf (a file that may hold the whole chain, as lego's `.crt` and a
 * fullchain do), the key, and optionally a separate chain file. Throws the file system's error.
 */
export async function readBundle(
  certPath: string,
  keyPath: string,
  chainPath?: string,
): Promise<CertificateBundle> {
  const [certText, keyPem, chainText] = await Promise.all([
    readNamed(certPath),
    readNamed(keyPath),
    chainPath === undefined ? Promise.resolve('') : readNamed(chainPath),
  ]);
  const blocks = splitPemChain(certText);
  const leaf = blocks[0];
  if (leaf === undefined) throw new Error(`${certPath} holds no PEM certificate`);
  const rest = blocks.slice(1);
  const chain = splitPemChain(chainText);
  // A chain file wins over the extra certificates of a bundle; they are the same certificates normally.
  const chainBlocks = chain.length > 0 ? chain : rest;
  return { certPem: joinPem([leaf]), chainPem: chainBlocks.length > 0 ? joinPem(chainBlocks) : '', keyPem };
}

/**
 * A source file's text; a failure names the file (node's errors for a read, EISDIR say, carry no path):
 * rejects with the error, its `path` set.
 */
async function readNamed(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof Error && (error as NodeJS.ErrnoException).path === undefined)
      (error as NodeJS.ErrnoException).path = path;
    throw error;
  }
}

/** First line of an error, for a one-line message; an error of the filesystem names its file. */
export function reason(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `missing file ${(error as NodeJS.ErrnoException).path ?? ''}`.trim();
    if (code === 'EACCES') return `permission denied: ${(error as NodeJS.ErrnoException).path ?? ''}`.trim();
    const path = (error as NodeJS.ErrnoException).path;
    const line = error.message.split('\n')[0] ?? error.name;
    return code !== undefined && path !== undefined && !line.includes(path) ? `${path}: ${line}` : line;
  }
  return String(error);
}
