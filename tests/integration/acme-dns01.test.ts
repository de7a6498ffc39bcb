/**
 * dns-01 without a script, against real DNS servers that Pebble itself asks (`-dnsserver`): RFC 2136 with
 * TSIG into BIND, the PowerDNS HTTP API, CNAME delegation into a second zone, and the propagation check
 * with a second authoritative server that lags (updated late by the test, or never).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '../../src/errors.js';
import { Dns01Solver } from '../../src/issuers/acme/challenges/dns01.js';
import { createSolver } from '../../src/issuers/acme/challenges/index.js';
import { AcmeIssuer } from '../../src/issuers/acme/issuer.js';
import type { AcmeIssuerConfig, Challenge, Dns01Common } from '../../src/manifest/types.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { type Logger, silentLogger } from '../../src/runtime/logger.js';
import type { Store } from '../../src/stores/types.js';
import { type BindServer, startBind, startBindResolver } from '../harness/bind.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type PowerDnsServer, startPowerDns } from '../harness/powerdns.js';
import { freePort, type TempDir, tempDir } from '../harness/process.js';
import {
  assertChainVerifies,
  capturingLogger,
  dnsNames,
  FAST,
  filesystemStore,
  issueOne,
  makeContext,
  resolved,
} from './acme-fixtures.js';

const ISSUE_TIMEOUT_MS = 180_000;

const exampleZone = {
  name: 'example.test',
  records: [
    '_acme-challenge.www 60 IN CNAME www.acme-delegated.test.',
    '_acme-challenge.www2 60 IN CNAME www2.acme-delegated.test.',
    '_acme-challenge.loop 60 IN CNAME _acme-challenge.loop2.example.test.',
    '_acme-challenge.loop2 60 IN CNAME _acme-challenge.loop.example.test.',
  ],
};

function acmeConfig(pebble: Pebble, challenge: Challenge): AcmeIssuerConfig {
  return {
    type: 'acme',
    directory: pebble.directoryUrl,
    email: 'ops@example.test',
    caBundle: pebble.caBundlePath,
    challenge,
  };
}

function expectChallengeError(pattern: RegExp) {
  return (error: Error & { code?: string }) => {
    assert.equal(error.code, ErrorCode.challengeFailed, error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('dns-01 rfc2136 into BIND', () => {
  let dir: TempDir;
  let bind: BindServer;
  let resolver: BindServer;
  let pebble: Pebble;
  let context: RuntimeContext;
  let store: Store;
  const issuers: AcmeIssuer[] = [];

  const rfc2136 = (secretEnv = 'TSIG_SECRET', extra: Partial<Dns01Common> = {}): Challenge => ({
    type: 'dns-01',
    rfc2136: { server: bind.address, keyName: bind.keyName, secret: { env: secretEnv } },
    nameservers: [bind.address],
    ...extra,
  });
  const issuerFor = (challenge: Challenge, name = 'pebble') => {
    const config = acmeConfig(pebble, challenge);
    const issuer = new AcmeIssuer(name, config, context, FAST);
    issuers.push(issuer);
    return { issuer, config };
  };

  before(async () => {
    dir = await tempDir('cert-renew-dns01-');
    bind = await startBind({ zones: [exampleZone, { name: 'acme-delegated.test' }] });
    // Pebble asks through a resolver, as a CA does: it follows the CNAME into the delegated zone.
    resolver = await startBindResolver(bind, ['example.test', 'acme-delegated.test']);
    pebble = await startPebble({ dnsServer: resolver.address });
    context = makeContext(dir.path, {
      env: { TSIG_SECRET: bind.secret, WRONG_SECRET: Buffer.alloc(32, 7).toString('base64') },
    });
    store = filesystemStore(context, 'store');
  });
  after(async () => {
    await Promise.allSettled(issuers.map((i) => i.close()));
    await pebble?.stop();
    await resolver?.stop();
    await bind?.stop();
    await dir?.remove();
  });

  test('a wildcard and its apex issue; both TXT records are gone afterwards', async () => {
    const { issuer, config } = issuerFor(rfc2136());
    const cert = resolved('apex', ['example.test', '*.example.test'], config);
    const result = await issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS });
    assert.deepEqual(dnsNames(result.certPem), ['*.example.test', 'example.test']);
    assertChainVerifies(result, await pebble.roots());
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
  });

  test('a wrong TSIG secret is a clear error and nothing is issued; no cleanup warning', async () => {
    const { issuer, config } = issuerFor(rfc2136('WRONG_SECRET'), 'wrong-key');
    const cert = resolved('wrong-key', ['wrong.example.test', '*.wrong.example.test'], config);
    const logger = capturingLogger();
    await assert.rejects(
      issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS, logger }),
      expectChallengeError(
        /^certificate wrong-key: .*rfc2136 adding TXT _acme-challenge\.wrong\.example\.test .*BADSIG/,
      ),
    );
    assert.deepEqual(await bind.txt('_acme-challenge.wrong.example.test'), []);
    // The cleanups of the records that were never written fail the same way: not worth a warning.
    assert.deepEqual(
      logger.lines.filter((l) => l.includes(' warn: ')),
      [],
    );
    assert.ok(
      logger.lines.some((l) => /debug: .*dns-01 cleanup of TXT record .* after its failed present/.test(l)),
      logger.lines.join('\n'),
    );
  });

  test('a "zone" that does not hold the record is named as the problem; nothing is issued', async () => {
    const challenge = rfc2136();
    if (!('rfc2136' in challenge)) throw new Error('not rfc2136');
    const { issuer, config } = issuerFor(
      { ...challenge, rfc2136: { ...challenge.rfc2136, zone: 'acme-delegated.test' } },
      'other-zone',
    );
    const cert = resolved('other-zone', ['other.example.test'], config);
    await assert.rejects(
      issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS }),
      expectChallengeError(
        /^certificate other-zone: .*rfc2136: the record _acme-challenge\.other\.example\.test is not in zone acme-delegated\.test/,
      ),
    );
    assert.deepEqual(await bind.txt('_acme-challenge.other.example.test'), []);
  });

  test('a CNAME at _acme-challenge delegates the record to another zone', async () => {
    const { issuer, config } = issuerFor(rfc2136(), 'delegated');
    const logger = capturingLogger();
    const cert = resolved('www', ['www.example.test'], config);
    const result = await issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS, logger });
    assert.deepEqual(dnsNames(result.certPem), ['www.example.test']);
    assert.ok(
      logger.lines.some((l) => l.includes('the TXT record goes to www.acme-delegated.test')),
      logger.lines.join('\n'),
    );
    assert.deepEqual(await bind.txt('www.acme-delegated.test'), []);
  });

  test('an exec provider is handed the end of the CNAME chain', async () => {
    const log = join(dir.path, 'exec.log');
    const hook = join(dir.path, 'nsupdate-hook');
    await writeFile(
      hook,
      [
        '#!/bin/sh',
        'set -eu',
        `echo "$1 $2" >> '${log}'`,
        'if [ "$1" = present ]; then line="update add $2 60 TXT \\"$3\\""; else line="update delete $2 TXT \\"$3\\""; fi',
        `printf 'server 127.0.0.1 %s\\nkey hmac-sha256:%s %s\\nzone acme-delegated.test.\\n%s\\nsend\\n' ${bind.port} '${bind.keyName}' "$TSIG_SECRET" "$line" | nsupdate -v`,
        '',
      ].join('\n'),
    );
    await chmod(hook, 0o755);
    const { issuer, config } = issuerFor({ type: 'dns-01', exec: hook, nameservers: [bind.address] }, 'exec');
    const result = await issueOne(issuer, store, resolved('www2', ['www2.example.test'], config), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    });
    assert.deepEqual(dnsNames(result.certPem), ['www2.example.test']);
    assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), [
      'present www2.acme-delegated.test.',
      'cleanup www2.acme-delegated.test.',
    ]);
    assert.deepEqual(await bind.txt('www2.acme-delegated.test'), []);
  });

  test('an rfc2136 server that refuses or never answers: "cannot reach", bounded, and no cleanup warning', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      for (const [server, reason] of [
        [`127.0.0.1:${await freePort()}`, 'connection refused'],
        [`127.0.0.1:${silent.address().port}`, 'no answer within 9s'],
      ] as const) {
        const logger = capturingLogger();
        const solver = new Dns01Solver(
          {
            type: 'dns-01',
            rfc2136: { server, keyName: bind.keyName, secret: { env: 'TSIG_SECRET' } },
            propagationCheck: false,
          },
          {
            baseDir: dir.path,
            env: context.env,
            logger,
            getStore: () => Promise.reject(new Error('no store')),
            issuerName: 'dead',
            certificateName: 'dead',
          },
        );
        const task = {
          identifier: 'dead.example.test',
          wildcard: false,
          token: 't',
          value: 'dead-value',
          recordName: '_acme-challenge.dead.example.test.',
        };
        await assert.rejects(
          solver.present(task, AbortSignal.timeout(ISSUE_TIMEOUT_MS)),
          (error: Error & { hint?: string }) => {
            assert.equal(
              error.message,
              `cannot reach rfc2136 server ${server} to find the zone of _acme-challenge.dead.example.test (${reason})`,
            );
            assert.doesNotMatch(error.hint ?? '', /"zone"|authoritative/);
            return true;
          },
        );
        await solver.cleanup(task);
        assert.deepEqual(
          logger.lines.filter((l) => l.includes(' warn: ')),
          [],
        );
      }
    } finally {
      silent.close();
    }
  });

  test('a CNAME loop is a clear error', async () => {
    const { issuer, config } = issuerFor(rfc2136(), 'loop');
    const cert = resolved('loop', ['loop.example.test'], config);
    await assert.rejects(
      issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS }),
      expectChallengeError(/CNAME loop at _acme-challenge\.loop\.example\.test/),
    );
  });

  test('dry-run check: a TSIG-signed no-op update proves the key, without changing a record', async () => {
    const solverContext = {
      baseDir: dir.path,
      env: context.env,
      logger: silentLogger,
      getStore: () => Promise.reject(new Error('no store')),
      issuerName: 'pebble',
    };
    assert.match(await createSolver(rfc2136(), solverContext).check(), /accepts the key/);
    const withZone: Challenge = {
      type: 'dns-01',
      rfc2136: {
        server: bind.address,
        keyName: bind.keyName,
        secret: { env: 'TSIG_SECRET' },
        zone: 'example.test',
      },
    };
    assert.match(await createSolver(withZone, solverContext).check(), /holds zone example\.test/);
    await assert.rejects(
      createSolver(rfc2136('WRONG_SECRET'), solverContext).check(),
      expectChallengeError(/BADSIG/),
    );
    // Nothing listens there: said so, with a hint about the server, not about the update policy.
    const nobody: Challenge = {
      type: 'dns-01',
      rfc2136: {
        server: `127.0.0.1:${await freePort()}`,
        keyName: bind.keyName,
        secret: { env: 'TSIG_SECRET' },
      },
    };
    await assert.rejects(createSolver(nobody, solverContext).check(), (error: Error & { hint?: string }) => {
      expectChallengeError(/: cannot reach the server \(connection refused\)$/)(error);
      assert.match(error.hint ?? '', /check "server"/);
      return true;
    });
    // No nsupdate on PATH: said so, without a hint about the update policy.
    const noTools = await tempDir('cert-renew-no-nsupdate-');
    try {
      await assert.rejects(
        createSolver(rfc2136(), { ...solverContext, env: { ...context.env, PATH: noTools.path } }).check(),
        (error: Error & { hint?: string }) => {
          expectChallengeError(/nsupdate is not installed/)(error);
          assert.doesNotMatch(error.hint ?? '', /update-policy/);
          return true;
        },
      );
    } finally {
      await noTools.remove();
    }
  });
});

describe('dns-01 propagation: the CA is told only when every authoritative server answers', () => {
  let dir: TempDir;
  let primary: BindServer;
  let lagging: BindServer;
  let pebble: Pebble;
  let context: RuntimeContext;
  let store: Store;
  let issuer: AcmeIssuer;
  let config: AcmeIssuerConfig;

  before(async () => {
    dir = await tempDir('cert-renew-dns01-lag-');
    primary = await startBind({ zones: [{ name: 'example.test' }] });
    lagging = await startBind({ zones: [{ name: 'example.test' }] });
    // The CA asks the lagging server: validation can only pass once it has the record.
    pebble = await startPebble({ dnsServer: lagging.address });
    context = makeContext(dir.path, { env: { TSIG_SECRET: primary.secret } });
    store = filesystemStore(context, 'store');
  });
  after(async () => {
    await issuer?.close();
    await pebble?.stop();
    await Promise.allSettled([primary?.stop(), lagging?.stop()]);
    await dir?.remove();
  });

  const challenge = (extra: Partial<Dns01Common> = {}): Challenge => ({
    type: 'dns-01',
    rfc2136: { server: primary.address, keyName: primary.keyName, secret: { env: 'TSIG_SECRET' } },
    nameservers: [primary.address, lagging.address],
    propagationInterval: '500ms',
    ...extra,
  });

  test('the second server gets the record late: the order waits for it and issues', async () => {
    config = acmeConfig(pebble, challenge());
    issuer = new AcmeIssuer('pebble', config, context, FAST);
    const name = '_acme-challenge.late.example.test';
    let copied = false;
    const late = (async () => {
      for (;;) {
        const values = await primary.txt(name);
        if (values.length > 0) {
          await sleep(3000);
          for (const value of values) await lagging.addTxt('example.test', name, value);
          copied = true;
          return;
        }
        await sleep(200);
      }
    })();
    const result = await issueOne(issuer, store, resolved('late', ['late.example.test'], config), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    });
    await late;
    assert.ok(copied);
    assert.deepEqual(dnsNames(result.certPem), ['late.example.test']);
    assert.deepEqual(await primary.txt(name), [], 'the record is removed from the primary');
  });

  test('the second server never gets it: the timeout error names that server', async () => {
    const never = acmeConfig(pebble, challenge({ propagationTimeout: '5s' }));
    const neverIssuer = new AcmeIssuer('pebble', never, context, FAST);
    try {
      await assert.rejects(
        issueOne(neverIssuer, store, resolved('never', ['never.example.test'], never), {
          timeoutMs: ISSUE_TIMEOUT_MS,
        }),
        expectChallengeError(
          new RegExp(
            `TXT record _acme-challenge\\.never\\.example\\.test did not reach nameserver ${lagging.address.replace(/\./g, '\\.')} within 5s`,
          ),
        ),
      );
    } finally {
      await neverIssuer.close();
    }
    assert.deepEqual(await primary.txt('_acme-challenge.never.example.test'), [], 'cleaned up');
  });
});

describe('dns-01 powerdns through its HTTP API', () => {
  let dir: TempDir;
  let pdns: PowerDnsServer;
  let pebble: Pebble;
  let context: RuntimeContext;
  let store: Store;
  const issuers: AcmeIssuer[] = [];

  // A 1 s TTL: orders of this context that share a name take turns, each TTL + 2 s after the one before.
  const powerdns = (keyEnv = 'PDNS_API_KEY'): Challenge => ({
    type: 'dns-01',
    powerdns: { url: pdns.apiUrl, apiKey: { env: keyEnv }, ttl: 1 },
    nameservers: [pdns.address],
  });

  before(async () => {
    dir = await tempDir('cert-renew-dns01-pdns-');
    pdns = await startPowerDns({
      zones: [
        {
          name: 'example.test',
          rrsets: [
            {
              name: '_acme-challenge.www.example.test.',
              type: 'CNAME',
              records: ['www.acme-delegated.test.'],
            },
          ],
        },
        { name: 'acme-delegated.test' },
      ],
    });
    pebble = await startPebble({ dnsServer: pdns.address });
    context = makeContext(dir.path, { env: { PDNS_API_KEY: pdns.apiKey, WRONG_KEY: 'not-the-key' } });
    store = filesystemStore(context, 'store');
  });
  after(async () => {
    await Promise.allSettled(issuers.map((i) => i.close()));
    await pebble?.stop();
    await pdns?.stop();
    await dir?.remove();
  });

  const issuerFor = (challenge: Challenge, name = 'pebble') => {
    const config = acmeConfig(pebble, challenge);
    const issuer = new AcmeIssuer(name, config, context, FAST);
    issuers.push(issuer);
    return { issuer, config };
  };
  const solverContextFor = (logger: Logger) => ({
    baseDir: dir.path,
    env: context.env,
    logger,
    getStore: () => Promise.reject(new Error('no store')),
    issuerName: 'pebble',
  });

  test('a wildcard and its apex issue; both TXT records are gone afterwards', async () => {
    const { issuer, config } = issuerFor(powerdns());
    const cert = resolved('apex', ['example.test', '*.example.test'], config);
    const result = await issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS });
    assert.deepEqual(dnsNames(result.certPem), ['*.example.test', 'example.test']);
    assertChainVerifies(result, await pebble.roots());
    assert.deepEqual(await pdns.txt('_acme-challenge.example.test'), []);
  });

  test('a "zone" that does not hold the record is named as the problem; nothing is issued', async () => {
    const { issuer, config } = issuerFor(
      {
        type: 'dns-01',
        powerdns: { url: pdns.apiUrl, apiKey: { env: 'PDNS_API_KEY' }, zone: 'acme-delegated.test.' },
        nameservers: [pdns.address],
      },
      'other-zone',
    );
    const cert = resolved('other-zone', ['other.example.test'], config);
    await assert.rejects(
      issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS }),
      expectChallengeError(
        /^certificate other-zone: .*powerdns: the record _acme-challenge\.other\.example\.test is not in zone acme-delegated\.test/,
      ),
    );
    assert.deepEqual(await pdns.txt('_acme-challenge.other.example.test'), []);
  });

  test('several certificates with the same names at once: every order issues, no TXT value is left', async () => {
    const { issuer, config } = issuerFor(powerdns(), 'several');
    // Three: two values each at _acme-challenge.example.test, six in all, so Pebble's answer still fits
    // in one UDP datagram (Pebble asks without EDNS and does not retry over TCP).
    const certs = Array.from({ length: 3 }, (_, i) =>
      resolved(`several-${i}`, [`h${i}.example.test`, '*.example.test', 'example.test'], config),
    );
    const results = await Promise.allSettled(
      certs.map((cert) => issueOne(issuer, store, cert, { timeoutMs: ISSUE_TIMEOUT_MS })),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    assert.deepEqual(failures, []);
    assert.deepEqual(await pdns.txt('_acme-challenge.example.test'), []);
    for (let i = 0; i < certs.length; i++)
      assert.deepEqual(await pdns.txt(`_acme-challenge.h${i}.example.test`), []);
  });

  test('CNAME delegation into a second zone', async () => {
    const { issuer, config } = issuerFor(powerdns(), 'delegated');
    const result = await issueOne(issuer, store, resolved('www', ['www.example.test'], config), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    });
    assert.deepEqual(dnsNames(result.certPem), ['www.example.test']);
    assert.deepEqual(await pdns.txt('www.acme-delegated.test'), []);
  });

  test('a cleanup that cannot reach the API: one warning naming the certificate, record, value and zone', async () => {
    // The API through a TCP proxy that goes away between present and cleanup.
    const [host, port] = [new URL(pdns.apiUrl).hostname, Number(new URL(pdns.apiUrl).port)];
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(port, host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const logger = capturingLogger();
    const solver = new Dns01Solver(
      {
        type: 'dns-01',
        powerdns: { url: `http://127.0.0.1:${proxyPort}`, apiKey: { env: 'PDNS_API_KEY' } },
        propagationCheck: false,
      },
      { ...solverContextFor(logger), certificateName: 'left-behind', issuerName: 'viaproxy' },
    );
    // One object for present and cleanup: the solver keeps per-task state.
    const task = {
      identifier: 'left.example.test',
      wildcard: false,
      token: 't',
      value: 'left-value-1',
      recordName: '_acme-challenge.left.example.test.',
    };
    await solver.present(task, AbortSignal.timeout(30_000));
    assert.deepEqual(await pdns.txt('_acme-challenge.left.example.test'), ['left-value-1']);
    await new Promise<void>((resolve) => {
      proxy.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    await solver.cleanup(task);
    const warnings = logger.lines.filter((l) => l.includes(' warn: '));
    assert.equal(warnings.length, 1, logger.lines.join('\n'));
    assert.match(
      warnings[0] ?? '',
      /warn: certificate left-behind: issuer viaproxy: the TXT record _acme-challenge\.left\.example\.test "left-value-1" in zone example\.test was not removed \(powerdns .*ECONNREFUSED\); remove it by hand\n$/,
    );
    // Left as the warning says; removed here through the API itself.
    const direct = new Dns01Solver(
      {
        type: 'dns-01',
        powerdns: { url: pdns.apiUrl, apiKey: { env: 'PDNS_API_KEY' } },
        propagationCheck: false,
      },
      solverContextFor(silentLogger),
    );
    await direct.present(task, AbortSignal.timeout(30_000));
    await direct.cleanup(task);
    assert.deepEqual(await pdns.txt('_acme-challenge.left.example.test'), []);
  });

  test('a wrong API key is a clear error and nothing is issued; the dry-run check says the same', async () => {
    const { issuer, config } = issuerFor(powerdns('WRONG_KEY'), 'wrong-key');
    await assert.rejects(
      issueOne(issuer, store, resolved('wrong-key', ['wrong.example.test'], config), {
        timeoutMs: ISSUE_TIMEOUT_MS,
      }),
      expectChallengeError(/^certificate wrong-key: .*powerdns GET .* HTTP 401/),
    );
    const solverContext = {
      baseDir: dir.path,
      env: context.env,
      logger: silentLogger,
      getStore: () => Promise.reject(new Error('no store')),
      issuerName: 'pebble',
    };
    assert.match(await createSolver(powerdns(), solverContext).check(), /accepts the key \(2 zones\)/);
    await assert.rejects(
      createSolver(powerdns('WRONG_KEY'), solverContext).check(),
      expectChallengeError(/HTTP 401/),
    );
    // Nothing listens there, or fetch refuses the port: the reason, not fetch's bare "TypeError".
    const at = (url: string): Challenge => ({
      type: 'dns-01',
      powerdns: { url, apiKey: { env: 'PDNS_API_KEY' } },
    });
    await assert.rejects(
      createSolver(at(`http://127.0.0.1:${await freePort()}`), solverContext).check(),
      expectChallengeError(/: ECONNREFUSED$/),
    );
    await assert.rejects(
      createSolver(at('http://127.0.0.1:6000'), solverContext).check(),
      expectChallengeError(/: bad port$/),
    );
  });
});
