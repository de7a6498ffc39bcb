/** `cert-renew import SOURCE [DIR]`: adopt a certbot, lego or acme.sh installation, or one PEM pair. */
import { join, resolve } from 'node:path';
import { CertRenewError, ErrorCode, UsageError } from '../errors.js';
import { CERTBOT_DEFAULT_DIR } from '../import/certbot.js';
import { type ImportReport, importExitCode, runImport } from '../import/import.js';
import { IMPORT_SOURCES, type ImportSource } from '../import/types.js';
import { commandLogger, openSession, parseInterval } from './common.js';
import type { CliIO, GlobalOptions } from './io.js';

export interface ImportOptions {
  write?: boolean;
  dryRun?: boolean;
  json?: boolean;
  store?: string;
  issuer?: string;
  server?: string;
  email?: string;
  caBundle?: string;
  'http.webroot'?: string;
  'http.port'?: string;
  dns?: string;
  execPath?: string;
  keyType?: string;
  renewHook?: string;
  name?: string;
  cert?: string;
  key?: string;
  chain?: string;
  domains?: string[];
}

/** Options that only one source reads, with the flag that sets them. */
const SOURCE_ONLY_OPTIONS: [ImportSource, [keyof ImportOptions, string][]][] = [
  [
    'lego',
    [
      ['http.webroot', '--http.webroot'],
      ['http.port', '--http.port'],
      ['dns', '--dns'],
      ['execPath', '--exec-path'],
      ['keyType', '--key-type'],
      ['renewHook', '--renew-hook'],
    ],
  ],
  [
    'pem',
    [
      ['name', '--name'],
      ['cert', '--cert'],
      ['key', '--key'],
      ['chain', '--chain'],
      ['domains', '--domains'],
    ],
  ],
];

function defaultDir(source: ImportSource, io: CliIO): string {
  switch (source) {
    case 'certbot':
      return CERTBOT_DEFAULT_DIR;
    case 'lego':
      return join(io.cwd, '.lego');
    case 'acme.sh':
      return join(io.env.HOME ?? io.cwd, '.acme.sh');
    case 'pem':
      return io.cwd;
  }
}

function describe(report: ImportReport): string[] {
  const lines: string[] = [];
  for (const c of report.certificates) {
    const where = c.store ? ` in store '${c.store}'` : '';
    const expires = c.notAfter ? `, expires ${c.notAfter.replace(/\.\d{3}Z$/, 'Z')}` : '';
    lines.push(`${c.name}: ${c.action}${where}${expires}${c.message ? ` (${c.message})` : ''}`);
  }
  return lines;
}

export async function importCommand(
  globals: GlobalOptions,
  source: string,
  dir: string | undefined,
  options: ImportOptions,
  io: CliIO,
): Promise<number> {
  if (!(IMPORT_SOURCES as readonly string[]).includes(source)) {
    throw new UsageError(`unknown import source '${source}'`, {
      hint: `use one of ${IMPORT_SOURCES.join(', ')}`,
    });
  }
  const kind = source as ImportSource;
  // An option of another source would be accepted and do nothing: say so instead.
  for (const [only, flags] of SOURCE_ONLY_OPTIONS) {
    if (kind === only) continue;
    const given = flags.filter(([key]) => options[key] !== undefined).map(([, flag]) => flag);
    if (given.length > 0) {
      throw new UsageError(
        `${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} for import ${only}, not ${kind}`,
        {
          hint: 'cert-renew import --help says which source takes which option',
        },
      );
    }
  }
  if (kind === 'pem' && dir !== undefined) {
    throw new UsageError('import pem takes no directory', {
      hint: 'give the files with --cert, --key and --chain',
    });
  }
  const logger = commandLogger(globals, io);
  const session = await openSession(globals, io, logger, parseInterval(undefined), {
    adopting: true,
  }).catch((error: unknown) => {
    if (error instanceof CertRenewError && error.code === ErrorCode.manifestUnreadable) {
      throw new UsageError(error.message, {
        hint: 'import adopts into a store the manifest names: create one with "stores" and "defaults.store" first (docs/migrating.md)',
      });
    }
    throw error;
  });
  try {
    const report = await runImport(session, {
      source: kind,
      dir: resolve(io.cwd, dir ?? defaultDir(kind, io)),
      cwd: io.cwd,
      sourceOptions: {
        ...(options.server ? { server: options.server } : {}),
        ...(options.email ? { email: options.email } : {}),
        ...(options['http.webroot'] ? { httpWebroot: resolve(io.cwd, options['http.webroot']) } : {}),
        ...(options['http.port'] ? { httpPort: options['http.port'] } : {}),
        ...(options.dns ? { dns: options.dns } : {}),
        // A program name without a slash is looked up on PATH (by lego, and by cert-renew): kept as it is.
        ...(options.execPath
          ? {
              execPath: options.execPath.includes('/') ? resolve(io.cwd, options.execPath) : options.execPath,
            }
          : {}),
        ...(options.keyType ? { keyType: options.keyType } : {}),
        ...(options.renewHook ? { renewHook: options.renewHook, cwd: io.cwd } : {}),
        ...(options.name ? { name: options.name } : {}),
        ...(options.cert ? { cert: options.cert } : {}),
        ...(options.key ? { key: options.key } : {}),
        ...(options.chain ? { chain: options.chain } : {}),
        ...(options.domains ? { domains: options.domains } : {}),
      },
      ...(options.store ? { store: options.store } : {}),
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.caBundle ? { caBundle: resolve(io.cwd, options.caBundle) } : {}),
      write: options.write ?? false,
      dryRun: options.dryRun ?? false,
      now: io.clock.now(),
      ...(io.interrupt ? { signal: io.interrupt } : {}),
    });
    if (options.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else if (!options.write || options.dryRun) io.stdout(`${JSON.stringify(report.entries, null, 2)}\n`);
    for (const line of describe(report)) {
      if (line.includes(': failed')) logger.error(line);
      else logger.info(line);
    }
    if (report.interrupted) logger.error(report.interrupted);
    for (const u of report.untranslated) {
      logger.warn(`not translated: ${u.name ? `${u.name}: ` : ''}${u.message}`);
    }
    if (options.write && !options.dryRun) {
      const failed = report.certificates.filter((c) => c.action === 'failed').length;
      const others = report.certificates.length - failed;
      if (report.written) logger.info(`wrote the imported entries to ${report.manifest}`);
      else if (failed > 0 && others === 0)
        logger.info(`${report.manifest} unchanged: nothing could be imported`);
      else if (failed > 0)
        logger.info(`${report.manifest} already has the other imported certificates; unchanged`);
      else logger.info(`${report.manifest} already has every imported certificate; unchanged`);
    }
    if (options.dryRun) logger.info('dry run: nothing was adopted or written');
    return importExitCode(report);
  } finally {
    await session.close();
  }
}
