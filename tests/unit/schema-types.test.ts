/**
 * Keeps src/manifest/types.ts and schemas/certificate-manifest.schema.json in step. The key lists below are
 * checked twice: by the compiler (each must list exactly the keys of its TypeScript interface, and exactly
 * its required keys) and by the test (they must equal the schema's `properties` and `required`). A field added
 * to either side without the other fails the build or the test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifestSchema } from '../../src/manifest/schema.js';
import type {
  AcmeIssuerConfig,
  CertificateConfig,
  Dns01,
  Dns01Common,
  Dns01Exec,
  Dns01PowerDns,
  Dns01Rfc2136,
  FilesystemStoreConfig,
  HookSpec,
  Hooks,
  Http01ChallengeDirectory,
  Http01Redis,
  Http01Standalone,
  Http01Webroot,
  LocalCaIssuerConfig,
  Manifest,
  PowerDnsSettings,
  RedisNode,
  RedisStoreConfig,
  RenewalSettings,
  Rfc2136Settings,
  StepCaIssuerConfig,
  VerifySettings,
} from '../../src/manifest/types.js';
import { ACME_ALIASES, KEY_TYPES } from '../../src/manifest/types.js';
import { checkManifestText } from '../../src/manifest/validate.js';
import { DURATION_PATTERN } from '../../src/util/duration.js';

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
/** Compiles only when `keys` holds every key of T (and nothing else). */
function allKeys<T>() {
  return <const K extends readonly (keyof T)[]>(
    keys: K & ([keyof T] extends [K[number]] ? unknown : never),
  ) => keys;
}
/** Compiles only when `keys` holds exactly T's required keys. */
function requiredKeys<T>() {
  return <const K extends readonly RequiredKeys<T>[]>(
    keys: K & ([RequiredKeys<T>] extends [K[number]] ? unknown : never),
  ) => keys;
}

type Nested<T, K extends keyof T> = NonNullable<T[K]>;
type Item<T> = T extends readonly (infer U)[] ? U : never;
type Http01 = Http01Webroot | Http01ChallengeDirectory | Http01Standalone | Http01Redis;
type Http01Keys =
  | keyof Http01Webroot
  | keyof Http01ChallengeDirectory
  | keyof Http01Standalone
  | keyof Http01Redis;
type Dns01Keys = keyof Dns01Exec | keyof Dns01Rfc2136 | keyof Dns01PowerDns;
type FsOutputs = Nested<FilesystemStoreConfig, 'outputs'>;
type RedisEncryption = Nested<RedisStoreConfig, 'encryption'>;

/** $def name → [properties, required], each checked against its TypeScript type. */
const expected: Record<string, [readonly string[], readonly string[]]> = {
  hook: [
    allKeys<HookSpec>()(['run', 'shell', 'timeout', 'cwd', 'env', 'name']),
    requiredKeys<HookSpec>()(['run']),
  ],
  hooks: [allKeys<Hooks>()(['postRenew', 'onFailure', 'rollbackOnHookFailure']), requiredKeys<Hooks>()([])],
  http01Challenge: [
    ['type', 'webroot', 'challengeDirectory', 'standalone', 'redis', 'ttl'] satisfies Http01Keys[],
    requiredKeys<Http01>()(['type']),
  ],
  dns01Challenge: [
    [
      ...allKeys<Dns01Common>()([
        'type',
        'propagationTimeout',
        'propagationDelay',
        'propagationInterval',
        'propagationCheck',
        'nameservers',
      ]),
      'exec',
      'rfc2136',
      'powerdns',
    ] satisfies Dns01Keys[],
    requiredKeys<Dns01>()(['type']),
  ],
  rfc2136: [
    allKeys<Rfc2136Settings>()(['server', 'keyName', 'algorithm', 'secret', 'zone', 'ttl']),
    requiredKeys<Rfc2136Settings>()(['server', 'keyName', 'secret']),
  ],
  powerdns: [
    allKeys<PowerDnsSettings>()(['url', 'apiKey', 'serverId', 'zone', 'ttl']),
    requiredKeys<PowerDnsSettings>()(['url', 'apiKey']),
  ],
  acmeIssuer: [
    allKeys<AcmeIssuerConfig>()([
      'type',
      'directory',
      'email',
      'eab',
      'profile',
      'caBundle',
      'challenge',
      'lifetime',
      'preferredChain',
    ]),
    requiredKeys<AcmeIssuerConfig>()(['type', 'directory', 'challenge']),
  ],
  eab: [
    allKeys<Nested<AcmeIssuerConfig, 'eab'>>()(['kid', 'hmacKey']),
    requiredKeys<Nested<AcmeIssuerConfig, 'eab'>>()(['kid', 'hmacKey']),
  ],
  stepCaIssuer: [
    allKeys<StepCaIssuerConfig>()(['type', 'url', 'rootFingerprint', 'provisioner', 'password', 'lifetime']),
    requiredKeys<StepCaIssuerConfig>()(['type', 'url', 'rootFingerprint', 'provisioner', 'password']),
  ],
  localCaIssuer: [
    allKeys<LocalCaIssuerConfig>()(['type', 'lifetime', 'commonName', 'store', 'keyType']),
    requiredKeys<LocalCaIssuerConfig>()(['type']),
  ],
  filesystemStore: [
    allKeys<FilesystemStoreConfig>()([
      'type',
      'path',
      'mode',
      'owner',
      'group',
      'keep',
      'files',
      'outputs',
      'locks',
      'lockTimeout',
    ]),
    requiredKeys<FilesystemStoreConfig>()(['type', 'path']),
  ],
  fileModes: [allKeys<Nested<FilesystemStoreConfig, 'mode'>>()(['key', 'cert']), []],
  fileNames: [
    allKeys<Nested<FilesystemStoreConfig, 'files'>>()(['cert', 'chain', 'fullchain', 'privkey']),
    [],
  ],
  fileOutputs: [allKeys<FsOutputs>()(['combined', 'pkcs12']), []],
  pkcs12Output: [allKeys<Nested<FsOutputs, 'pkcs12'>>()(['file', 'password']), []],
  redisNode: [allKeys<RedisNode>()(['host', 'port']), requiredKeys<RedisNode>()(['host', 'port'])],
  redisSentinel: [
    allKeys<Nested<RedisStoreConfig, 'sentinel'>>()(['sentinels', 'name']),
    requiredKeys<Nested<RedisStoreConfig, 'sentinel'>>()(['sentinels', 'name']),
  ],
  redisCluster: [
    allKeys<Nested<RedisStoreConfig, 'cluster'>>()(['nodes']),
    requiredKeys<Nested<RedisStoreConfig, 'cluster'>>()(['nodes']),
  ],
  redisTls: [allKeys<Nested<RedisStoreConfig, 'tls'>>()(['caBundle']), []],
  redisEncryption: [
    allKeys<RedisEncryption>()(['key', 'keyId', 'previousKeys']),
    requiredKeys<RedisEncryption>()(['key']),
  ],
  redisPreviousKey: [
    allKeys<Item<Nested<RedisEncryption, 'previousKeys'>>>()(['keyId', 'key']),
    requiredKeys<Item<Nested<RedisEncryption, 'previousKeys'>>>()(['keyId', 'key']),
  ],
  redisAnnounce: [
    allKeys<Nested<RedisStoreConfig, 'announce'>>()(['channel']),
    requiredKeys<Nested<RedisStoreConfig, 'announce'>>()(['channel']),
  ],
  redisStore: [
    allKeys<RedisStoreConfig>()([
      'type',
      'url',
      'sentinel',
      'cluster',
      'username',
      'password',
      'tls',
      'keyPrefix',
      'keep',
      'encryption',
      'announce',
      'lockTimeout',
    ]),
    requiredKeys<RedisStoreConfig>()(['type']),
  ],
  renewalSettings: [
    allKeys<RenewalSettings>()([
      'issuer',
      'store',
      'keyType',
      'reuseKey',
      'renewBefore',
      'renewBeforePercent',
      'hooks',
      'challenge',
      'lifetime',
      'verify',
    ]),
    requiredKeys<RenewalSettings>()([]),
  ],
  verify: [
    allKeys<VerifySettings>()(['endpoints', 'serverName', 'timeout', 'retries']),
    requiredKeys<VerifySettings>()(['endpoints']),
  ],
};

// The certificate adds its own keys to renewalSettings; the top level is the Manifest.
const certificateOwn = ['name', 'domains'] as const satisfies readonly Exclude<
  keyof CertificateConfig,
  keyof RenewalSettings
>[];
const certificateRequired = requiredKeys<CertificateConfig>()(['name', 'domains']);
const manifestKeys = allKeys<Manifest>()([
  '$schema',
  'version',
  'defaults',
  'deployment',
  'issuers',
  'stores',
  'certificates',
]);
const manifestRequired = requiredKeys<Manifest>()(['version', 'issuers', 'stores', 'certificates']);

type Json = Record<string, unknown>;
const schema = manifestSchema();
const defs = schema.$defs as Record<string, Json>;
const sorted = (list: readonly string[]) => [...list].sort();
const props = (d: Json) => sorted(Object.keys((d.properties as Json | undefined) ?? {}));
const required = (d: Json) => sorted((d.required as string[] | undefined) ?? []);

describe('types.ts and the schema agree', () => {
  for (const [name, [keys, req]] of Object.entries(expected)) {
    test(`$defs/${name}`, () => {
      const d = defs[name];
      assert.ok(d, `schema has no $defs/${name}`);
      assert.deepEqual(props(d), sorted(keys), 'properties');
      assert.deepEqual(required(d), sorted(req), 'required');
    });
  }

  test('$defs/certificate and the top level', () => {
    assert.deepEqual(props(defs.certificate as Json), sorted(certificateOwn));
    assert.deepEqual(required(defs.certificate as Json), sorted(certificateRequired));
    assert.equal((defs.certificate as Json).$ref, '#/$defs/renewalSettings');
    assert.equal((defs.defaults as Json).$ref, '#/$defs/renewalSettings');
    assert.deepEqual(props(schema), sorted(manifestKeys));
    assert.deepEqual(required(schema), sorted(manifestRequired));
  });

  test('every $def is covered by this test', () => {
    const covered = new Set([...Object.keys(expected), 'certificate', 'defaults']);
    const scalars = new Set([
      'name',
      'duration',
      'keyType',
      'envName',
      'path',
      'fileName',
      'secretRef',
      'dnsServer',
      'dnsZone',
      'dnsTtl',
    ]);
    const dispatch = new Set(['issuer', 'store', 'challenge']);
    for (const name of Object.keys(defs)) {
      assert.ok(
        covered.has(name) || scalars.has(name) || dispatch.has(name),
        `$defs/${name} is not checked against types.ts`,
      );
    }
  });

  test('enums, patterns and variants', () => {
    assert.deepEqual((defs.keyType as Json).enum, [...KEY_TYPES]);
    const timeSpan = defs.duration as Json;
    assert.equal(timeSpan.pattern, DURATION_PATTERN);
    const directory = ((defs.acmeIssuer as Json).properties as Record<string, Json>).directory as Json;
    assert.deepEqual((directory.then as Json).enum, [...ACME_ALIASES]);
    const typeEnum = (d: string) => ((defs[d] as Json).properties as Record<string, Json>).type?.enum;
    assert.deepEqual(typeEnum('issuer'), [
      'acme',
      'step-ca',
      'local-ca',
    ] satisfies Manifest['issuers'][string]['type'][]);
    assert.deepEqual(typeEnum('store'), [
      'filesystem',
      'redis',
    ] satisfies Manifest['stores'][string]['type'][]);
    assert.deepEqual(typeEnum('challenge'), [
      'http-01',
      'dns-01',
    ] satisfies AcmeIssuerConfig['challenge']['type'][]);
    assert.deepEqual(sorted(Object.keys((defs.secretRef as Json).properties as Json)), ['env', 'file']);
  });

  test('every property has a description (editors show them)', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const properties = (node as Json).properties;
      if (properties && typeof properties === 'object') {
        for (const [key, value] of Object.entries(properties)) {
          if (!(value as Json).description && !path.includes('/if'))
            missing.push(`${path}/properties/${key}`);
        }
      }
      for (const [key, value] of Object.entries(node)) walk(value, `${path}/${key}`);
    };
    walk(schema, '#');
    assert.deepEqual(missing, []);
  });

  test('a fully populated manifest, typed as Manifest, is valid', () => {
    const secret = { env: 'SECRET' };
    const hook: HookSpec = {
      run: ['true'],
      shell: false,
      timeout: '30s',
      cwd: '.',
      env: { A: 'b' },
      name: 'noop',
    };
    const manifest: Manifest = {
      $schema: '../schemas/certificate-manifest.schema.json',
      version: 1,
      defaults: {
        issuer: 'acme',
        store: 'files',
        keyType: 'ecdsa-p384',
        reuseKey: false,
        renewBefore: '30d',
        hooks: {
          postRenew: [hook],
          onFailure: [{ run: 'echo failed', shell: true }],
          rollbackOnHookFailure: true,
        },
        challenge: { type: 'http-01', webroot: '/var/www' },
        lifetime: '90d',
      },
      issuers: {
        acme: {
          type: 'acme',
          directory: 'https://acme.example/directory',
          email: 'ops@example.com',
          eab: { kid: 'kid', hmacKey: secret },
          profile: 'classic',
          caBundle: './ca.pem',
          challenge: { type: 'http-01', redis: 'redis', ttl: '5m' },
          lifetime: '90d',
        },
        standalone: {
          type: 'acme',
          directory: 'letsencrypt-staging',
          challenge: { type: 'http-01', standalone: ':80' },
        },
        dns: {
          type: 'acme',
          directory: 'zerossl',
          challenge: { type: 'dns-01', exec: '/bin/dns', propagationTimeout: '2m', propagationDelay: '5s' },
        },
        step: {
          type: 'step-ca',
          url: 'https://ca.example',
          rootFingerprint: `AB:${'cd:'.repeat(30)}EF`,
          provisioner: 'p',
          password: { file: '/etc/pw' },
          lifetime: '48h',
        },
        local: { type: 'local-ca', lifetime: '30d', commonName: 'CA', store: 'files', keyType: 'rsa-3072' },
      },
      stores: {
        files: {
          type: 'filesystem',
          path: './certs',
          mode: { key: '0640', cert: '644' },
          owner: 'root',
          group: 33,
          keep: 5,
          files: { cert: 'c.pem', chain: 'ch.pem', fullchain: 'f.pem', privkey: 'k.pem' },
          outputs: { combined: 'haproxy.pem', pkcs12: { file: 'b.p12', password: secret } },
          locks: 'redis',
          lockTimeout: '10m',
        },
        redis: {
          type: 'redis',
          url: 'rediss://redis.example:6380',
          username: secret,
          password: secret,
          tls: { caBundle: './redis-ca.pem' },
          keyPrefix: 'certs:',
          keep: 2,
          encryption: {
            key: secret,
            keyId: 'k2',
            previousKeys: [{ keyId: 'k1', key: { file: './old.key' } }],
          },
          announce: { channel: 'renewed' },
          lockTimeout: '2m',
        },
        sentinel: { type: 'redis', sentinel: { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster' } },
        cluster: { type: 'redis', cluster: { nodes: [{ host: 'n1', port: 7000 }] } },
      },
      certificates: [
        { name: 'a', domains: ['a.example.com'] },
        {
          name: 'b',
          domains: ['*.example.com', 'example.com'],
          issuer: 'dns',
          store: 'redis',
          keyType: 'rsa-4096',
          reuseKey: true,
          renewBeforePercent: 25,
          hooks: { postRenew: [] },
          challenge: { type: 'dns-01', exec: 'dns-provider' },
        },
        { name: 'c', domains: ['c.example.com'], issuer: 'step', lifetime: '7d', renewBefore: '3d' },
      ],
    };
    const { diagnostics, manifest: checked } = checkManifestText(JSON.stringify(manifest), 'full.json', {
      intervalMs: 3_600_000,
    });
    assert.deepEqual(diagnostics, []);
    assert.ok(checked);
  });
});
