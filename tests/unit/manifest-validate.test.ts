import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { positionAt } from '../../src/manifest/positions.js';
import { checkManifestText, compactDuration, type Diagnostic } from '../../src/manifest/validate.js';

const DAY = 86_400_000;
const root = new URL('../../../', import.meta.url);

// biome-ignore lint/suspicious/noExplicitAny: tests mutate manifests freely, valid or not
type Loose = any;

function base(): Loose {
  return {
    version: 1,
    defaults: { issuer: 'le', store: 'files' },
    issuers: {
      le: {
        type: 'acme',
        directory: 'https://acme.example/directory',
        email: 'ops@example.com',
        challenge: { type: 'http-01', webroot: '/var/www/acme' },
      },
      dns: {
        type: 'acme',
        directory: 'letsencrypt',
        challenge: { type: 'dns-01', exec: '/usr/local/bin/dns' },
      },
      ca: {
        type: 'step-ca',
        url: 'https://ca.example:9000',
        rootFingerprint: 'ab'.repeat(32),
        provisioner: 'cert-renew',
        password: { env: 'STEP_PASSWORD' },
        lifetime: '7d',
      },
      local: { type: 'local-ca' },
    },
    stores: {
      files: { type: 'filesystem', path: './certs' },
      cache: { type: 'redis', url: 'redis://127.0.0.1:6379' },
    },
    certificates: [
      { name: 'web', domains: ['www.example.com', 'example.com'] },
      { name: 'api', domains: ['api.example.com'], issuer: 'ca' },
    ],
  };
}

function check(manifest: Loose, intervalMs = DAY) {
  const text = JSON.stringify(manifest, null, 2);
  return { text, ...checkManifestText(text, 'm.json', { intervalMs }) };
}

interface Row {
  title: string;
  mutate: (m: Loose) => void;
  pointer: string;
  message: RegExp;
  /** A snippet of the text where the diagnostic must point (its first occurrence after `after`). */
  at: string;
  after?: string;
  severity?: 'error' | 'warning';
  intervalMs?: number;
}

const rows: Row[] = [
  // Schema: top level
  {
    title: 'version must be 1',
    mutate: (m) => {
      m.version = 2;
    },
    pointer: '/version',
    message: /must be 1/,
    at: '"version"',
  },
  {
    title: 'required top-level property',
    mutate: (m) => {
      delete m.certificates;
    },
    pointer: '',
    message: /missing required property 'certificates'/,
    at: '{',
  },
  {
    title: 'unknown top-level property',
    mutate: (m) => {
      m.certificate = [];
    },
    pointer: '',
    message: /unknown property 'certificate' \(did you mean 'certificates'\?\)/,
    at: '"certificate"',
  },
  {
    title: 'issuer at the top level',
    mutate: (m) => {
      m.issuer = 'le';
    },
    pointer: '',
    message: /unknown property 'issuer'.*defaults/,
    at: '"issuer": "le"',
    after: '"certificates"',
  },
  // Issuers
  {
    title: 'unknown issuer property',
    mutate: (m) => {
      m.issuers.le.directroy = 'x';
    },
    pointer: '/issuers/le',
    message: /^unknown property 'directroy' \(did you mean 'directory'\?\)$/,
    at: '"directroy"',
  },
  {
    title: 'unknown issuer type',
    mutate: (m) => {
      m.issuers.le.type = 'acmee';
    },
    pointer: '/issuers/le/type',
    message: /'acmee' is not a known type; use 'acme', 'step-ca' or 'local-ca' \(did you mean 'acme'\?\)/,
    at: '"type": "acmee"',
  },
  {
    title: 'acme needs a challenge',
    mutate: (m) => {
      delete m.issuers.le.challenge;
    },
    pointer: '/issuers/le',
    message: /missing required property 'challenge'/,
    at: '"le": {',
  },
  {
    title: 'directory alias typo',
    mutate: (m) => {
      m.issuers.dns.directory = 'letsencrpyt';
    },
    pointer: '/issuers/dns/directory',
    message: /not a known ACME directory alias.*did you mean 'letsencrypt'/,
    at: '"directory": "letsencrpyt"',
  },
  {
    title: 'directory must be https',
    mutate: (m) => {
      m.issuers.le.directory = 'http://acme.example/dir';
    },
    pointer: '/issuers/le/directory',
    message: /must be an https:\/\/ URL/,
    at: '"directory": "http:',
  },
  {
    title: 'email format',
    mutate: (m) => {
      m.issuers.le.email = 'not an email';
    },
    pointer: '/issuers/le/email',
    message: /is not an email address/,
    at: '"email"',
  },
  {
    title: 'secret as a plain string',
    mutate: (m) => {
      m.issuers.ca.password = 'hunter2';
    },
    pointer: '/issuers/ca/password',
    message: /must be a secret reference, not a string: use \{"env": "NAME"\} or \{"file": "\/path"\}/,
    at: '"password"',
  },
  {
    title: 'secret with env and file',
    mutate: (m) => {
      m.issuers.ca.password = { env: 'A', file: '/b' };
    },
    pointer: '/issuers/ca/password',
    message: /has both 'env' and 'file'/,
    at: '"password"',
  },
  {
    title: 'empty secret reference',
    mutate: (m) => {
      m.issuers.ca.password = {};
    },
    pointer: '/issuers/ca/password',
    message: /empty secret reference/,
    at: '"password"',
  },
  {
    title: 'secret with an unknown key',
    mutate: (m) => {
      m.issuers.ca.password = { value: 'x' };
    },
    pointer: '/issuers/ca/password',
    message: /unknown property 'value'/,
    at: '"value"',
  },
  {
    title: 'env var name',
    mutate: (m) => {
      m.issuers.ca.password = { env: '1PASSWORD' };
    },
    pointer: '/issuers/ca/password/env',
    message: /not an environment variable name/,
    at: '"env": "1PASSWORD"',
  },
  {
    title: 'root fingerprint',
    mutate: (m) => {
      m.issuers.ca.rootFingerprint = 'abc';
    },
    pointer: '/issuers/ca/rootFingerprint',
    message: /not a SHA-256 fingerprint/,
    at: '"rootFingerprint"',
  },
  {
    title: 'bad issuer name',
    mutate: (m) => {
      m.issuers['bad name'] = { type: 'local-ca' };
    },
    pointer: '/issuers/bad name',
    message: /issuer name 'bad name' is not safe/,
    at: '"bad name"',
  },
  {
    title: 'local-ca store must exist',
    mutate: (m) => {
      m.issuers.local.store = 'ca-store';
    },
    pointer: '/issuers/local/store',
    message: /store 'ca-store' is not defined in 'stores' \(defined: files, cache\)/,
    at: '"store": "ca-store"',
  },
  // Challenges
  {
    title: 'http-01 with two forms',
    mutate: (m) => {
      m.issuers.le.challenge.standalone = ':80';
    },
    pointer: '/issuers/le/challenge',
    message:
      /has 'webroot' and 'standalone'; give only one of 'webroot', 'challengeDirectory', 'standalone' or 'redis'/,
    at: '"challenge"',
  },
  {
    title: 'http-01 with no form',
    mutate: (m) => {
      m.issuers.le.challenge = { type: 'http-01' };
    },
    pointer: '/issuers/le/challenge',
    message: /needs one of 'webroot', 'challengeDirectory', 'standalone' or 'redis'/,
    at: '"challenge"',
  },
  {
    title: 'ttl only with redis',
    mutate: (m) => {
      m.issuers.le.challenge.ttl = '5m';
    },
    pointer: '/issuers/le/challenge',
    message: /'ttl' only applies together with 'redis'/,
    at: '"challenge"',
  },
  {
    title: 'standalone port range',
    mutate: (m) => {
      m.issuers.le.challenge = { type: 'http-01', standalone: ':99999' };
    },
    pointer: '/issuers/le/challenge/standalone',
    message: /port 99999 is out of range/,
    at: '"standalone"',
  },
  {
    title: 'challenge.redis names a filesystem store',
    mutate: (m) => {
      m.issuers.le.challenge = { type: 'http-01', redis: 'files' };
    },
    pointer: '/issuers/le/challenge/redis',
    message: /store 'files' is a filesystem store; an http-01 challenge in 'redis' needs a redis store/,
    at: '"redis": "files"',
  },
  {
    title: 'challenge.redis names a missing store',
    mutate: (m) => {
      m.issuers.le.challenge = { type: 'http-01', redis: 'cach' };
    },
    pointer: '/issuers/le/challenge/redis',
    message: /store 'cach' is not defined in 'stores' \(did you mean 'cache'\?\)/,
    at: '"redis": "cach"',
  },
  {
    title: 'dns-01 needs a provider',
    mutate: (m) => {
      delete m.issuers.dns.challenge.exec;
    },
    pointer: '/issuers/dns/challenge',
    message: /needs one of 'exec', 'rfc2136' or 'powerdns'/,
    at: '"challenge": {\n        "type": "dns-01"',
  },
  {
    title: 'unknown challenge type',
    mutate: (m) => {
      m.issuers.le.challenge.type = 'tls-alpn-01';
    },
    pointer: '/issuers/le/challenge/type',
    message: /'tls-alpn-01' is not a known type; use 'http-01' or 'dns-01'/,
    at: '"type": "tls-alpn-01"',
  },
  // Stores
  {
    title: 'redis needs url, sentinel or cluster',
    mutate: (m) => {
      delete m.stores.cache.url;
    },
    pointer: '/stores/cache',
    message: /needs one of 'url', 'sentinel' or 'cluster'/,
    at: '"cache"',
  },
  {
    title: 'redis with url and cluster',
    mutate: (m) => {
      m.stores.cache.cluster = { nodes: [{ host: 'a', port: 7000 }] };
    },
    pointer: '/stores/cache',
    message: /has 'url' and 'cluster'; give only one/,
    at: '"cache"',
  },
  {
    title: 'redis url scheme',
    mutate: (m) => {
      m.stores.cache.url = 'http://127.0.0.1:6379';
    },
    pointer: '/stores/cache/url',
    message: /must be a redis:\/\/ or rediss:\/\/ URL/,
    at: '"url": "http://127',
  },
  {
    title: 'redis node port',
    mutate: (m) => {
      m.stores.cache = { type: 'redis', sentinel: { name: 'mymaster', sentinels: [{ host: 'a', port: 0 }] } };
    },
    pointer: '/stores/cache/sentinel/sentinels/0/port',
    message: /0 must be >= 1/,
    at: '"port"',
  },
  {
    title: 'filesystem keep type',
    mutate: (m) => {
      m.stores.files.keep = '3';
    },
    pointer: '/stores/files/keep',
    message: /must be an integer, not a string/,
    at: '"keep"',
  },
  {
    title: 'filesystem needs path',
    mutate: (m) => {
      delete m.stores.files.path;
    },
    pointer: '/stores/files',
    message: /missing required property 'path'/,
    at: '"files": {',
  },
  {
    title: 'filesystem mode',
    mutate: (m) => {
      m.stores.files.mode = { key: '600x' };
    },
    pointer: '/stores/files/mode/key',
    message: /not an octal file mode/,
    at: '"key": "600x"',
  },
  {
    title: 'file names have no directory',
    mutate: (m) => {
      m.stores.files.files = { privkey: '../key.pem' };
    },
    pointer: '/stores/files/files/privkey',
    message: /not a plain file name/,
    at: '"privkey"',
  },
  {
    title: 'locks names a redis store',
    mutate: (m) => {
      m.stores.files.locks = 'files';
    },
    pointer: '/stores/files/locks',
    message: /store 'files' is a filesystem store; 'locks' needs a redis store/,
    at: '"locks"',
  },
  {
    title: 'unknown store type',
    mutate: (m) => {
      m.stores.files.type = 's3';
    },
    pointer: '/stores/files/type',
    message: /'s3' is not a known type; use 'filesystem' or 'redis'/,
    at: '"type": "s3"',
  },
  // Settings
  {
    title: 'duration pattern',
    mutate: (m) => {
      m.defaults.renewBefore = '30 days';
    },
    pointer: '/defaults/renewBefore',
    message: /'30 days' is not a duration/,
    at: '"renewBefore"',
  },
  {
    title: 'key type',
    mutate: (m) => {
      m.certificates[0].keyType = 'rsa-1024';
    },
    pointer: '/certificates/0/keyType',
    message: /'rsa-1024' is not one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096/,
    at: '"keyType"',
  },
  {
    title: 'renewBeforePercent range',
    mutate: (m) => {
      m.certificates[0].renewBeforePercent = 100;
    },
    pointer: '/certificates/0/renewBeforePercent',
    message: /100 must be < 100/,
    at: '"renewBeforePercent"',
  },
  {
    title: 'renewBefore and renewBeforePercent',
    mutate: (m) => {
      m.certificates[0].renewBefore = '30d';
      m.certificates[0].renewBeforePercent = 30;
    },
    pointer: '/certificates/0',
    message: /sets both 'renewBefore' and 'renewBeforePercent'; keep one/,
    at: '{\n      "name": "web"',
  },
  {
    title: 'unknown defaults property',
    mutate: (m) => {
      m.defaults.keytype = 'rsa-2048';
    },
    pointer: '/defaults',
    message: /unknown property 'keytype' \(did you mean 'keyType'\?\)/,
    at: '"keytype"',
  },
  {
    title: 'unknown certificate property',
    mutate: (m) => {
      m.certificates[1].domain = 'x';
    },
    pointer: '/certificates/1',
    message: /unknown property 'domain' \(did you mean 'domains'\?\)/,
    at: '"domain"',
  },
  // Names
  {
    title: 'name with a slash',
    mutate: (m) => {
      m.certificates[0].name = 'a/b';
    },
    pointer: '/certificates/0/name',
    message: /'a\/b' is not a safe name/,
    at: '"name": "a/b"',
  },
  {
    title: 'name with a control character',
    mutate: (m) => {
      m.certificates[0].name = 'a\u0001b';
    },
    pointer: '/certificates/0/name',
    message: /is not a safe name/,
    at: '"name"',
  },
  {
    title: 'name "."',
    mutate: (m) => {
      m.certificates[0].name = '.';
    },
    pointer: '/certificates/0/name',
    message: /is not a safe name/,
    at: '"name"',
  },
  {
    title: 'name with ".."',
    mutate: (m) => {
      m.certificates[0].name = 'a..b';
    },
    pointer: '/certificates/0/name',
    message: /'a\.\.b' contains '\.\.'/,
    at: '"name"',
  },
  {
    title: 'names unique',
    mutate: (m) => {
      m.certificates[1].name = 'web';
    },
    pointer: '/certificates/1/name',
    message: /name 'web' is already used by certificates\/0; names must be unique/,
    at: '"name": "web"',
    after: '"name": "web"',
  },
  {
    title: 'names unique ignoring case',
    mutate: (m) => {
      m.certificates[1].name = 'WEB';
    },
    pointer: '/certificates/1/name',
    message: /differs only in case from 'web'/,
    at: '"name": "WEB"',
  },
  // Domains
  {
    title: 'no domains',
    mutate: (m) => {
      m.certificates[0].domains = [];
    },
    pointer: '/certificates/0/domains',
    message: /must not be empty/,
    at: '"domains"',
  },
  {
    title: 'domain with an underscore',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'foo_bar.example.com';
    },
    pointer: '/certificates/0/domains/1',
    message: /'foo_bar\.example\.com' has the label 'foo_bar'/,
    at: '"foo_bar',
  },
  {
    title: 'domain is an IP address',
    mutate: (m) => {
      m.certificates[0].domains[1] = '192.0.2.1';
    },
    pointer: '/certificates/0/domains/1',
    message: /is an IP address/,
    at: '"192.0.2.1"',
  },
  {
    title: 'domain with a trailing dot',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'example.com.';
    },
    pointer: '/certificates/0/domains/1',
    message: /ends with a dot; write 'example\.com'/,
    at: '"example.com."',
  },
  {
    title: 'domain with an empty label',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'a..example.com';
    },
    pointer: '/certificates/0/domains/1',
    message: /empty label/,
    at: '"a..example.com"',
  },
  {
    title: 'label too long',
    mutate: (m) => {
      m.certificates[0].domains[1] = `${'a'.repeat(64)}.example.com`;
    },
    pointer: '/certificates/0/domains/1',
    message: /longer than 63/,
    at: '"aaaa',
  },
  {
    title: 'wildcard not leftmost',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'www.*.example.com';
    },
    pointer: '/certificates/0/domains/1',
    message: /'\*' that is not the whole leftmost label/,
    at: '"www.*',
  },
  {
    title: 'partial wildcard label',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'w*.example.com';
    },
    pointer: '/certificates/0/domains/1',
    message: /'\*' that is not the whole leftmost label/,
    at: '"w*',
  },
  {
    title: 'duplicate domain (case)',
    mutate: (m) => {
      m.certificates[0].domains[1] = 'WWW.Example.com';
    },
    pointer: '/certificates/0/domains/1',
    message: /'WWW\.Example\.com' is listed twice \(also domains\/0\)/,
    at: '"WWW',
  },
  {
    title: 'duplicate domain after punycode',
    mutate: (m) => {
      m.certificates[0].domains = ['bücher.example', 'xn--bcher-kva.example'];
    },
    pointer: '/certificates/0/domains/1',
    message: /is listed twice \(also domains\/0\)/,
    at: '"xn--',
  },
  {
    title: 'IDN shown in punycode',
    mutate: (m) => {
      m.certificates[0].domains = ['bücher.example', '*.bücher.example'];
    },
    pointer: '/certificates/0/domains/1',
    message: /^'\*\.bücher\.example' \(punycode '\*\.xn--bcher-kva\.example'\) is a wildcard/,
    at: '"*.b',
  },
  {
    title: 'wildcard needs dns-01 (issuer)',
    mutate: (m) => {
      m.certificates[0].domains[0] = '*.example.com';
    },
    pointer: '/certificates/0/domains/0',
    message:
      /^'\*\.example\.com' is a wildcard; wildcards need a dns-01 challenge, but issuer 'le' uses http-01$/,
    at: '"*.example.com"',
  },
  {
    title: 'wildcard needs dns-01 (certificate override)',
    mutate: (m) => {
      m.certificates[0].issuer = 'dns';
      m.certificates[0].domains[0] = '*.example.com';
      m.certificates[0].challenge = { type: 'http-01', webroot: '/w' };
    },
    pointer: '/certificates/0/domains/0',
    message: /but this certificate's challenge is http-01/,
    at: '"*.example.com"',
  },
  // References
  {
    title: 'issuer must exist',
    mutate: (m) => {
      m.certificates[1].issuer = 'caa';
    },
    pointer: '/certificates/1/issuer',
    message: /issuer 'caa' is not defined in 'issuers' \(did you mean 'ca'\?\)/,
    at: '"issuer": "caa"',
  },
  {
    title: 'default issuer must exist',
    mutate: (m) => {
      m.defaults.issuer = 'nope';
    },
    pointer: '/defaults/issuer',
    message: /issuer 'nope' is not defined/,
    at: '"issuer": "nope"',
  },
  {
    title: 'store must exist',
    mutate: (m) => {
      m.certificates[1].store = 'nope';
    },
    pointer: '/certificates/1/store',
    message: /store 'nope' is not defined in 'stores'/,
    at: '"store": "nope"',
  },
  {
    title: 'no issuer anywhere',
    mutate: (m) => {
      delete m.defaults.issuer;
    },
    pointer: '/certificates/0',
    message: /'web' has no issuer: set 'issuer' here or in 'defaults'/,
    at: '{\n      "name": "web"',
  },
  {
    title: 'no store anywhere',
    mutate: (m) => {
      delete m.defaults.store;
    },
    pointer: '/certificates/0',
    message: /'web' has no store/,
    at: '{\n      "name": "web"',
  },
  // Lifetimes and windows
  {
    title: 'renewBefore not shorter than the lifetime',
    mutate: (m) => {
      m.certificates[1].renewBefore = '7d';
    },
    pointer: '/certificates/1/renewBefore',
    message: /renewBefore 7d is not shorter than the 7d lifetime issuer 'ca' gives/,
    at: '"renewBefore"',
  },
  {
    title: "a step-ca url with a path (an ACME directory's): every run would ask the CA's API under it",
    mutate: (m) => {
      m.issuers.ca.url = 'https://ca.example:9000/acme';
    },
    pointer: '/issuers/ca/url',
    message:
      /'https:\/\/ca\.example:9000\/acme' has '\/acme' after the host: step-ca's url is its base URL, https:\/\/ca\.example:9000, with no path/,
    at: '"url": "https://ca.example:9000/acme"',
  },
  {
    title: 'a step-ca url with an empty query (the URL parser would drop it, the API paths would not)',
    mutate: (m) => {
      m.issuers.ca.url = 'https://ca.example:9000/?';
    },
    pointer: '/issuers/ca/url',
    message:
      /has '\/\?…' after the host: step-ca's url is its base URL, https:\/\/ca\.example:9000, with no path/,
    at: '"url": "https://ca.example:9000/?"',
  },
  {
    title: "renewBefore against step-ca's 24h default",
    mutate: (m) => {
      delete m.issuers.ca.lifetime;
      m.certificates[1].renewBefore = '30d';
    },
    pointer: '/certificates/1/renewBefore',
    message: /not shorter than the 24h lifetime issuer 'ca' gives \(step-ca's default/,
    at: '"renewBefore"',
  },
  {
    title: "renewBefore against ACME's assumed 90d",
    mutate: (m) => {
      m.defaults.renewBefore = '90d';
    },
    pointer: '/defaults/renewBefore',
    message: /not shorter than the 90d lifetime issuer 'le' gives/,
    at: '"renewBefore"',
  },
  {
    title: "a certificate's own lifetime (local-ca)",
    mutate: (m) => {
      m.certificates[0].issuer = 'local';
      m.certificates[0].lifetime = '2h';
      m.certificates[0].renewBefore = '3h';
    },
    pointer: '/certificates/0/renewBefore',
    message: /renewBefore 3h is not shorter than the 2h lifetime this certificate asks for/,
    at: '"renewBefore"',
  },
  {
    title: 'window warning (default window)',
    mutate: (m) => {
      delete m.issuers.ca.lifetime;
    },
    pointer: '/issuers/ca',
    message:
      /renewal window is 12h \(by default half of the 24h lifetime.*fewer than three runs at an interval of 24h; run at least every 4h/,
    at: '"ca": {',
    severity: 'warning',
  },
  {
    title: 'window warning (renewBefore)',
    mutate: (m) => {
      m.certificates[1].renewBefore = '2d';
    },
    pointer: '/certificates/1/renewBefore',
    message: /renewal window is 2d \(renewBefore 2d\).*run at least every 16h/,
    at: '"renewBefore"',
    severity: 'warning',
  },
  {
    title: 'no window at all (renewBefore 0s): renewed only once expired, said plainly',
    mutate: (m) => {
      m.certificates[1].renewBefore = '0s';
    },
    pointer: '/certificates/1/renewBefore',
    message:
      /^renewBefore 0s leaves no renewal window: the certificate would be renewed only once it has expired/,
    at: '"renewBefore"',
    severity: 'warning',
  },
  {
    title: 'window warning (percent)',
    mutate: (m) => {
      m.certificates[1].renewBeforePercent = 10;
    },
    pointer: '/certificates/1/renewBeforePercent',
    message: /renewal window is 16h48m \(10% of the 7d lifetime/,
    at: '"renewBeforePercent"',
    severity: 'warning',
  },
  // Hooks
  {
    title: 'string hook without shell',
    mutate: (m) => {
      m.defaults.hooks = { postRenew: [{ run: 'systemctl reload nginx' }] };
    },
    pointer: '/defaults/hooks/postRenew/0/run',
    message:
      /needs a shell; give it as an argv array, \["systemctl","reload","nginx"\], or add "shell": true/,
    at: '"run"',
  },
  {
    title: 'string hook with shell operators',
    mutate: (m) => {
      m.certificates[0].hooks = { onFailure: [{ run: 'nginx -t && nginx -s reload' }] };
    },
    pointer: '/certificates/0/hooks/onFailure/0/run',
    message: /add "shell": true/,
    at: '"run"',
  },
  {
    title: 'empty argv',
    mutate: (m) => {
      m.defaults.hooks = { postRenew: [{ run: [] }] };
    },
    pointer: '/defaults/hooks/postRenew/0/run',
    message: /must not be empty/,
    at: '"run"',
  },
  {
    title: 'hook timeout',
    mutate: (m) => {
      m.defaults.hooks = { postRenew: [{ run: ['true'], timeout: 30 }] };
    },
    pointer: '/defaults/hooks/postRenew/0/timeout',
    message: /must be a string, not an integer/,
    at: '"timeout"',
  },
  {
    title: 'hook env names',
    mutate: (m) => {
      m.defaults.hooks = { postRenew: [{ run: ['true'], env: { 'A-B': 'x' } }] };
    },
    pointer: '/defaults/hooks/postRenew/0/env/A-B',
    message: /'A-B' is not an environment variable name/,
    at: '"A-B"',
  },
  {
    title: 'challenge ignored by non-acme issuers',
    mutate: (m) => {
      m.certificates[1].challenge = { type: 'dns-01', exec: 'x' };
    },
    pointer: '/certificates/1/challenge',
    message: /is ignored: issuer 'ca' is step-ca/,
    at: '"challenge"',
    after: '"api.example.com"',
    severity: 'warning',
  },
  {
    title: 'a Redis URL with a query is an error that never repeats its values',
    mutate: (m) => {
      m.stores.cache.url = 'redis://127.0.0.1:6379/0?password=hunter2';
    },
    pointer: '/stores/cache/url',
    message: /^'redis:\/\/127\.0\.0\.1:6379\/0\?password=\*\*\*' has a query or fragment/,
    at: '"url": "redis://127.0.0.1:6379/0?password=hunter2"',
  },
  {
    title: 'a password in a Redis URL is a warning that never repeats it',
    mutate: (m) => {
      m.stores.cache.url = 'redis://ops:S3cret-pw@127.0.0.1:6379/0';
    },
    pointer: '/stores/cache/url',
    message: /^holds a password in clear \(redis:\/\/\*\*\*@…\).*"password": \{"env"/,
    at: '"url": "redis://ops:S3cret-pw@127.0.0.1:6379/0"',
    severity: 'warning',
  },
  // dns-01 providers
  {
    title: 'dns-01 takes one provider, not two',
    mutate: (m) => {
      m.issuers.dns.challenge.rfc2136 = { server: 'ns1.example.com', keyName: 'k', secret: { env: 'TSIG' } };
    },
    pointer: '/issuers/dns/challenge',
    message: /exec|rfc2136/,
    at: '"challenge": {\n        "type": "dns-01"',
  },
  {
    title: 'rfc2136 secret must be a secret reference',
    mutate: (m) => {
      m.issuers.dns.challenge = {
        type: 'dns-01',
        rfc2136: { server: 'ns1.example.com', keyName: 'k', secret: 'c2VjcmV0' },
      };
    },
    pointer: '/issuers/dns/challenge/rfc2136/secret',
    message: /must be a secret reference/,
    at: '"secret": "c2VjcmV0"',
  },
  {
    title: 'rfc2136 server port out of range',
    mutate: (m) => {
      m.issuers.dns.challenge = {
        type: 'dns-01',
        rfc2136: { server: 'ns1.example.com:99999', keyName: 'k', secret: { env: 'TSIG' } },
      };
    },
    pointer: '/issuers/dns/challenge/rfc2136/server',
    message: /port 99999 is out of range/,
    at: '"server": "ns1.example.com:99999"',
  },
  {
    title: 'nameservers port out of range',
    mutate: (m) => {
      m.issuers.dns.challenge.nameservers = ['192.0.2.1:0'];
    },
    pointer: '/issuers/dns/challenge/nameservers/0',
    message: /port 0 is out of range/,
    at: '"192.0.2.1:0"',
  },
  {
    title: "nameservers ':53': the examples are nameserver addresses, not the rejected form",
    mutate: (m) => {
      m.issuers.dns.challenge.nameservers = [':53'];
    },
    pointer: '/issuers/dns/challenge/nameservers/0',
    message:
      /^':53' is not a nameserver address: a host name or IP address with an optional port, such as '192\.0\.2\.53', '192\.0\.2\.53:53', '\[2001:db8::53\]:53' or 'ns1\.example\.com'$/,
    at: '":53"',
  },
  {
    title: "rfc2136 server ':53'",
    mutate: (m) => {
      m.issuers.dns.challenge = {
        type: 'dns-01',
        rfc2136: { server: ':53', keyName: 'k', secret: { env: 'TSIG' } },
      };
    },
    pointer: '/issuers/dns/challenge/rfc2136/server',
    message: /is not a nameserver address: .*'192\.0\.2\.53:53'/,
    at: '"server": ":53"',
  },
  {
    title: 'propagationInterval must not be 0',
    mutate: (m) => {
      m.issuers.dns.challenge.propagationInterval = '0s';
    },
    pointer: '/issuers/dns/challenge/propagationInterval',
    message: /longer than 0s/,
    at: '"propagationInterval"',
  },
  {
    title: 'powerdns API key in clear over the network',
    mutate: (m) => {
      m.issuers.dns.challenge = {
        type: 'dns-01',
        powerdns: { url: 'http://dns.example.com:8081', apiKey: { env: 'PDNS_API_KEY' } },
      };
    },
    pointer: '/issuers/dns/challenge/powerdns/url',
    message: /in clear to dns\.example\.com: use https/,
    at: '"url": "http://dns.example.com:8081"',
    severity: 'warning',
  },
];

describe('checkManifestText: one row per check', () => {
  test('the base manifest is valid, with no warnings', () => {
    const { manifest, diagnostics } = check(base());
    assert.deepEqual(diagnostics, []);
    assert.ok(manifest);
  });

  test('one error per place: what the schema said is not said again by a meaning check', () => {
    const m = base();
    m.stores.cache.url = 'http://127.0.0.1:6379';
    m.certificates[0].name = '../x';
    const { diagnostics } = check(m);
    for (const pointer of ['/stores/cache/url', '/certificates/0/name']) {
      assert.equal(
        diagnostics.filter((d) => d.pointer === pointer).length,
        1,
        diagnostics.map((d) => `${d.pointer}: ${d.message}`).join('\n'),
      );
    }
  });

  for (const row of rows) {
    test(row.title, () => {
      const m = base();
      row.mutate(m);
      const { text, manifest, diagnostics } = check(m, row.intervalMs);
      const found = diagnostics.find((d) => d.pointer === row.pointer && row.message.test(d.message));
      assert.ok(
        found,
        `no diagnostic at ${row.pointer} matching ${row.message}; got:\n${diagnostics.map((d) => `${d.pointer}: ${d.message}`).join('\n')}`,
      );
      assert.equal(found.severity, row.severity ?? 'error');
      assert.equal(found.file, 'm.json');
      const start = row.after ? text.indexOf(row.after) + 1 : 0;
      const offset = text.indexOf(row.at, start);
      assert.ok(offset >= 0, `snippet ${JSON.stringify(row.at)} not in the text`);
      assert.deepEqual({ line: found.line, column: found.column }, positionAt(text, offset));
      if ((row.severity ?? 'error') === 'error') assert.equal(manifest, undefined);
      else assert.ok(manifest, 'warnings keep the manifest');
    });
  }
});

describe('checkManifestText: documents and edge cases', () => {
  const one = (text: string): Diagnostic => {
    const { diagnostics, manifest } = checkManifestText(text, 'f.json', { intervalMs: DAY });
    assert.equal(manifest, undefined);
    assert.equal(diagnostics.length, 1, diagnostics.map((d) => d.message).join('\n'));
    return diagnostics[0] as Diagnostic;
  };

  test('a truncated file: one error where the text ends', () => {
    const text = JSON.stringify(base(), null, 2);
    const cut = text.slice(0, text.indexOf('"issuers"') + 13);
    const d = one(cut);
    assert.match(d.message, /^invalid JSON: the file ends inside the object opened at line 7, column 14$/);
    assert.deepEqual({ line: d.line, column: d.column }, positionAt(cut, cut.length));
  });

  test('a file cut inside a string points at the string', () => {
    const text = JSON.stringify(base(), null, 2);
    const start = text.indexOf('"https://acme');
    const d = one(text.slice(0, start + 10));
    assert.match(d.message, /the file ends inside a string/);
    assert.deepEqual({ line: d.line, column: d.column }, positionAt(text, start));
  });

  test('a syntax error in the middle', () => {
    const d = one('{\n  "version": 1\n  "issuers": {}\n}');
    assert.match(d.message, /expected ',' or '}' after the value of "version", found '"'/);
    assert.deepEqual([d.line, d.column], [3, 3]);
  });

  test('a non-object document', () => {
    assert.match(one('[]').message, /must be a JSON object .* not an array/);
    assert.match(one('"x"').message, /not a string/);
    assert.match(one('null').message, /not null/);
  });

  test('deep nesting is refused at the cap', () => {
    const d = one(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    assert.match(d.message, /nested more than 64 levels/);
  });

  test('a byte order mark is accepted and positions ignore it', () => {
    const ok = checkManifestText(`\uFEFF${JSON.stringify(base())}`, 'f.json', { intervalMs: DAY });
    assert.ok(ok.manifest);
    const bad = checkManifestText(
      '\uFEFF{"version": 2, "issuers": {}, "stores": {}, "certificates": []}',
      'f.json',
      {
        intervalMs: DAY,
      },
    );
    const d = bad.diagnostics.find((x) => x.pointer === '/version');
    assert.deepEqual([d?.line, d?.column], [1, 2]);
  });

  test('duplicate keys are errors at the second key', () => {
    const text = '{\n  "version": 1,\n  "version": 1,\n  "issuers": {}, "stores": {}, "certificates": []\n}';
    const { diagnostics } = checkManifestText(text, 'f.json', { intervalMs: DAY });
    const d = diagnostics.find((x) =>
      /duplicate key 'version' \(first at line 2, column 3\)/.test(x.message),
    );
    assert.deepEqual([d?.line, d?.column], [3, 3]);
  });

  test('an empty certificate list is valid, with a warning', () => {
    const m = base();
    m.certificates = [];
    const { manifest, diagnostics } = check(m);
    assert.ok(manifest);
    assert.match(diagnostics[0]?.message ?? '', /no certificates/);
  });

  test('the window warning goes away at a shorter interval, and repeats once for many certificates', () => {
    const m = base();
    delete m.issuers.ca.lifetime;
    m.certificates.push({ name: 'api2', domains: ['api2.example.com'], issuer: 'ca' });
    assert.equal(check(m).diagnostics.length, 1);
    assert.deepEqual(check(m, 3_600_000).diagnostics, []);
  });

  test('hostile keys do not reach Object.prototype', () => {
    const m = base();
    m.certificates[0].issuer = 'constructor';
    m.certificates[1].store = '__proto__';
    const { diagnostics } = check(m);
    assert.ok(diagnostics.some((d) => /issuer 'constructor' is not defined/.test(d.message)));
    assert.ok(diagnostics.some((d) => d.pointer === '/certificates/1/store'));
  });

  test('many problems are capped with a last line saying how many more', () => {
    const m = base();
    m.certificates = Array.from({ length: 1500 }, (_, i) => ({
      name: `c${i}`,
      domains: ['bad_name.example'],
    }));
    const { diagnostics, counts } = check(m);
    assert.equal(diagnostics.length, 1000);
    assert.match(diagnostics[999]?.message ?? '', /^501 more problems not shown$/);
    assert.deepEqual(counts, { errors: 1500, warnings: 0 }, 'every problem counted, the ones not shown too');
  });

  test('compactDuration gives strings the manifest accepts', () => {
    assert.equal(compactDuration(24 * 3_600_000), '24h');
    assert.equal(compactDuration(90 * DAY), '90d');
    assert.equal(compactDuration(9_600_000), '2h40m');
    assert.equal(compactDuration(500), '500ms');
  });
});

describe('examples', () => {
  const dir = new URL('examples/', root);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  test('there are the four scenario manifests', () => {
    for (const name of [
      'quickstart.json',
      'nginx-step-ca.json',
      'redis-fleet.json',
      'wildcard-dns01.json',
      'wildcard-rfc2136.json',
    ]) {
      assert.ok(files.includes(name), name);
    }
  });
  for (const file of files) {
    test(`${file} is valid with no warnings at the default interval`, () => {
      const text = readFileSync(new URL(file, dir), 'utf8');
      const { manifest, diagnostics } = checkManifestText(text, file, { intervalMs: DAY });
      assert.deepEqual(diagnostics, []);
      assert.ok(manifest);
    });
  }
});
