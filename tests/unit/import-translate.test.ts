/**
 * The pure parts of `cert-renew import`: certbot's configobj renewal files through the ini adapter,
 * acme.sh's shell-assignment files, hook command lines to argv or shell, directory URLs to aliases, and the
 * plan that merges found certificates into a manifest (issuer reuse, conflicts, idempotence).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAcmeShConf } from '../../src/import/acmesh.js';
import { certbotDuration } from '../../src/import/certbot.js';
import { configList, configSection, configString, parseConfigObj } from '../../src/import/configobj.js';
import { mergeIntoManifest, planImport } from '../../src/import/plan.js';
import { directoryAlias, hookFromCommandLine, manifestName } from '../../src/import/translate.js';
import type { FoundCertificate } from '../../src/import/types.js';
import type { Manifest } from '../../src/manifest/types.js';

const RENEWAL_CONF = `# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/example.com
cert = /etc/letsencrypt/live/example.com/cert.pem
privkey = /etc/letsencrypt/live/example.com/privkey.pem
renew_before_expiry = 20 days

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-v02.api.letsencrypt.org/directory
key_type = rsa
rsa_key_size = 4096
renew_hook = systemctl reload nginx; logger "renewed # done"
post_hook = 'echo "done; really"'
pre_hook = "service haproxy stop"  # stop it first
[[webroot_map]]
example.com = /var/www/html
www.example.com = /var/www/www
`;

describe('certbot renewal files (configobj through ini)', () => {
  test('sections, nested webroot_map, lists, and values with ; and quotes', () => {
    const conf = parseConfigObj(RENEWAL_CONF);
    assert.equal(configString(conf, 'version'), '2.1.0');
    assert.equal(configString(conf, 'renew_before_expiry'), '20 days');
    const params = configSection(conf, 'renewalparams');
    assert.equal(configString(params, 'authenticator'), 'webroot');
    assert.equal(configString(params, 'rsa_key_size'), '4096');
    assert.deepEqual(configList(params?.webroot_path), ['/var/www/html']);
    // configobj keeps ';' and cuts an unquoted value at ' #'.
    assert.equal(configString(params, 'renew_hook'), 'systemctl reload nginx; logger "renewed');
    assert.equal(configString(params, 'post_hook'), 'echo "done; really"');
    assert.equal(configString(params, 'pre_hook'), 'service haproxy stop');
    assert.deepEqual(configSection(params, 'webroot_map'), {
      'example.com': '/var/www/html',
      'www.example.com': '/var/www/www',
    });
  });

  test('renew_before_expiry durations', () => {
    assert.equal(certbotDuration('30 days'), '30d');
    assert.equal(certbotDuration('2 weeks'), '2w');
    assert.equal(certbotDuration('12 hours'), '12h');
    assert.equal(certbotDuration('a month'), undefined);
  });
});

describe('acme.sh .conf files', () => {
  test("KEY='value' lines, base64-stored commands, quotes and comments", () => {
    const b64 = Buffer.from("systemctl reload nginx && echo 'ok'").toString('base64');
    const conf = parseAcmeShConf(
      [
        "Le_Domain='example.com'",
        "Le_Alt='www.example.com,api.example.com'",
        '#Le_Webroot=/commented',
        "Le_Webroot='/var/www/html'",
        'Le_Keylength="ec-256"',
        "Le_API='https://acme-v02.api.letsencrypt.org/directory'",
        `Le_ReloadCmd='__ACME_BASE64__START_${b64}__ACME_BASE64__END_'`,
        "Le_Quoted='it'\\''s'",
        '',
      ].join('\n'),
    );
    assert.equal(conf.get('Le_Domain'), 'example.com');
    assert.equal(conf.get('Le_Webroot'), '/var/www/html');
    assert.equal(conf.get('Le_Keylength'), 'ec-256');
    assert.equal(conf.get('Le_ReloadCmd'), "systemctl reload nginx && echo 'ok'");
    assert.equal(conf.get('Le_Quoted'), "it's");
    assert.equal(directoryAlias(conf.get('Le_API') ?? ''), 'letsencrypt');
  });
});

describe('translations', () => {
  test('hook command lines: argv when plain words, the line with shell: true otherwise', () => {
    assert.deepEqual(hookFromCommandLine('systemctl reload nginx'), {
      run: ['systemctl', 'reload', 'nginx'],
    });
    assert.deepEqual(hookFromCommandLine("/usr/local/bin/deploy 'my site'"), {
      run: ['/usr/local/bin/deploy', 'my site'],
    });
    for (const line of [
      'a && b',
      'echo $RENEWED_LINEAGE',
      'cp *.pem /x',
      'a; b',
      'a | b',
      'a > f',
      'cd ~/x',
    ]) {
      assert.deepEqual(hookFromCommandLine(line), { run: line, shell: true }, line);
    }
  });

  test('directory URLs to aliases', () => {
    assert.equal(directoryAlias('https://acme-v02.api.letsencrypt.org/directory'), 'letsencrypt');
    assert.equal(
      directoryAlias('https://acme-staging-v02.api.letsencrypt.org/directory'),
      'letsencrypt-staging',
    );
    assert.equal(
      directoryAlias('https://ca.internal/acme/acme/directory'),
      'https://ca.internal/acme/acme/directory',
    );
  });

  test('manifest names from lineages and domains', () => {
    assert.equal(manifestName('example.com-0001'), 'example.com-0001');
    assert.equal(manifestName('*.example.com'), 'wildcard.example.com');
    assert.equal(manifestName('_.example.com'), 'wildcard.example.com');
    assert.equal(manifestName('ex ample/../x'), 'ex_ample_.._x');
  });
});

const found = (name: string, domains: string[], extra: Partial<FoundCertificate> = {}): FoundCertificate => ({
  name,
  domains,
  bundle: { certPem: '', chainPem: '', keyPem: '' },
  source: `/src/${name}`,
  ...extra,
});

const base: Manifest = {
  version: 1,
  defaults: { store: 'files' },
  issuers: {
    le: { type: 'acme', directory: 'letsencrypt', challenge: { type: 'http-01', standalone: ':80' } },
  },
  stores: { files: { type: 'filesystem', path: '/srv/certs' } },
  certificates: [{ name: 'old', domains: ['old.example.com'], issuer: 'le' }],
};
const paths = (_store: string, name: string) => ({
  dir: `/srv/certs/${name}`,
  cert: `/srv/certs/${name}/cert.pem`,
  chain: `/srv/certs/${name}/chain.pem`,
  fullchain: `/srv/certs/${name}/fullchain.pem`,
  privkey: `/srv/certs/${name}/privkey.pem`,
});

describe('planning an import', () => {
  test('reuses the issuer with the same directory; a new directory gets a new issuer; challenges only where they differ', () => {
    const plan = planImport(
      base,
      [
        found('a', ['a.example.com'], {
          directory: 'https://acme-v02.api.letsencrypt.org/directory',
          challenge: { type: 'http-01', standalone: ':80' },
        }),
        found('b', ['b.example.com'], {
          directory: 'letsencrypt',
          challenge: { type: 'http-01', webroot: '/var/www' },
          keyType: 'rsa-2048',
        }),
        found('c', ['c.example.com'], {
          directory: 'https://ca.internal:8443/acme/directory',
          challenge: { type: 'http-01', webroot: '/var/www' },
          email: 'ops@example.com',
          preferredChain: 'ISRG Root X1',
        }),
      ],
      { paths, caBundle: '/etc/ca.pem' },
    );
    assert.deepEqual(plan.conflicts, []);
    assert.deepEqual(
      plan.certificates.map((c) => c.entry),
      [
        { name: 'a', domains: ['a.example.com'], issuer: 'le' },
        {
          name: 'b',
          domains: ['b.example.com'],
          issuer: 'le',
          keyType: 'rsa-2048',
          challenge: { type: 'http-01', webroot: '/var/www' },
        },
        { name: 'c', domains: ['c.example.com'], issuer: 'acme-ca.internal-8443' },
      ],
    );
    assert.deepEqual(plan.issuers, {
      'acme-ca.internal-8443': {
        type: 'acme',
        directory: 'https://ca.internal:8443/acme/directory',
        email: 'ops@example.com',
        caBundle: '/etc/ca.pem',
        challenge: { type: 'http-01', webroot: '/var/www' },
        preferredChain: 'ISRG Root X1',
      },
    });
    assert.deepEqual(plan.untranslated, []);
  });

  test('a certificate whose challenge was not translated is told which one it inherits', () => {
    const plan = planImport(
      base,
      [
        found('web', ['web.example.com'], {
          directory: 'https://ca.internal/dir',
          challenge: { type: 'http-01', standalone: ':80' },
        }),
        found('manual', ['manual.example.com'], { directory: 'https://ca.internal/dir' }),
        // Every certificate of a directory untranslated: the issuer's placeholder is said once, for it.
        found('lone', ['lone.example.com'], { directory: 'https://other.internal/dir' }),
      ],
      { paths },
    );
    assert.ok(
      plan.untranslated.some(
        (u) =>
          u.name === 'manual' &&
          u.message ===
            'its challenge was not translated: until you set its own "challenge", it renews with the one it inherits, {"type":"http-01","standalone":":80"}',
      ),
      JSON.stringify(plan.untranslated),
    );
    assert.ok(!plan.untranslated.some((u) => u.name === 'lone'), JSON.stringify(plan.untranslated));
    assert.equal(plan.untranslated.length, 2, JSON.stringify(plan.untranslated));
  });

  test('an entry already there is present; a name taken by other domains is a conflict; merging twice adds nothing', () => {
    const plan = planImport(
      base,
      [
        found('old', ['old.example.com'], { directory: 'letsencrypt' }),
        found('a', ['a.example.com'], { directory: 'letsencrypt' }),
      ],
      { paths },
    );
    assert.deepEqual(
      plan.certificates.map((c) => [c.entry.name, c.state]),
      [
        ['old', 'present'],
        ['a', 'added'],
      ],
    );
    const merged = mergeIntoManifest(base, plan, new Set(['old', 'a']));
    assert.equal(merged.certificates.length, 2);
    const again = planImport(merged, [found('a', ['a.example.com'], { directory: 'letsencrypt' })], {
      paths,
    });
    assert.equal(
      mergeIntoManifest(merged, again, new Set(['a'])),
      merged,
      'the same object: nothing to write',
    );

    const conflict = planImport(base, [found('old', ['new.example.com'], { directory: 'letsencrypt' })], {
      paths,
    });
    assert.equal(conflict.certificates.length, 0);
    assert.match(conflict.conflicts[0]?.message ?? '', /already has a certificate 'old' for other domains/);
  });

  test("hooks that read the source's variables get them pointed at the store; default hooks are kept", () => {
    const withDefaults: Manifest = {
      ...base,
      defaults: { store: 'files', hooks: { postRenew: [{ run: ['/usr/bin/notify'] }] } },
    };
    const plan = planImport(
      withDefaults,
      [
        found('a', ['a.example.com', 'www.a.example.com'], {
          directory: 'letsencrypt',
          postRenew: [{ spec: { run: 'cp $RENEWED_LINEAGE/*.pem /x', shell: true }, legacyEnv: 'certbot' }],
        }),
      ],
      { paths },
    );
    assert.deepEqual(plan.certificates[0]?.entry.hooks, {
      postRenew: [
        { run: ['/usr/bin/notify'] },
        {
          run: 'cp $RENEWED_LINEAGE/*.pem /x',
          shell: true,
          env: { RENEWED_LINEAGE: '/srv/certs/a', RENEWED_DOMAINS: 'a.example.com www.a.example.com' },
        },
      ],
    });
  });

  test('the store must exist; a PEM pair needs an issuer', () => {
    assert.throws(
      () => planImport(base, [], { paths, store: 'nope' }),
      /store 'nope' is not in the manifest/,
    );
    assert.throws(
      () => planImport(base, [found('p', ['p.example.com'])], { paths }),
      (error: Error & { hint?: string }) => /--issuer/.test(error.hint ?? ''),
    );
    const plan = planImport(base, [found('p', ['p.example.com'])], { paths, issuer: 'le' });
    assert.deepEqual(plan.certificates[0]?.entry, { name: 'p', domains: ['p.example.com'], issuer: 'le' });
  });
});
