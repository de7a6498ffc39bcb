/**
 * Shared pieces of the import tests: a web server serving a document root (as certbot's, lego's and
 * acme.sh's webroot expect: `/.well-known/acme-challenge/<token>` under it), an empty manifest with one
 * filesystem store, a hook that logs the variables certbot/acme.sh hooks read, and the import report.
 */
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { ImportReport } from '../../src/import/import.js';
import type { Manifest } from '../../src/manifest/types.js';
import { type CertificateAuthority, createLeaf } from '../harness/tls.js';

/** Serves `<docroot>/.well-known/acme-challenge/<token>` on 127.0.0.1:port (404 for anything else). */
export async function serveDocumentRoot(docroot: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const match = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    try {
      if (!match) throw new Error('not found');
      const body = await readFile(join(docroot, '.well-known', 'acme-challenge', match[1] as string));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A manifest with no issuer and no certificate yet, and one filesystem store `files` (the default). */
export async function emptyManifest(dir: string, extra: Partial<Manifest> = {}): Promise<string> {
  const path = join(dir, 'certificate-manifest.json');
  const manifest: Manifest = {
    version: 1,
    defaults: { store: 'files' },
    issuers: {},
    stores: { files: { type: 'filesystem', path: 'store' } },
    certificates: [],
    ...extra,
  };
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

/** A hook script that appends `<tag> <the named variables>` to `log`. */
export async function envHook(dir: string, name: string, log: string, variables: string[]): Promise<string> {
  const path = join(dir, name);
  const values = variables.map((v) => `$${v}`).join(' ');
  await writeFile(path, `#!/bin/sh\necho "${name} ${values}" >> '${log}'\n`);
  await chmod(path, 0o755);
  return path;
}

export function parseImport(stdout: string): ImportReport {
  try {
    return JSON.parse(stdout) as ImportReport;
  } catch {
    throw new Error(`stdout is not an import report:\n${stdout}`);
  }
}

/** name → action, sorted by name. */
export function actions(report: ImportReport): [string, string][] {
  return report.certificates
    .map((c) => [c.name, c.action] as [string, string])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

/**
 * One certbot lineage in `dir` as certbot lays it out: archive/<name>/{cert,privkey,chain,fullchain}1.pem
 * (a leaf for `names` signed by `ca`, made with openssl), live/<name>/ links into it, and
 * renewal/<name>.conf with `params` under [renewalparams].
 */
export async function certbotLineage(
  dir: string,
  ca: CertificateAuthority,
  name: string,
  names: string[],
  params: string,
  keyType: 'ec' | 'rsa' = 'ec',
): Promise<void> {
  const archive = join(dir, 'archive', name);
  const live = join(dir, 'live', name);
  await mkdir(archive, { recursive: true });
  await mkdir(live, { recursive: true });
  const leaf = await createLeaf(ca, archive, { names, name: 'leaf', keyType });
  await writeFile(join(archive, 'cert1.pem'), leaf.certPem);
  await writeFile(join(archive, 'privkey1.pem'), leaf.keyPem);
  await writeFile(join(archive, 'chain1.pem'), ca.certPem);
  await writeFile(join(archive, 'fullchain1.pem'), leaf.certPem + ca.certPem);
  for (const file of ['cert', 'privkey', 'chain', 'fullchain']) {
    await symlink(`../../archive/${name}/${file}1.pem`, join(live, `${file}.pem`));
  }
  await mkdir(join(dir, 'renewal'), { recursive: true });
  await writeFile(
    join(dir, 'renewal', `${name}.conf`),
    [
      'version = 2.1.0',
      `archive_dir = /etc/letsencrypt/archive/${name}`,
      `cert = /etc/letsencrypt/live/${name}/cert.pem`,
      `privkey = /etc/letsencrypt/live/${name}/privkey.pem`,
      `chain = /etc/letsencrypt/live/${name}/chain.pem`,
      `fullchain = /etc/letsencrypt/live/${name}/fullchain.pem`,
      '',
      '# Options used in the renewal process',
      '[renewalparams]',
      'account = 0123456789abcdef0123456789abcdef',
      'server = https://acme-staging-v02.api.letsencrypt.org/directory',
      params,
      '',
    ].join('\n'),
  );
}
