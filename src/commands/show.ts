import { CertRenewError, describeError, ErrorCode, ExitCode, UsageError } from '../errors.js';
import { gatherRevocations } from '../plan/revocations.js';
import { inspectCertificate } from '../x509/index.js';
import { commandLogger, openSession, parseInterval } from './common.js';
import type { CliIO, GlobalOptions } from './io.js';

export interface ShowOptions {
  json?: boolean;
  pem?: boolean;
  includeKey?: boolean;
}

/** `cert-renew show NAME`: what the store holds. The private key only with `--pem --include-key`. */
export async function showCommand(
  globals: GlobalOptions,
  name: string,
  options: ShowOptions,
  io: CliIO,
): Promise<number> {
  if (options.includeKey && !options.pem)
    throw new UsageError('--include-key only works together with --pem');
  if (options.json && options.pem)
    throw new UsageError('--json and --pem print different things (details, or the PEM files); give one');
  const logger = commandLogger(globals, io);
  const session = await openSession(globals, io, logger, parseInterval(undefined));
  try {
    const entry = session.certificates.find((c) => c.name === name);
    if (!entry) {
      throw new UsageError(`no certificate named '${name}' in ${session.loaded.path}`);
    }
    const store = await session.store(entry.storeName);
    const loaded = await store.load(name);
    if (loaded.state === 'missing') {
      throw new CertRenewError(
        ErrorCode.notFound,
        `${name}: store '${entry.storeName}' holds no certificate yet`,
        {
          hint: 'run cert-renew run to issue it',
        },
      );
    }
    if (loaded.state === 'error') throw loaded.failure;
    if (loaded.state === 'unreadable') {
      // Permission denied is this user's, not the store's: a run (as the user that writes the store) finds
      // the files intact and replaces nothing.
      const denied = /\((EACCES|EPERM)\)/.test(loaded.error);
      throw new CertRenewError(
        ErrorCode.storeCorrupt,
        `${name}: the stored certificate is unreadable: ${loaded.error}`,
        {
          hint: denied
            ? 'this user may not read the stored files (private keys are mode 0600): run it as the user that runs cert-renew run, or give readers a group with the store\'s "group" and "mode": {"key": "0640"}'
            : 'the next cert-renew run replaces it',
        },
      );
    }
    const { cert } = loaded;
    if (options.pem) {
      const chain = cert.chainPem.trim();
      io.stdout(`${cert.certPem.trim()}\n${chain ? `${chain}\n` : ''}`);
      if (options.includeKey) io.stdout(`${cert.keyPem.trim()}\n`);
      return ExitCode.ok;
    }
    let info: ReturnType<typeof inspectCertificate>;
    try {
      info = inspectCertificate(cert.certPem);
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.storeCorrupt,
        `${name}: the stored certificate is unreadable: ${describeError(error)}`,
        {
          hint: 'the next cert-renew run replaces it',
        },
      );
    }
    // The store's revocation log and the issuer's own list (the local CA's CRL), as plan/status see them.
    const revocation = (await gatherRevocations(session, [{ entry, stored: loaded }], logger))
      .values()
      .next().value;
    const details = {
      name,
      store: entry.storeName,
      issuer: entry.issuerName,
      subject: info.subject,
      issuedBy: info.issuer,
      domains: info.dnsNames,
      ipAddresses: info.ipAddresses,
      serial: info.serial,
      fingerprint: info.fingerprint256,
      keyType: info.keyType,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      meta: cert.meta ?? null,
      paths: store.paths(name) ?? null,
      attempts: loaded.attempts ?? null,
      revoked: revocation?.current ?? null,
      revocations: revocation?.log ?? [],
      ...(loaded.replaced ? { replaced: loaded.replaced } : {}),
    };
    if (options.json) {
      io.stdout(`${JSON.stringify(details, null, 2)}\n`);
    } else {
      const rows: [string, string][] = [
        ['name', name],
        ['store', entry.storeName],
        ['issuer', entry.issuerName],
        ['subject', info.subject.replace(/\n/g, ', ')],
        ['issued by', info.issuer.replace(/\n/g, ', ')],
        ['domains', info.dnsNames.join(' ')],
        ['serial', info.serial],
        ['fingerprint', info.fingerprint256],
        ['key type', info.keyType],
        ['not before', info.notBefore.toISOString()],
        ['not after', info.notAfter.toISOString()],
      ];
      if (cert.meta?.via) rows.push(['obtained via', cert.meta.via]);
      if (loaded.replaced) rows.push(['warning', loaded.replaced.note]);
      const paths = store.paths(name);
      if (paths) rows.push(['fullchain', paths.fullchain], ['private key', paths.privkey]);
      if (loaded.attempts)
        rows.push([
          'failed attempts',
          `${loaded.attempts.failureCount}, last: ${loaded.attempts.lastError ?? '?'}`,
        ]);
      if (revocation?.current) {
        rows.push(['REVOKED', `${revocation.current.reason} at ${revocation.current.revokedAt}`]);
      }
      for (const r of revocation?.log ?? []) {
        if (r.serial !== info.serial)
          rows.push(['revoked earlier', `${r.serial} (${r.reason}) at ${r.revokedAt}`]);
      }
      io.stdout(rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join('\n') + '\n');
    }
    return ExitCode.ok;
  } finally {
    await session.close();
  }
}
