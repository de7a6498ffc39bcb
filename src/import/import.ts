/**
 * `cert-renew import`: read a certbot, lego or acme.sh installation (or one PEM pair), plan the manifest
 * entries, adopt the current certificates into the target store without contacting the CA, and with
 * `write` merge the entries into the manifest file (atomically; nothing is written when nothing changes).
 * `dryRun` reads everything and writes nothing.
 */

import { randomBytes } from 'node:crypto';
import { rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  CertRenewError,
  describeError,
  ErrorCode,
  ExitCode,
  toCertRenewError,
  UsageError,
} from '../errors.js';
import { loadChecks, readManifestText } from '../manifest/load.js';
import { resolveCertificates } from '../manifest/resolve.js';
import type { CertificateConfig, IssuerConfig, Manifest, ResolvedCertificate } from '../manifest/types.js';
import type { Session } from '../runtime/session.js';
import type { Store } from '../stores/types.js';
import { readAcmeSh } from './acmesh.js';
import { type AdoptAction, adoptCertificate, verifyForAdoption } from './adopt.js';
import { readCertbot } from './certbot.js';
import { readLego } from './lego.js';
import { readPem } from './pem.js';
import { mergeIntoManifest, planImport } from './plan.js';
import type { ImportSource, SourceOptions, SourceResult, Untranslated } from './types.js';

export interface ImportRequest {
  source: ImportSource;
  /** The installation's directory (absolute); unused for `pem`. */
  dir: string;
  /** Working directory, for `pem`'s relative file names. */
  cwd: string;
  sourceOptions: SourceOptions;
  store?: string;
  issuer?: string;
  /** Absolute path of a PEM bundle trusted for a private ACME server. */
  caBundle?: string;
  write: boolean;
  dryRun: boolean;
  /** The clock's now, to say when an adopted certificate has already expired. */
  now: Date;
  signal?: AbortSignal;
}

export interface ImportedReport {
  name: string;
  domains: string[];
  source: string;
  /** `added` to the manifest, already `present` there, or `not-added` (it failed). */
  entry: 'added' | 'present' | 'not-added';
  action: AdoptAction | 'failed';
  message: string;
  issuer?: string;
  store?: string;
  notAfter?: string;
  errorCode?: string;
}

/** What `import --json` prints (version 1). */
export interface ImportReport {
  version: 1;
  source: ImportSource;
  from: string;
  manifest: string;
  dryRun: boolean;
  /** Whether the manifest file was changed. */
  written: boolean;
  /** The manifest entries for what was imported: issuers this import adds, and the certificates. */
  entries: { issuers: Record<string, IssuerConfig>; certificates: CertificateConfig[] };
  certificates: ImportedReport[];
  untranslated: Untranslated[];
  /**
   * Set when a stop signal ended the import before every certificate was imported: one line saying how
   * many were not (they are not in `certificates`) and that running the import again finishes it.
   */
  interrupted?: string;
}

/** The exit code of an import: 1 when a certificate failed or a stop signal cut it short, else 0 (untranslated settings are reported, not failures). */
export function importExitCode(report: ImportReport): number {
  return report.interrupted !== undefined || report.certificates.some((c) => c.action === 'failed')
    ? ExitCode.failure
    : ExitCode.ok;
}

async function readSource(request: ImportRequest): Promise<SourceResult> {
  switch (request.source) {
    case 'certbot':
      return readCertbot(request.dir, request.sourceOptions);
    case 'lego':
      return readLego(request.dir, request.sourceOptions);
    case 'acme.sh':
      return readAcmeSh(request.dir, request.sourceOptions);
    case 'pem':
      return readPem(request.cwd, request.sourceOptions);
  }
}

/** Writes `text` over `path` atomically (temporary file in the same directory, then rename), keeping its mode. */
async function writeManifestFile(path: string, text: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o7777;
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(temp, text, { mode, flag: 'wx' });
  await rename(temp, path);
}

/** The indentation the manifest file uses (two spaces when it cannot be told). */
function indentOf(text: string): string | number {
  const match = /\n([ \t]+)"/.exec(text);
  return match?.[1] ?? 2;
}

/**
 * Runs one import against an opened session (its manifest names the target store). Throws UsageError when
 * the source or the options cannot be used; per-certificate problems are in the report.
 */
export async function runImport(session: Session, request: ImportRequest): Promise<ImportReport> {
  const { checkManifestText } = await loadChecks();
  const found = await readSource(request);
  if (found.found.length === 0 && found.failed.length === 0) {
    throw new UsageError(`no certificate found in ${request.dir}`);
  }
  const manifestPath = session.loaded.path;
  const read = await readManifestText(manifestPath);
  if (!read.ok) throw new UsageError(`cannot read the manifest ${manifestPath}: ${read.reason}`);
  const raw = JSON.parse(read.text) as Manifest;

  const stores = new Map<string, Store>();
  const targetStore = request.store ?? raw.defaults?.store;
  if (targetStore !== undefined && Object.hasOwn(raw.stores, targetStore)) {
    stores.set(targetStore, await session.store(targetStore));
  }
  const plan = planImport(raw, found.found, {
    ...(request.store ? { store: request.store } : {}),
    ...(request.issuer ? { issuer: request.issuer } : {}),
    ...(request.caBundle ? { caBundle: request.caBundle } : {}),
    paths: (store, name) => stores.get(store)?.paths(name),
  });

  const report: ImportReport = {
    version: 1,
    source: request.source,
    from: request.source === 'pem' ? (found.found[0]?.source ?? found.failed[0]?.source ?? '') : request.dir,
    manifest: manifestPath,
    dryRun: request.dryRun,
    written: false,
    entries: { issuers: {}, certificates: [] },
    certificates: [],
    untranslated: [...found.untranslated, ...plan.untranslated],
  };
  // Resolve every planned entry against the manifest they would make, so adoption sees what `run` will.
  // An entry that would not validate (a wildcard without a dns-01 challenge) is left out and says why.
  let checked: ReturnType<typeof checkManifestText>;
  for (;;) {
    const candidate = mergeIntoManifest(raw, plan, new Set(plan.certificates.map((c) => c.entry.name)));
    checked = checkManifestText(JSON.stringify(candidate), manifestPath, { intervalMs: 86_400_000 });
    if (checked.manifest) break;
    const errors = checked.diagnostics.filter((d) => d.severity === 'error');
    const bad = new Map<number, string>();
    for (const d of errors) {
      const index = Number(/^\/certificates\/(\d+)/.exec(d.pointer)?.[1] ?? Number.NaN);
      if (index >= raw.certificates.length && !bad.has(index)) bad.set(index, d.message);
    }
    if (bad.size === 0) {
      const first = errors[0];
      throw new CertRenewError(
        ErrorCode.manifestInvalid,
        `the imported entries do not validate: ${first?.pointer ?? ''}: ${first?.message ?? 'invalid'}`,
        { hint: 'run cert-renew validate on the manifest; the import changed nothing' },
      );
    }
    const added = plan.certificates.filter((c) => c.state === 'added');
    const drop = new Set([...bad.keys()].map((i) => added[i - raw.certificates.length]));
    for (const [index, message] of bad) {
      const planned = added[index - raw.certificates.length];
      if (!planned) continue;
      plan.conflicts.push({
        name: planned.entry.name,
        source: planned.found.source,
        message: `its entry would not validate (${message}); not imported: add the entry to the manifest with what it needs, then import again to adopt it`,
      });
    }
    plan.certificates = plan.certificates.filter((c) => !drop.has(c));
  }
  if (!checked.manifest) throw new CertRenewError(ErrorCode.internal, 'the merged manifest was not checked');
  const resolved = new Map<string, ResolvedCertificate>(
    resolveCertificates(checked.manifest).map((r) => [r.name, r]),
  );
  for (const failure of [...found.failed, ...plan.conflicts]) {
    report.certificates.push({
      name: failure.name,
      domains: [],
      source: failure.source,
      entry: 'not-added',
      action: 'failed',
      message: failure.message,
      errorCode: ErrorCode.verifyFailed,
    });
  }
  const keep = new Set<string>();
  let notImported = 0;
  for (const planned of plan.certificates) {
    // Stopped (SIGINT, SIGTERM, SIGHUP): nothing more is started; what was imported stays, and is written.
    if (request.signal?.aborted) {
      notImported++;
      continue;
    }
    const entry = resolved.get(planned.entry.name);
    const item: ImportedReport = {
      name: planned.entry.name,
      domains: planned.entry.domains,
      source: planned.found.source,
      entry: planned.state,
      action: 'failed',
      message: '',
      issuer: planned.issuerName,
      store: planned.storeName,
    };
    try {
      if (!entry) throw new CertRenewError(ErrorCode.internal, `${planned.entry.name}: not resolved`);
      const meta = verifyForAdoption(entry, planned.found.bundle, request.source);
      item.notAfter = meta.notAfter;
      const outcome = await adoptCertificate(session, entry, planned.found.bundle, meta, {
        dryRun: request.dryRun,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      item.action = outcome.action;
      item.message =
        Date.parse(meta.notAfter) <= request.now.getTime()
          ? `${outcome.message}; it has expired: the next run renews it`
          : outcome.message;
      keep.add(planned.entry.name);
    } catch (error) {
      // Cut short by the stop signal (its lock wait cancelled): not imported, said once below.
      if (request.signal?.aborted) {
        notImported++;
        continue;
      }
      const wrapped = toCertRenewError(error, ErrorCode.storeWrite);
      item.action = 'failed';
      item.entry = planned.state === 'present' ? 'present' : 'not-added';
      item.message = describeError(wrapped);
      item.errorCode = wrapped.code;
    }
    report.certificates.push(item);
  }

  if (notImported > 0) {
    const reason = request.signal?.reason;
    const by = reason instanceof CertRenewError ? reason.message : 'interrupted';
    report.interrupted = `${by}: ${notImported} certificate(s) not imported, ${keep.size} imported; run the import again to finish`;
  }
  const merged = mergeIntoManifest(raw, plan, keep);
  const usedIssuers = new Set(
    plan.certificates.filter((c) => keep.has(c.entry.name) && c.state === 'added').map((c) => c.issuerName),
  );
  report.entries = {
    issuers: Object.fromEntries(Object.entries(plan.issuers).filter(([name]) => usedIssuers.has(name))),
    certificates: plan.certificates.filter((c) => keep.has(c.entry.name)).map((c) => c.entry),
  };
  if (request.write && !request.dryRun && merged !== raw) {
    const text = `${JSON.stringify(merged, null, indentOf(read.text))}\n`;
    const final = checkManifestText(text, manifestPath, { intervalMs: 86_400_000 });
    if (!final.manifest) {
      throw new CertRenewError(
        ErrorCode.manifestInvalid,
        'the merged manifest does not validate; not written',
        {
          hint: 'please report this',
        },
      );
    }
    await writeManifestFile(manifestPath, text);
    report.written = true;
  }
  return report;
}
