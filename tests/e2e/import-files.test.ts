/**
 * `cert-renew import acme.sh` of a home built from acme.sh's documented layout (certificates made with
 * openssl in the test), and `cert-renew import pem` of a hand-made pair into a Redis store. Neither needs
 * a CA: the manifest's issuers are never contacted, and the next `run` says `ok`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../../src/manifest/types.js';
import { startPebble } from '../harness/pebble.js';
import { freePort, type TempDir, tempDir } from '../harness/process.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type CertificateAuthority, createCa, createLeaf, type TestKeyType } from '../harness/tls.js';
import { readAndVerify } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { actions, emptyManifest, envHook, parseImport } from './import-fixtures.js';

const b64 = (text: string) =>
  `__ACME_BASE64__START_${Buffer.from(text).toString('base64')}__ACME_BASE64__END_`;

/** One acme.sh certificate folder: `<home>/<folder>/<domain>.{conf,cer,key}`, `ca.cer`, `fullchain.cer`. */
async function acmeShCertificate(
  home: string,
  ca: CertificateAuthority,
  domain: string,
  keyType: TestKeyType,
  conf: Record<string, string>,
): Promise<void> {
  const folder = join(home, keyType === 'ec' ? `${domain}_ecc` : domain);
  await mkdir(folder, { recursive: true });
  const names = [domain, ...(conf.Le_Alt && conf.Le_Alt !== 'no' ? conf.Le_Alt.split(',') : [])];
  const leaf = await createLeaf(ca, folder, { names, name: 'leaf', keyType });
  await writeFile(join(folder, `${domain}.cer`), leaf.certPem);
  await writeFile(join(folder, `${domain}.key`), leaf.keyPem);
  await writeFile(join(folder, 'ca.cer'), ca.certPem);
  await writeFile(join(folder, 'fullchain.cer'), leaf.certPem + ca.certPem);
  const lines = Object.entries({ Le_Domain: domain, ...conf }).map(([k, v]) => `${k}='${v}'`);
  await writeFile(join(folder, `${domain}.conf`), `${lines.join('\n')}\n`);
}

describe('cert-renew import acme.sh and pem', () => {
  let tmp: TempDir;
  let ca: CertificateAuthority;

  before(async () => {
    tmp = await tempDir('cert-renew-import-files-');
    ca = await createCa(tmp.path);
  });
  after(async () => {
    await tmp?.remove();
  });

  test('acme.sh home: webroot, standalone and a DNS API; reload command; what cannot be translated is named', async () => {
    const home = join(tmp.path, 'acme.sh');
    const docroot = join(tmp.path, 'www');
    const store = join(tmp.path, 'store');
    // Nothing listens there: a run that contacted the CA would fail.
    const api = `https://127.0.0.1:${await freePort()}/directory`;
    const hookLog = join(tmp.path, 'reload.log');
    const reload = await envHook(tmp.path, 'reload.sh', hookLog, ['CERT_FULLCHAIN_PATH', 'Le_Domain']);
    await mkdir(home, { recursive: true });
    await writeFile(
      join(home, 'account.conf'),
      "ACCOUNT_EMAIL='ops@example.test'\nLOG_FILE='/var/log/acme.sh.log'\n",
    );
    await acmeShCertificate(home, ca, 'web.example.test', 'ec', {
      Le_Alt: 'www.web.example.test',
      Le_Webroot: docroot,
      Le_PreHook: '',
      Le_PostHook: '',
      Le_RenewHook: '',
      Le_API: api,
      Le_Keylength: 'ec-256',
      Le_ReloadCmd: b64(`${reload} --quiet`),
      Le_RealFullChainPath: '/etc/nginx/ssl/web.pem',
    });
    await acmeShCertificate(home, ca, 'alone.example.test', 'rsa', {
      Le_Alt: 'no',
      Le_Webroot: 'no',
      Le_HTTPPort: '8080',
      Le_API: api,
      Le_Keylength: '2048',
    });
    await acmeShCertificate(home, ca, 'dns.example.test', 'ec', {
      Le_Alt: 'no',
      Le_Webroot: 'dns_cf',
      Le_API: api,
      Le_Keylength: 'ec-256',
      Le_PreHook: b64('systemctl stop haproxy'),
    });
    // Not a certificate folder: ignored.
    await mkdir(join(home, 'deploy'));

    const manifestPath = await emptyManifest(tmp.path);
    const r = await runCli(['-m', manifestPath, 'import', 'acme.sh', home, '--write', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseImport(r.stdout);
    assert.deepEqual(actions(report), [
      ['alone.example.test', 'adopted'],
      ['dns.example.test', 'adopted'],
      ['web.example.test', 'adopted'],
    ]);
    const notes = report.untranslated.map((u) => `${u.name ?? '*'}: ${u.message}`);
    assert.ok(
      notes.some((n) => n.startsWith('dns.example.test: DNS API dns_cf')),
      notes.join('\n'),
    );
    assert.ok(
      notes.some((n) => n.startsWith("dns.example.test: Le_PreHook 'systemctl stop haproxy'")),
      notes.join('\n'),
    );
    assert.ok(
      notes.some((n) => n.startsWith('web.example.test: --install-cert copies it to /etc/nginx/ssl/web.pem')),
    );
    assert.ok(notes.some((n) => n.startsWith('*: ACME accounts are not copied')));
    // The DNS API one renews with the issuer's challenge until it gets its own: said, with which.
    assert.ok(
      notes.includes(
        'dns.example.test: its challenge was not translated: until you set its own "challenge", it renews with the one it inherits, {"type":"http-01","standalone":":8080"}',
      ),
      notes.join('\n'),
    );
    assert.equal(notes.length, 5, notes.join('\n'));

    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const [issuerName, issuer] = Object.entries(manifest.issuers)[0] ?? [];
    assert.ok(issuer?.type === 'acme');
    assert.equal(issuer.directory, api);
    assert.equal(issuer.email, 'ops@example.test');
    const byName = Object.fromEntries(manifest.certificates.map((c) => [c.name, c]));
    const challengeOf = (name: string) => byName[name]?.challenge ?? issuer.challenge;
    assert.deepEqual(challengeOf('web.example.test'), { type: 'http-01', webroot: docroot });
    assert.deepEqual(challengeOf('alone.example.test'), { type: 'http-01', standalone: ':8080' });
    assert.equal(byName['web.example.test']?.issuer, issuerName);
    assert.equal(byName['web.example.test']?.keyType, 'ecdsa-p256');
    assert.equal(byName['alone.example.test']?.keyType, 'rsa-2048');
    assert.deepEqual(byName['web.example.test']?.domains, ['web.example.test', 'www.web.example.test']);
    assert.deepEqual(byName['web.example.test']?.hooks?.postRenew, [
      {
        run: [reload, '--quiet'],
        env: {
          Le_Domain: 'web.example.test',
          CERT_PATH: join(store, 'web.example.test', 'cert.pem'),
          CERT_KEY_PATH: join(store, 'web.example.test', 'privkey.pem'),
          CA_CERT_PATH: join(store, 'web.example.test', 'chain.pem'),
          CERT_FULLCHAIN_PATH: join(store, 'web.example.test', 'fullchain.pem'),
        },
      },
    ]);
    assert.equal((await runCli(['validate', manifestPath])).code, 0);

    const run = await runCli(['-m', manifestPath, 'run', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome]),
      [
        ['alone.example.test', 'ok'],
        ['dns.example.test', 'ok'],
        ['web.example.test', 'ok'],
      ],
    );
    const stored = await readFile(join(store, 'alone.example.test', 'cert.pem'), 'utf8');
    assert.equal(stored, await readFile(join(home, 'alone.example.test', 'alone.example.test.cer'), 'utf8'));
  });

  test('a wildcard whose DNS challenge cannot be translated is not imported until its entry says dns-01', async () => {
    const dir = join(tmp.path, 'wild');
    const home = join(dir, 'acme.sh');
    await mkdir(home, { recursive: true });
    const api = `https://127.0.0.1:${await freePort()}/directory`;
    await acmeShCertificate(home, ca, '*.wild.example.test', 'ec', {
      Le_Alt: 'wild.example.test',
      Le_Webroot: 'dns_cf',
      Le_API: api,
      Le_Keylength: 'ec-256',
    });
    await acmeShCertificate(home, ca, 'plain.example.test', 'ec', {
      Le_Alt: 'no',
      Le_Webroot: '/srv/www',
      Le_API: api,
    });
    const manifestPath = await emptyManifest(dir);
    const args = ['-m', manifestPath, 'import', 'acme.sh', home, '--write', '--json'];
    const first = await runCli(args);
    assert.equal(first.code, 1, first.stderr);
    const report = parseImport(first.stdout);
    assert.deepEqual(actions(report), [
      ['plain.example.test', 'adopted'],
      ['wildcard.wild.example.test', 'failed'],
    ]);
    assert.match(
      report.certificates.find((c) => c.action === 'failed')?.message ?? '',
      /wildcards need a dns-01 challenge/,
    );
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    assert.deepEqual(
      manifest.certificates.map((c) => c.name),
      ['plain.example.test'],
    );

    // The operator adds the entry with a dns-01 challenge; the next import adopts the certificate.
    manifest.certificates.push({
      name: 'wildcard.wild.example.test',
      domains: ['*.wild.example.test', 'wild.example.test'],
      issuer: manifest.certificates[0]?.issuer ?? '',
      challenge: { type: 'dns-01', exec: '/usr/local/bin/dns-hook' },
    });
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
    const second = await runCli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(actions(parseImport(second.stdout)), [
      ['plain.example.test', 'unchanged'],
      ['wildcard.wild.example.test', 'adopted'],
    ]);
    const run = await runCli(['-m', manifestPath, 'plan', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { items: { name: string; reason: string }[] };
    assert.deepEqual(
      plan.items.map((i) => [i.name, i.reason]),
      [
        ['plain.example.test', 'ok'],
        ['wildcard.wild.example.test', 'ok'],
      ],
    );
  });

  test("acme.sh 3.1 registered with -m and --ca-bundle: the e-mail from the CA's ca.conf, the bundle from account.conf, and the import renews against that CA", async () => {
    // The layout a real acme.sh 3.1.4 wrote against Pebble with `--register-account -m ops@example.test
    // --ca-bundle CA` and `--issue --standalone --httpport P`: CA_BUNDLE in account.conf, CA_EMAIL in
    // ca/<host>/<directory path>/ca.conf (the host without its port), no ACCOUNT_EMAIL.
    const pebble = await startPebble();
    try {
      const dir = join(tmp.path, 'registered');
      const home = join(dir, 'acme.sh');
      const api = pebble.directoryUrl;
      const caDir = join(home, 'ca', new URL(api).hostname, new URL(api).pathname.replace(/^\/+/, ''));
      await mkdir(caDir, { recursive: true });
      await writeFile(
        join(home, 'account.conf'),
        `USER_PATH='/usr/bin:/bin'\nCA_BUNDLE='${pebble.caBundlePath}'\n`,
      );
      await writeFile(
        join(caDir, 'ca.conf'),
        "CA_EMAIL='ops@example.test'\nACCOUNT_URL='https://127.0.0.1/my-account/1'\nCA_KEY_HASH='x'\n",
      );
      await writeFile(join(caDir, 'account.key'), 'never read\n');
      await acmeShCertificate(home, ca, 'api.example.test', 'ec', {
        Le_Alt: 'no',
        Le_Webroot: 'no',
        Le_HTTPPort: String(pebble.httpPort),
        Le_API: api,
        Le_Keylength: 'ec-256',
      });
      const manifestPath = await emptyManifest(dir);
      const r = await runCli(['-m', manifestPath, 'import', 'acme.sh', home, '--write', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
      const issuer = Object.values(manifest.issuers)[0];
      assert.ok(issuer?.type === 'acme');
      assert.equal(issuer.email, 'ops@example.test');
      assert.equal(issuer.caBundle, pebble.caBundlePath);
      assert.equal((await runCli(['-m', manifestPath, 'run', '--dry-run', '--force'])).code, 0);
      const run = await runCli(['-m', manifestPath, 'run', '--force', '--json']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome]),
        [['api.example.test', 'renewed']],
      );
      await readAndVerify(join(dir, 'store'), 'api.example.test', await pebble.roots());
    } finally {
      await pebble.stop();
    }
  });

  test('acme.sh with External Account Binding: the key id is kept, the HMAC key named (never copied), and the import renews at a CA that requires EAB', async () => {
    const kid = 'acme-sh-kid';
    const hmac = randomBytes(32).toString('base64url');
    const pebble = await startPebble({ eabRequired: true, eabKeys: { [kid]: hmac } });
    try {
      const dir = join(tmp.path, 'eab');
      const home = join(dir, 'acme.sh');
      const api = pebble.directoryUrl;
      const caDir = join(home, 'ca', new URL(api).hostname, new URL(api).pathname.replace(/^\/+/, ''));
      await mkdir(caDir, { recursive: true });
      await writeFile(join(home, 'account.conf'), `CA_BUNDLE='${pebble.caBundlePath}'\n`);
      await writeFile(
        join(caDir, 'ca.conf'),
        `CA_EAB_KEY_ID='${kid}'\nCA_EAB_HMAC_KEY='${hmac}'\nCA_EMAIL='ops@example.test'\n`,
      );
      await acmeShCertificate(home, ca, 'eab.example.test', 'ec', {
        Le_Alt: 'no',
        Le_Webroot: 'no',
        Le_HTTPPort: String(pebble.httpPort),
        Le_API: api,
      });
      const manifestPath = await emptyManifest(dir);
      const r = await runCli(['-m', manifestPath, 'import', 'acme.sh', home, '--write', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(hmac) && !r.stderr.includes(hmac), 'the HMAC key is never printed');
      const text = await readFile(manifestPath, 'utf8');
      assert.ok(!text.includes(hmac), 'nor written into the manifest');
      const [name, issuer] = Object.entries((JSON.parse(text) as Manifest).issuers)[0] ?? [];
      assert.ok(issuer?.type === 'acme' && name);
      const env = `ACME_EAB_HMAC_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
      assert.deepEqual(issuer.eab, { kid, hmacKey: { env } });
      const note = parseImport(r.stdout).untranslated.find((u) =>
        u.message.includes('External Account Binding'),
      );
      assert.ok(note?.message.includes(`CA_EAB_HMAC_KEY in ${join(caDir, 'ca.conf')}`), note?.message);
      assert.ok(note?.message.includes(`set ${env} to it`), note?.message);

      const dry = await runCli(['-m', manifestPath, 'run', '--dry-run', '--force']);
      assert.equal(dry.code, 1, 'without the HMAC key the dry run says so');
      assert.match(dry.stdout + dry.stderr, new RegExp(env));
      const run = await runCli(['-m', manifestPath, 'run', '--force', '--json'], { env: { [env]: hmac } });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome]),
        [['eab.example.test', 'renewed']],
      );
    } finally {
      await pebble.stop();
    }
  });

  test('usage errors exit 2 and say what to give: no installation, no manifest, unknown store or source', async () => {
    const manifestPath = await emptyManifest(join(tmp.path));
    const cases: [string[], RegExp][] = [
      [
        ['-m', manifestPath, 'import', 'certbot', join(tmp.path, 'none')],
        /not a certbot configuration directory/,
      ],
      [['-m', manifestPath, 'import', 'acme.sh', tmp.path], /holds no acme\.sh certificate/],
      [['-m', join(tmp.path, 'none.json'), 'import', 'certbot', tmp.path], /create one with "stores"/],
      [['-m', manifestPath, 'import', 'pem', '--name', 'x'], /needs --name, --cert and --key/],
      [['-m', manifestPath, 'import', 'caddy'], /unknown import source 'caddy'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      assert.equal(r.stdout, '');
    }
  });

  test('pem into a manifest with no issuer yet: --server (and --email) add the ACME issuer that renews it', async () => {
    const dir = join(tmp.path, 'pem-new-issuer');
    await mkdir(dir);
    await createLeaf(ca, dir, { names: ['bought.example.test'], name: 'bought' });
    const manifestPath = await emptyManifest(dir);
    const args = [
      '-m',
      manifestPath,
      'import',
      'pem',
      '--name',
      'bought',
      '--cert',
      'bought.pem',
      '--key',
      'bought.key',
    ];

    // Nothing says which CA renews it: a usage error that names both ways to say it, and nothing written.
    const none = await runCli([...args, '--write'], { cwd: dir });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--issuer NAME, or add an ACME issuer with --server/);
    assert.ok(!hasStackTrace(none.stderr), none.stderr);
    // An empty certificate list is where a migration starts: no warning about it.
    assert.doesNotMatch(none.stderr, /lists no certificates/);

    const added = await runCli(
      [...args, '--server', 'letsencrypt', '--email', 'ops@example.test', '--write'],
      {
        cwd: dir,
      },
    );
    assert.equal(added.code, 0, added.stderr);
    assert.doesNotMatch(added.stderr, /lists no certificates/);
    // Signed by a CA, given without --chain: fullchain.pem would be the leaf alone, which is said.
    assert.match(
      added.stderr,
      /bought: no chain: bought\.pem holds only the certificate .* import again with --chain FILE/,
    );
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    assert.deepEqual(manifest.certificates, [
      { name: 'bought', domains: ['bought.example.test'], issuer: 'letsencrypt' },
    ]);
    assert.deepEqual(manifest.issuers, {
      letsencrypt: {
        type: 'acme',
        directory: 'letsencrypt',
        email: 'ops@example.test',
        challenge: { type: 'http-01', standalone: ':80' },
      },
    });
    const validate = await runCli(['validate', manifestPath]);
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);

    // Importing again with --chain, as the note says, completes the stored copy (and only once).
    const fullchain = join(dir, 'store', 'bought', 'fullchain.pem');
    const blocks = async () => (await readFile(fullchain, 'utf8')).match(/BEGIN CERTIFICATE/g)?.length;
    assert.equal(await blocks(), 1);
    const withChain = [...args, '--chain', ca.certPath, '--write', '--json'];
    const rehearsed = await runCli([...args, '--chain', ca.certPath, '--dry-run', '--json'], { cwd: dir });
    assert.equal(rehearsed.code, 0, rehearsed.stderr);
    assert.deepEqual(actions(parseImport(rehearsed.stdout)), [['bought', 'would-replace']]);
    const completed = await runCli(withChain, { cwd: dir });
    assert.equal(completed.code, 0, completed.stderr);
    const done = parseImport(completed.stdout).certificates[0];
    assert.equal(done?.action, 'adopted');
    assert.match(done?.message ?? '', /adds the chain the earlier import lacked/);
    assert.equal(await blocks(), 2);
    const once = await runCli(withChain, { cwd: dir });
    assert.equal(once.code, 0, once.stderr);
    assert.deepEqual(actions(parseImport(once.stdout)), [['bought', 'unchanged']]);

    // The issuer exists now: another e-mail is not applied to it, and that is said.
    await createLeaf(ca, dir, { names: ['second.example.test'], name: 'second' });
    const again = await runCli(
      [
        '-m',
        manifestPath,
        'import',
        'pem',
        '--name',
        'second',
        '--cert',
        'second.pem',
        '--key',
        'second.key',
        '--chain',
        ca.certPath,
        '--server',
        'letsencrypt',
        '--email',
        'other@example.test',
        '--write',
      ],
      { cwd: dir },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      /issuer 'letsencrypt' .* keeps its account e-mail ops@example\.test; other@example\.test was not applied/,
    );
    // Options of another source are refused rather than ignored.
    const lego = await runCli([...args, '--key-type', 'ec384', '--dry-run'], { cwd: dir });
    assert.equal(lego.code, 2, lego.stderr);
    assert.match(lego.stderr, /--key-type is for import lego, not pem/);
    const certbot = await runCli(
      ['-m', manifestPath, 'import', 'certbot', dir, '--cert', 'x.pem', '--dry-run'],
      { cwd: dir },
    );
    assert.equal(certbot.code, 2, certbot.stderr);
    assert.match(certbot.stderr, /--cert is for import pem, not certbot/);
  });

  test('a re-import that replaces an earlier import leaves the deploying to the next run (hooks, host behind)', async () => {
    const dir = join(tmp.path, 'pem-reimport');
    await mkdir(dir);
    const manifestPath = await emptyManifest(dir, {
      defaults: { store: 'files', issuer: 'local' },
      issuers: { local: { type: 'local-ca' } },
    });
    const older = await createLeaf(ca, dir, { names: ['re.example.test'], name: 'older', days: 30 });
    const newer = await createLeaf(ca, dir, { names: ['re.example.test'], name: 'newer', days: 60 });
    const importPem = (leaf: { certPath: string; keyPath: string }) =>
      runCli(
        [
          '-m',
          manifestPath,
          'import',
          'pem',
          '--name',
          're',
          '--cert',
          leaf.certPath,
          '--key',
          leaf.keyPath,
          '--chain',
          ca.certPath,
          '--write',
          '--json',
        ],
        { cwd: dir },
      );
    const first = await importPem(older);
    assert.equal(first.code, 0, first.stderr);
    // One file per host: this one's.
    const deployed = async () => {
      const hostsDir = join(dir, 'store', '.cert-renew', 'deployments', 're');
      const files = await readdir(hostsDir);
      assert.equal(files.length, 1, files.join(', '));
      return JSON.parse(await readFile(join(hostsDir, files[0] as string), 'utf8')) as {
        fingerprint?: string;
      };
    };
    const firstPrint = (await deployed()).fingerprint;
    assert.ok(firstPrint, 'a first import records this host as serving it');
    const second = await importPem(newer);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(actions(parseImport(second.stdout)), [['re', 'adopted']]);
    assert.equal((await deployed()).fingerprint, firstPrint, 'the replacement is not recorded as deployed');
  });

  describe('pem into a Redis store', () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      await redis?.stop();
    });

    test('a hand-made pair is adopted into Redis and run says ok; a mismatched key is never adopted', async () => {
      const dir = join(tmp.path, 'pem');
      await mkdir(dir);
      const leaf = await createLeaf(ca, dir, { names: ['hand.example.test'], name: 'hand' });
      const other = await createLeaf(ca, dir, { names: ['other.example.test'], name: 'other' });
      const manifestPath = await emptyManifest(dir, {
        defaults: { store: 'cache', issuer: 'local' },
        issuers: { local: { type: 'local-ca' } },
        stores: { cache: { type: 'redis', url: redis.url } },
      });
      const before = await readFile(manifestPath, 'utf8');

      // A key that belongs to another certificate: refused, nothing stored, nothing written.
      const bad = await runCli(
        [
          '-m',
          manifestPath,
          'import',
          'pem',
          '--name',
          'bad',
          '--cert',
          leaf.certPath,
          '--key',
          other.keyPath,
          '--write',
          '--json',
        ],
        { cwd: dir },
      );
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /unchanged: nothing could be imported/);
      assert.doesNotMatch(bad.stderr, /already has every imported certificate/);
      const badReport = parseImport(bad.stdout);
      assert.deepEqual(actions(badReport), [['bad', 'failed']]);
      assert.match(badReport.certificates[0]?.message ?? '', /private key does not match/);
      assert.equal(await redis.cli('KEYS', '*bad*'), '');
      assert.equal(await readFile(manifestPath, 'utf8'), before);

      // A "key" file that holds only a certificate says so, not that the key does not match.
      const noKey = await runCli(
        [
          '-m',
          manifestPath,
          'import',
          'pem',
          '--name',
          'bad',
          '--cert',
          leaf.certPath,
          '--key',
          leaf.certPath,
          '--json',
        ],
        { cwd: dir },
      );
      assert.equal(noKey.code, 1, noKey.stderr);
      assert.match(parseImport(noKey.stdout).certificates[0]?.message ?? '', /holds no private key/);

      // --domains the certificate does not cover: refused.
      const uncovered = await runCli(
        [
          '-m',
          manifestPath,
          'import',
          'pem',
          '--name',
          'hand',
          '--cert',
          'hand.pem',
          '--key',
          'hand.key',
          '--domains',
          'x.example.test',
          '--json',
        ],
        { cwd: dir },
      );
      assert.equal(uncovered.code, 1, uncovered.stderr);
      assert.match(
        parseImport(uncovered.stdout).certificates[0]?.message ?? '',
        /does not cover x\.example\.test/,
      );

      const good = await runCli(
        [
          '-m',
          manifestPath,
          'import',
          'pem',
          '--name',
          'hand',
          '--cert',
          'hand.pem',
          '--key',
          'hand.key',
          '--chain',
          ca.certPath,
          '--write',
        ],
        { cwd: dir },
      );
      assert.equal(good.code, 0, good.stderr);
      assert.doesNotMatch(good.stderr, /no chain/);
      assert.equal(good.stdout, '', 'with --write the entries are not printed');
      assert.match(good.stderr, /hand: adopted in store 'cache'/);
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
      assert.deepEqual(manifest.certificates, [{ name: 'hand', domains: ['hand.example.test'] }]);
      assert.deepEqual(manifest.issuers, { local: { type: 'local-ca' } });

      const run = await runCli(['-m', manifestPath, 'run', '--json']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        parseReport(run.stdout).certificates.map((c) => [c.name, c.outcome, c.reason]),
        [['hand', 'ok', 'ok']],
      );
      const show = await runCli(['-m', manifestPath, 'show', 'hand', '--pem']);
      assert.equal(show.code, 0, show.stderr);
      assert.ok(show.stdout.includes(leaf.certPem.trim()));
    });
  });
});
