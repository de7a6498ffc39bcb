/**
 * The step-ca issuer against a real step-ca (built from Debian's sources, initialised per run): first
 * issuance via /1.0/sign, renewal via /1.0/renew, the fallbacks to /1.0/sign, root pinning and the CA's
 * refusals in plain words.
 */
import * as assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import { StepCaIssuer } from '../../src/issuers/step-ca/issuer.js';
import type { IssueRequest } from '../../src/issuers/types.js';
import { type Env, readSecret } from '../../src/manifest/secrets.js';
import type { ResolvedCertificate, SecretRef, StepCaIssuerConfig } from '../../src/manifest/types.js';
import { systemClock } from '../../src/runtime/clock.js';
import type { RuntimeContext } from '../../src/runtime/context.js';
import { createLogger, type Logger } from '../../src/runtime/logger.js';
import type { Store, StoredCertificate } from '../../src/stores/types.js';
import { createCertificate, createCsr } from '../../src/x509/build.js';
import { generateKey, keyMatchesCertificate } from '../../src/x509/keys.js';
import { freePort, runCommand, type TempDir, tempDir } from '../harness/process.js';
import { type StepCa, startStepCa } from '../harness/step-ca.js';
import { createCa, createLeaf } from '../harness/tls.js';

const HOUR = 3_600_000;
const PASSWORD_VAR = 'STEP_CA_PROVISIONER_PASSWORD';

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(
    createLogger((line) => lines.push(line), 'debug'),
    { lines },
  );
}

/** A runtime context whose secret reads are counted (to prove when no secret was touched). */
function testContext(env: Env) {
  const logger = memoryLogger();
  const secretReads: SecretRef[] = [];
  const context: RuntimeContext = {
    clock: systemClock,
    logger,
    env,
    baseDir: process.cwd(),
    hostname: 'test-host',
    pid: process.pid,
    readSecret: (ref) => {
      secretReads.push(ref);
      return readSecret(ref, env, process.cwd());
    },
    getStore: () => Promise.reject(new Error('no stores in this test')),
  };
  return { context, logger, secretReads };
}

function resolved(config: StepCaIssuerConfig, domains: string[], lifetimeMs?: number): ResolvedCertificate {
  return {
    index: 0,
    name: 'gateway',
    domains,
    issuerName: 'internal',
    issuer: config,
    storeName: 'files',
    store: { type: 'filesystem', path: 'unused' },
    keyType: 'ecdsa-p256',
    reuseKey: undefined,
    ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
  };
}

/** The step-ca issuer never touches the store; the request still needs one. */
const noStore = {} as Store;

/** 64 hex digits, upper case with colons, as `openssl x509 -fingerprint` prints them. */
function withColons(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

describe('step-ca issuer against a real step-ca', () => {
  let ca: StepCa;
  let work: TempDir;
  let config: StepCaIssuerConfig;
  const domains = ['gateway.internal.test', 'api.internal.test'];

  before(async () => {
    ca = await startStepCa({ maxDuration: '48h' });
    work = await tempDir('cert-renew-step-ca-issuer-');
    config = {
      type: 'step-ca',
      url: ca.url,
      rootFingerprint: withColons(ca.rootFingerprint),
      provisioner: ca.provisioner,
      password: { env: PASSWORD_VAR },
    };
  });
  after(async () => {
    await ca?.stop();
    await work?.remove();
  });

  async function request(
    options: {
      keyPem?: string;
      current?: StoredCertificate;
      lifetimeMs?: number;
      now?: Date;
      names?: string[];
    } = {},
  ): Promise<IssueRequest & { logger: Logger & { lines: string[] } }> {
    const keyPem = options.keyPem ?? (await generateKey('ecdsa-p256'));
    const logger = memoryLogger();
    return {
      entry: resolved(config, options.names ?? domains, options.lifetimeMs),
      keyPem,
      csrPem: await createCsr(keyPem, options.names ?? domains),
      current: options.current,
      store: noStore,
      now: options.now ?? new Date(),
      signal: AbortSignal.timeout(60_000),
      logger,
    };
  }

  function issuer(env: Env = { [PASSWORD_VAR]: ca.password }, overrides: Partial<StepCaIssuerConfig> = {}) {
    const made = testContext(env);
    return { ...made, issuer: new StepCaIssuer('internal', { ...config, ...overrides }, made.context) };
  }

  /** Verifies leaf + chain against the CA's root with the openssl command line. */
  async function opensslVerify(certPem: string, chainPem: string): Promise<void> {
    const leafPath = join(work.path, 'leaf.pem');
    const chainPath = join(work.path, 'chain.pem');
    await writeFile(leafPath, certPem);
    await writeFile(chainPath, chainPem);
    const { stdout } = await runCommand('openssl', [
      'verify',
      '-CAfile',
      ca.rootPath,
      '-untrusted',
      chainPath,
      '-purpose',
      'sslserver',
      leafPath,
    ]);
    assert.match(stdout, /: OK/);
  }

  test('first issuance goes through /1.0/sign with the CN, SANs and lifetime asked for', async () => {
    const { issuer: stepCa, secretReads } = issuer();
    const req = await request({ lifetimeMs: 2 * HOUR });
    const result = await stepCa.issue(req);
    assert.equal(result.via, 'step-ca sign');
    await opensslVerify(result.certPem, result.chainPem);

    const leaf = new X509Certificate(result.certPem);
    assert.equal(leaf.subject, 'CN=gateway.internal.test');
    assert.equal(leaf.subjectAltName, 'DNS:gateway.internal.test, DNS:api.internal.test');
    assert.ok(keyMatchesCertificate(req.keyPem, result.certPem));
    const lifetime = new Date(leaf.validTo).getTime() - req.now.getTime();
    assert.ok(Math.abs(lifetime - 2 * HOUR) < 5 * 60_000, `lifetime ${lifetime} ms is not about 2h`);

    // The chain is the intermediate only (no leaf), and the trust anchor is the pinned root.
    const chain = new X509Certificate(result.chainPem);
    assert.ok(chain.raw.equals(new X509Certificate(ca.intermediatePem).raw));
    assert.deepEqual(await stepCa.trustAnchors(), [ca.rootPem.replace(/\r\n/g, '\n').trim().concat('\n')]);
    assert.deepEqual(secretReads, [{ env: PASSWORD_VAR }]);
  });

  test("without a lifetime, step-ca's default (24h) applies", async () => {
    const { issuer: stepCa } = issuer();
    const req = await request();
    const result = await stepCa.issue(req);
    const lifetime = new Date(new X509Certificate(result.certPem).validTo).getTime() - req.now.getTime();
    assert.ok(Math.abs(lifetime - 24 * HOUR) < 5 * 60_000, `lifetime ${lifetime} ms is not about 24h`);
  });

  test('a renewal with the same key goes through /1.0/renew: same key, new serial, no secret read', async () => {
    const first = await issuer().issuer.issue(await request({ lifetimeMs: 2 * HOUR }));
    const keyPem = (await request()).keyPem;
    const issued = await issuer().issuer.issue(await request({ keyPem, lifetimeMs: 2 * HOUR }));
    assert.notEqual(serialOf(first.certPem), serialOf(issued.certPem));

    // No password in the environment: /1.0/renew must not need it.
    const { issuer: stepCa, secretReads, logger } = issuer({});
    const current: StoredCertificate = { ...issued, keyPem, meta: undefined };
    const req = await request({ keyPem, current });
    const renewed = await stepCa.issue(req);
    assert.equal(renewed.via, 'step-ca renew');
    assert.notEqual(serialOf(renewed.certPem), serialOf(issued.certPem));
    assert.ok(keyMatchesCertificate(keyPem, renewed.certPem));
    await opensslVerify(renewed.certPem, renewed.chainPem);
    assert.equal(
      new X509Certificate(renewed.certPem).subjectAltName,
      new X509Certificate(issued.certPem).subjectAltName,
    );
    assert.deepEqual(secretReads, []);
    assert.match(req.logger.lines.join(''), /renewed by step-ca issuer 'internal' \(\/1\.0\/renew\)/);
    const logged = [...logger.lines, ...req.logger.lines].join('');
    assert.ok(!logged.includes(keyPem.split('\n')[1] ?? 'x'), 'the key is never logged');
  });

  test('a new key (rotation) goes through /1.0/sign even though the current certificate is valid', async () => {
    const oldKey = await generateKey('ecdsa-p256');
    const issued = await issuer().issuer.issue(await request({ keyPem: oldKey }));
    const current: StoredCertificate = { ...issued, keyPem: oldKey, meta: undefined };
    const newKey = await generateKey('ecdsa-p384');
    const result = await issuer().issuer.issue(await request({ keyPem: newKey, current }));
    assert.equal(result.via, 'step-ca sign');
    assert.ok(keyMatchesCertificate(newKey, result.certPem));
    assert.ok(!keyMatchesCertificate(oldKey, result.certPem));
  });

  test('a changed lifetime goes through /1.0/sign (/1.0/renew would keep the old one)', async () => {
    const keyPem = await generateKey('ecdsa-p256');
    const issued = await issuer().issuer.issue(await request({ keyPem, lifetimeMs: 2 * HOUR }));
    const current: StoredCertificate = { ...issued, keyPem, meta: undefined };
    const same = await issuer().issuer.issue(await request({ keyPem, current, lifetimeMs: 2 * HOUR }));
    assert.equal(same.via, 'step-ca renew');
    const req = await request({ keyPem, current, lifetimeMs: 3 * HOUR });
    const longer = await issuer().issuer.issue(req);
    assert.equal(longer.via, 'step-ca sign');
    const lifetime = new Date(new X509Certificate(longer.certPem).validTo).getTime() - req.now.getTime();
    assert.ok(Math.abs(lifetime - 3 * HOUR) < 5 * 60_000, `lifetime ${lifetime} ms is not about 3h`);
  });

  test('a names change goes through /1.0/sign (/1.0/renew would keep the old names)', async () => {
    // A trial: an added name came back missing (rejected, every run), a removed one still served (stored).
    const keyPem = await generateKey('ecdsa-p256');
    const issued = await issuer().issuer.issue(await request({ keyPem, lifetimeMs: 2 * HOUR }));
    const current: StoredCertificate = { ...issued, keyPem, meta: undefined };
    const same = await issuer().issuer.issue(
      await request({
        keyPem,
        current,
        lifetimeMs: 2 * HOUR,
        names: [...domains].reverse().map((d) => d.toUpperCase()),
      }),
    );
    assert.equal(same.via, 'step-ca renew', 'the same names in another order or case');
    for (const names of [[...domains, 'extra.internal.test'], [domains[0] as string]]) {
      const changed = await issuer().issuer.issue(
        await request({ keyPem, current, lifetimeMs: 2 * HOUR, names }),
      );
      assert.equal(changed.via, 'step-ca sign', names.join(' '));
      assert.equal(
        new X509Certificate(changed.certPem).subjectAltName,
        names.map((n) => `DNS:${n}`).join(', '),
      );
    }
  });

  /** A certificate for `keyPem` signed by the CA's own intermediate that expired an hour ago. */
  async function expiredCertificate(keyPem: string): Promise<StoredCertificate> {
    const encrypted = await readFile(ca.intermediateKeyPath, 'utf8');
    const intermediateKey = String(
      createPrivateKey({ key: encrypted, passphrase: ca.password }).export({ type: 'pkcs8', format: 'pem' }),
    );
    const now = Date.now();
    const certPem = await createCertificate({
      subjectKeyPem: keyPem,
      commonName: domains[0],
      domains,
      issuer: { certPem: ca.intermediatePem, keyPem: intermediateKey },
      notBefore: new Date(now - 3 * HOUR),
      notAfter: new Date(now - HOUR),
    });
    return { certPem, chainPem: ca.intermediatePem, keyPem, meta: undefined };
  }

  test('an expired current certificate is not sent to /1.0/renew: it falls back to /1.0/sign', async () => {
    const keyPem = await generateKey('ecdsa-p256');
    const current = await expiredCertificate(keyPem);
    const { issuer: stepCa } = issuer();
    const req = await request({ keyPem, current });
    const result = await stepCa.issue(req);
    assert.equal(result.via, 'step-ca sign');
    assert.ok(keyMatchesCertificate(keyPem, result.certPem));
    assert.ok(new Date(new X509Certificate(result.certPem).validTo) > req.now);
  });

  test('when step-ca refuses the renewal (expired by its clock), the issuer signs anew', async () => {
    const keyPem = await generateKey('ecdsa-p256');
    const current = await expiredCertificate(keyPem);
    // A run whose clock lags two hours believes the certificate is still valid; step-ca knows better.
    const lagging = new Date(Date.now() - 2 * HOUR);
    const req = await request({ keyPem, current, now: lagging });
    const result = await issuer().issuer.issue(req);
    assert.equal(result.via, 'step-ca sign');
    assert.ok(keyMatchesCertificate(keyPem, result.certPem));
    assert.match(req.logger.lines.join(''), /refused to renew the current certificate/);
  });

  test('a current certificate from another CA is refused for renewal and replaced via /1.0/sign', async () => {
    const other = await tempDir('cert-renew-other-ca-');
    try {
      const otherCa = await createCa(other.path, { commonName: 'some other CA' });
      const leaf = await createLeaf(otherCa, other.path, { names: domains });
      const current: StoredCertificate = {
        certPem: leaf.certPem,
        chainPem: '',
        keyPem: leaf.keyPem,
        meta: undefined,
      };
      const result = await issuer().issuer.issue(await request({ keyPem: leaf.keyPem, current }));
      assert.equal(result.via, 'step-ca sign');
      await opensslVerify(result.certPem, result.chainPem);
    } finally {
      await other.remove();
    }
  });

  test('a wrong root fingerprint fails before the password is read', async () => {
    const wrong = createHash('sha256').update('not the root').digest('hex');
    // The password variable is not set: reading it would fail with SECRET_UNAVAILABLE instead.
    const { issuer: stepCa, secretReads } = issuer({}, { rootFingerprint: wrong });
    await assert.rejects(stepCa.issue(await request()), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerRejected);
      assert.equal(error.exitCode, 1);
      assert.equal(error.transient, false);
      assert.match(error.message, /is not the CA pinned by rootFingerprint/);
      return true;
    });
    assert.deepEqual(secretReads, []);
    await assert.rejects(stepCa.check({ store: noStore, certs: [], signal: AbortSignal.timeout(60_000) }), {
      code: ErrorCode.issuerRejected,
    });
  });

  test('a wrong password fails clearly', async () => {
    const { issuer: stepCa } = issuer({ [PASSWORD_VAR]: 'not-the-password' });
    await assert.rejects(stepCa.issue(await request()), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerRejected);
      assert.equal(error.transient, false);
      assert.match(error.message, /^wrong provisioner password for step-ca issuer 'internal'/);
      assert.ok(!error.oneLine.includes('not-the-password'));
      return true;
    });
  });

  test("a lifetime beyond the provisioner's maximum gives the CA's own words", async () => {
    const { issuer: stepCa } = issuer();
    await assert.rejects(stepCa.issue(await request({ lifetimeMs: 72 * HOUR })), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerRejected);
      assert.equal(error.transient, false);
      assert.match(
        error.message,
        /step-ca refused to sign: .*requested duration of 72h\S* is more than the authorized maximum/,
      );
      return true;
    });
  });

  test('domains that do not match the CSR are refused by step-ca, not retried', async () => {
    const { issuer: stepCa } = issuer();
    const req = await request();
    req.entry = resolved(config, ['other.internal.test']);
    await assert.rejects(stepCa.issue(req), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerRejected);
      assert.match(error.message, /step-ca refused to sign: .*common name/);
      assert.equal(error.transient, false);
      return true;
    });
  });

  test('an unknown provisioner is named with the ones that exist', async () => {
    const { issuer: stepCa } = issuer(undefined, { provisioner: 'nope' });
    await assert.rejects(stepCa.issue(await request()), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.match(
        error.message,
        new RegExp(`no provisioner named 'nope'; it has: ${ca.provisioner} \\(JWK\\)`),
      );
      return true;
    });
  });

  test('check() pins the root, sees /health and the provisioner, and unlocks its key without sending it', async () => {
    const check = (stepCa: StepCaIssuer) =>
      stepCa.check({ store: noStore, certs: [], signal: AbortSignal.timeout(60_000) });
    const right = issuer();
    const text = await check(right.issuer);
    assert.match(text, /root pinned/);
    assert.match(text, new RegExp(`provisioner '${ca.provisioner}' present, its key unlocks`));
    assert.equal(right.secretReads.length, 1);
    // A wrong password fails the rehearsal (it would fail the first new certificate), and is not shown.
    await assert.rejects(check(issuer({ [PASSWORD_VAR]: 'not-the-password' }).issuer), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.match(error.message, /^wrong provisioner password for step-ca issuer 'internal'/);
      assert.ok(!error.oneLine.includes('not-the-password'));
      return true;
    });
    // No password on this host: renewing over mutual TLS needs none, so the check passes and says so.
    assert.match(
      await check(issuer({}).issuer),
      /no password here \(.*\): renewals over mutual TLS need none/,
    );
    // Each due certificate whose renewal needs /1.0/sign (the plan's reason, a new key, another lifetime)
    // is failed on its own without the password; one renewed over mutual TLS passes.
    const bare = issuer({}).issuer;
    const entry = (name: string, extra: Partial<ResolvedCertificate> = {}) =>
      ({ ...resolved(config, [`${name}.example.test`]), name, ...extra }) as ResolvedCertificate;
    const signal = AbortSignal.timeout(60_000);
    const now = Date.now();
    const stored = {
      notBefore: new Date(now - 3_600_000).toISOString(),
      notAfter: new Date(now + 20 * 3_600_000).toISOString(),
    };
    for (const [cert, planned, why] of [
      [entry('svc'), { reason: 'missing' }, /\/1\.0\/sign: missing/],
      [entry('key', { reuseKey: false }), { reason: 'within-renew-window', ...stored }, /reuseKey is false/],
      [
        entry('life', { lifetimeMs: 3 * 3_600_000 }),
        { reason: 'within-renew-window', ...stored },
        /the requested lifetime changes/,
      ],
    ] as const) {
      await assert.rejects(bare.checkCertificate(cert, signal, planned), (error: unknown) => {
        assert.ok(error instanceof CertRenewError);
        assert.equal(error.code, ErrorCode.secretUnavailable);
        assert.match(
          error.message,
          new RegExp(`^${cert.name} needs a new certificate from step-ca issuer 'internal' \\(`),
        );
        assert.match(error.message, why);
        return true;
      });
    }
    const renewable = {
      reason: 'within-renew-window',
      notBefore: stored.notBefore,
      notAfter: new Date(now + 23 * 3_600_000).toISOString(),
    };
    assert.equal(
      await bare.checkCertificate(entry('ok', { lifetimeMs: 24 * 3_600_000 }), signal, renewable),
      undefined,
    );
  });

  test('a CA that does not answer is a transient ISSUER_UNAVAILABLE', async () => {
    const port = await freePort();
    const { issuer: stepCa } = issuer(undefined, { url: `https://127.0.0.1:${port}` });
    await assert.rejects(stepCa.issue(await request()), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerUnavailable);
      assert.equal(error.transient, true);
      return true;
    });
  });

  test('an aborted request stops with ISSUER_TIMEOUT', async () => {
    const { issuer: stepCa } = issuer();
    const req = await request();
    const controller = new AbortController();
    controller.abort();
    req.signal = controller.signal;
    await assert.rejects(stepCa.issue(req), { code: ErrorCode.issuerTimeout });
  });
});
