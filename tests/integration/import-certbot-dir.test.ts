/**
 * Reading a certbot configuration directory laid out as certbot writes it (renewal/*.conf, live/ links into
 * archive/, renewal-hooks/), with the settings that do not translate: each is named in one line.
 * Certificates are made with openssl.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readCertbot } from '../../src/import/certbot.js';
import { readLego } from '../../src/import/lego.js';
import { certbotLineage } from '../e2e/import-fixtures.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { createCa } from '../harness/tls.js';

describe('reading a certbot configuration directory', () => {
  let tmp: TempDir;
  let dir: string;

  before(async () => {
    tmp = await tempDir('cert-renew-certbot-dir-');
    dir = join(tmp.path, 'letsencrypt');
    const ca = await createCa(tmp.path);
    await certbotLineage(
      dir,
      ca,
      'manual.example.com',
      ['manual.example.com'],
      [
        'authenticator = manual',
        'manual_auth_hook = /usr/local/bin/auth.sh',
        'pre_hook = systemctl stop haproxy',
        'post_hook = systemctl start haproxy',
        'installer = nginx',
        'must_staple = True',
        'key_type = rsa',
        'rsa_key_size = 2048',
      ].join('\n'),
      'rsa',
    );
    await certbotLineage(
      dir,
      ca,
      'dns.example.com',
      ['dns.example.com', '*.dns.example.com'],
      [
        'authenticator = dns-rfc2136',
        'dns_rfc2136_credentials = /etc/letsencrypt/rfc2136.ini',
        'key_type = ecdsa',
      ].join('\n'),
    );
    await certbotLineage(
      dir,
      ca,
      'web.example.com',
      ['web.example.com', 'www.web.example.com'],
      [
        'authenticator = webroot',
        'webroot_path = /var/www/web, /var/www/www',
        'key_type = ecdsa',
        'elliptic_curve = secp384r1',
        'reuse_key = True',
        '[[webroot_map]]',
        'web.example.com = /var/www/web',
        'www.web.example.com = /var/www/www',
      ].join('\n'),
    );
    // What a trial wrote by hand: settings cert-renew does not know, or cannot use, are each named.
    await certbotLineage(
      dir,
      ca,
      'odd.example.com',
      ['odd.example.com'],
      [
        'authenticator = standalone',
        'http01_port = abc',
        'renew_before_expiry = soon',
        'this is not = = valid [[[',
        'config_dir = /etc/letsencrypt',
        'key_type = ecdsa',
      ].join('\n'),
    );
    for (const [kind, file, executable] of [
      ['deploy', '01-reload', true],
      ['deploy', 'README', false],
      ['pre', 'stop-firewall', true],
    ] as const) {
      const folder = join(dir, 'renewal-hooks', kind);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, file), '#!/bin/sh\necho "$RENEWED_DOMAINS"\n');
      if (executable) await chmod(join(folder, file), 0o755);
    }
  });
  after(async () => {
    await tmp?.remove();
  });

  test('every lineage found, what translates translated, everything else named once', async () => {
    const result = await readCertbot(dir, {});
    assert.deepEqual(result.failed, []);
    const byName = Object.fromEntries(result.found.map((f) => [f.name, f]));
    assert.deepEqual(Object.keys(byName).sort(), [
      'dns.example.com',
      'manual.example.com',
      'odd.example.com',
      'web.example.com',
    ]);
    assert.equal(byName['odd.example.com']?.challenge, undefined);
    for (const f of result.found) assert.equal(f.directory, 'letsencrypt-staging');

    const web = byName['web.example.com'];
    assert.deepEqual(web?.domains, ['web.example.com', 'www.web.example.com']);
    // The certificate is P-256: the conf's secp384r1 does not match it, so no keyType is written.
    assert.equal(web?.keyType, undefined);
    assert.deepEqual(web?.challenge, { type: 'http-01', webroot: '/var/www/web' });
    assert.equal(web?.reuseKey, true);
    assert.deepEqual(
      web?.postRenew?.map((h) => [h.spec.run, h.legacyEnv]),
      [[[join(dir, 'renewal-hooks', 'deploy', '01-reload')], 'certbot']],
      'executable deploy scripts only',
    );

    const manual = byName['manual.example.com'];
    assert.equal(manual?.keyType, 'rsa-2048');
    assert.equal(manual?.challenge, undefined);
    assert.deepEqual(
      manual?.postRenew?.map((h) => h.spec),
      [
        { run: ['systemctl', 'start', 'haproxy'] },
        { run: [join(dir, 'renewal-hooks', 'deploy', '01-reload')] },
      ],
    );
    assert.equal(byName['dns.example.com']?.keyType, 'ecdsa-p256');
    assert.deepEqual(byName['dns.example.com']?.domains, ['dns.example.com', '*.dns.example.com']);

    const notes = result.untranslated.map((u) => `${u.name ?? '*'}: ${u.message}`);
    const expect = [
      /^\*: pre-hook script .*stop-firewall: cert-renew has no pre-renewal hook/,
      /^dns\.example\.com: authenticator dns-rfc2136 \(credentials file \/etc\/letsencrypt\/rfc2136\.ini not read\)/,
      /^manual\.example\.com: authenticator manual with --manual-auth-hook '\/usr\/local\/bin\/auth\.sh'/,
      /^manual\.example\.com: post_hook 'systemctl start haproxy' became a postRenew hook/,
      /^manual\.example\.com: pre_hook 'systemctl stop haproxy' has no equivalent/,
      /^manual\.example\.com: installer nginx: cert-renew does not edit web server configuration/,
      /^manual\.example\.com: must_staple/,
      /^web\.example\.com: key_type ecdsa does not match the certificate's key \(ecdsa-p256\)/,
      /^web\.example\.com: webroot differs per domain \(web\.example\.com: \/var\/www\/web, www\.web\.example\.com: \/var\/www\/www\)/,
      /^\*: ACME accounts are not copied/,
      /^\*: hook .*deploy\/README is not an executable file: certbot does not run it, so it is not imported$/,
      /^odd\.example\.com: authenticator standalone with http01_port 'abc', which is not a port/,
      /^odd\.example\.com: \[renewalparams\] renew_before_expiry = 'soon' is not one cert-renew knows \(certbot reads it at the top of the file, not in \[renewalparams\]\): not imported$/,
      /^odd\.example\.com: \[renewalparams\] this is not = '= valid \[\[\[' is not one cert-renew knows: not imported$/,
    ];
    for (const pattern of expect) {
      assert.equal(notes.filter((n) => pattern.test(n)).length, 1, `${pattern}\n${notes.join('\n')}`);
    }
    assert.equal(notes.length, expect.length, notes.join('\n'));
    assert.ok(
      !JSON.stringify(result.found.map(({ bundle: _b, ...rest }) => rest)).includes('0123456789abcdef'),
    );
  });
});

describe('source files that cannot be read are named', () => {
  test('a certbot archive file that is a directory; a lego resource that is not JSON', async (t) => {
    const tmp = await tempDir('cert-renew-import-named-');
    t.after(() => tmp.remove());
    const ca = await createCa(tmp.path);
    const certbot = join(tmp.path, 'letsencrypt');
    await certbotLineage(certbot, ca, 'unread', ['unread.example.com'], 'authenticator = standalone');
    const archived = join(certbot, 'archive', 'unread', 'cert1.pem');
    await rm(archived);
    await mkdir(archived);
    const fromCertbot = await readCertbot(certbot, {});
    assert.equal(fromCertbot.failed.length, 1);
    // The file certbot serves (the live/ link to it), and what is wrong with it.
    const live = join(certbot, 'live', 'unread', 'cert.pem');
    assert.ok(fromCertbot.failed[0]?.message.startsWith(`${live}: EISDIR`), fromCertbot.failed[0]?.message);

    const lego = join(tmp.path, 'lego', 'certificates');
    await mkdir(lego, { recursive: true });
    await writeFile(join(lego, 'broken.example.com.json'), '{not json');
    const fromLego = await readLego(join(tmp.path, 'lego'), {});
    assert.equal(fromLego.failed.length, 1);
    assert.match(
      fromLego.failed[0]?.message ?? '',
      new RegExp(`^${join(lego, 'broken.example.com.json').replaceAll('.', '\\.')} is not JSON \\(`),
    );
  });
});
