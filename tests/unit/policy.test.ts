import { strict as assert } from 'node:assert';
import { before, describe, test } from 'node:test';
import type { KeyType, ResolvedCertificate } from '../../src/manifest/types.js';
import {
  ariWindow,
  certificateMissing,
  certificateUnreadable,
  domainsChanged,
  expired,
  forced,
  issuerChanged,
  keyMismatch,
  keyTypeChanged,
  linksReplaced,
  nearingExpiry,
  notYetValid,
  safetyFloor,
} from '../../src/policy/checks.js';
import {
  ariRenewAt,
  checks,
  type Decision,
  decide,
  type Inspected,
  inspectStored,
  type PolicyInput,
  Reason,
  renewalWindowMs,
  safetyFloorMs,
} from '../../src/policy/decide.js';
import { REASONS } from '../../src/policy/reasons.js';
import { certificateRevoked } from '../../src/policy/revoked.js';
import type { LoadResult, StoredMeta } from '../../src/stores/types.js';
import { createCertificate } from '../../src/x509/build.js';
import { type CertInfo, generateKey } from '../../src/x509/index.js';

const S = 1000;
const H = 3_600_000;
const D = 86_400_000;
const NB = new Date('2030-01-01T00:00:00Z');
const DOMAINS = ['www.example.test', 'example.test'];

/** Every reason any row below produced; checked against the full list at the end. */
const seen = new Set<Reason>();

function entry(over: Partial<ResolvedCertificate> = {}): ResolvedCertificate {
  return {
    index: 0,
    name: 'web',
    domains: DOMAINS,
    issuerName: 'dev',
    issuer: { type: 'local-ca' },
    storeName: 'files',
    store: { type: 'filesystem', path: '.' },
    keyType: 'ecdsa-p256',
    reuseKey: undefined,
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
    ...over,
  };
}

function meta(over: Partial<StoredMeta> = {}): StoredMeta {
  return {
    name: 'web',
    domains: DOMAINS,
    issuer: 'dev',
    keyType: 'ecdsa-p256',
    notBefore: NB.toISOString(),
    notAfter: NB.toISOString(),
    fingerprint: '00',
    serial: '01',
    issuedAt: NB.toISOString(),
    ...over,
  };
}

function present(certPem = 'unused', keyPem = 'unused', m: StoredMeta | undefined = meta()): LoadResult {
  return { state: 'present', cert: { certPem, chainPem: '', keyPem, meta: m } };
}

/** A parsed certificate without building one: for the time rules. */
function synthetic(lifetimeMs: number, over: Partial<CertInfo> = {}): Inspected {
  const notAfter = new Date(NB.getTime() + lifetimeMs);
  return {
    ok: true,
    keyMatches: true,
    cert: {
      subject: 'CN=www.example.test',
      commonName: 'www.example.test',
      issuer: 'CN=test',
      serial: '5A17',
      fingerprint256: '00',
      notBefore: NB,
      notAfter,
      lifetimeMs,
      dnsNames: DOMAINS,
      ipAddresses: [],
      keyType: 'ecdsa-p256',
      isCA: false,
      ...over,
    },
  };
}

function run(input: PolicyInput, inspected?: Inspected): Decision {
  const decision = inspected === undefined ? decide(input) : decide(input, inspected);
  seen.add(decision.reason);
  return decision;
}

describe('renewalWindowMs and safetyFloorMs', () => {
  const windows: [string, number, Parameters<typeof renewalWindowMs>[1], number][] = [
    ['6d: one half', 6 * D, {}, 3 * D],
    ['10d: still one half', 10 * D, {}, 5 * D],
    ['10d + 3ms: one third', 10 * D + 3, {}, Math.floor((10 * D + 3) / 3)],
    ['30d: one third', 30 * D, {}, 10 * D],
    ['90d: one third', 90 * D, {}, 30 * D],
    ['24h: one half', 24 * H, {}, 12 * H],
    ['renewBefore wins', 90 * D, { renewBeforeMs: 7 * D }, 7 * D],
    ['renewBefore wins over percent', 90 * D, { renewBeforeMs: 7 * D, renewBeforePercent: 50 }, 7 * D],
    ['percent', 30 * D, { renewBeforePercent: 50 }, 15 * D],
    ['percent of 90d', 90 * D, { renewBeforePercent: 10 }, 9 * D],
  ];
  for (const [name, lifetime, settings, expected] of windows) {
    test(`window ${name}`, () => assert.equal(renewalWindowMs(lifetime, settings), expected));
  }

  const floors: [number, number, number][] = [
    [90 * D, 24 * H, 4.5 * D],
    [30 * D, 24 * H, 2 * D],
    [6 * D, 24 * H, 2 * D],
    [90 * D, 20 * D, 40 * D],
    [24 * H, 1 * H, 2 * H],
    [24 * H, 0, 72 * 60 * S],
  ];
  for (const [lifetime, interval, expected] of floors) {
    test(`safety floor of ${lifetime / H}h with a ${interval / H}h interval is ${expected / H}h`, () =>
      assert.equal(safetyFloorMs(lifetime, interval), expected));
  }
});

describe('ariRenewAt', () => {
  const window = { start: new Date('2030-02-01T00:00:00Z'), end: new Date('2030-02-03T00:00:00Z') };

  test('is deterministic for a seed', () => {
    assert.deepEqual(ariRenewAt(window, 'ABCDEF'), ariRenewAt(window, 'ABCDEF'));
    assert.deepEqual(
      ariRenewAt({ start: new Date(window.start), end: new Date(window.end) }, 'ABCDEF'),
      ariRenewAt(window, 'ABCDEF'),
    );
  });

  test('stays inside [start, end) and spreads seeds across the window', () => {
    const points = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const point = ariRenewAt(window, `serial-${i}`).getTime();
      assert.ok(point >= window.start.getTime() && point < window.end.getTime());
      points.add(point);
    }
    assert.ok(points.size > 190);
    const firstHalf = [...points].filter((p) => p < window.start.getTime() + D).length;
    assert.ok(firstHalf > 60 && firstHalf < 140, `spread: ${firstHalf} of 200 in the first half`);
  });

  test('spreads sequential serials (seeds differing in their last characters) too', () => {
    const quarters = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) {
      const serial = (0x0a00_0000 + i).toString(16).toUpperCase();
      const fraction = (ariRenewAt(window, serial).getTime() - window.start.getTime()) / (2 * D);
      quarters[Math.floor(fraction * 4)] = (quarters[Math.floor(fraction * 4)] as number) + 1;
    }
    for (const count of quarters) assert.ok(count > 60 && count < 140, `quarters: ${quarters.join(', ')}`);
  });

  test('a degenerate window gives its start', () => {
    assert.deepEqual(ariRenewAt({ start: window.start, end: window.start }, 'x'), window.start);
    assert.deepEqual(ariRenewAt({ start: window.end, end: window.start }, 'x'), window.end);
  });
});

describe('the renewal window, at every boundary (synthetic certificates)', () => {
  interface Row {
    name: string;
    lifetimeMs: number;
    /** notAfter − now. */
    remainingMs: number;
    settings?: Partial<ResolvedCertificate>;
    runIntervalMs?: number;
    expect: Reason;
    message?: RegExp;
  }
  const rows: Row[] = [];
  for (const [days, windowMs] of [
    [6, 3 * D],
    [30, 10 * D],
    [90, 30 * D],
  ] as const) {
    rows.push(
      {
        name: `${days}d, 1s before the edge`,
        lifetimeMs: days * D,
        remainingMs: windowMs + S,
        expect: Reason.ok,
      },
      {
        name: `${days}d, exactly at the edge`,
        lifetimeMs: days * D,
        remainingMs: windowMs,
        expect: Reason.withinRenewWindow,
      },
      {
        name: `${days}d, 1s after the edge`,
        lifetimeMs: days * D,
        remainingMs: windowMs - S,
        expect: Reason.withinRenewWindow,
      },
    );
  }
  rows.push(
    {
      name: '90d renewBefore 7d, 1s before',
      lifetimeMs: 90 * D,
      remainingMs: 7 * D + S,
      settings: { renewBeforeMs: 7 * D },
      expect: Reason.ok,
    },
    {
      name: '90d renewBefore 7d, at',
      lifetimeMs: 90 * D,
      remainingMs: 7 * D,
      settings: { renewBeforeMs: 7 * D },
      expect: Reason.withinRenewWindow,
    },
    {
      name: '90d renewBefore 7d, after',
      lifetimeMs: 90 * D,
      remainingMs: 7 * D - S,
      settings: { renewBeforeMs: 7 * D },
      expect: Reason.withinRenewWindow,
    },
    {
      name: '90d renewBefore 7d, 20d left',
      lifetimeMs: 90 * D,
      remainingMs: 20 * D,
      settings: { renewBeforeMs: 7 * D },
      expect: Reason.ok,
    },
    {
      name: '30d 50%, 1s before',
      lifetimeMs: 30 * D,
      remainingMs: 15 * D + S,
      settings: { renewBeforePercent: 50 },
      expect: Reason.ok,
    },
    {
      name: '30d 50%, at',
      lifetimeMs: 30 * D,
      remainingMs: 15 * D,
      settings: { renewBeforePercent: 50 },
      expect: Reason.withinRenewWindow,
    },
    {
      name: '30d 50%, after',
      lifetimeMs: 30 * D,
      remainingMs: 15 * D - S,
      settings: { renewBeforePercent: 50 },
      expect: Reason.withinRenewWindow,
    },
    {
      name: '90d 10%, 1s before',
      lifetimeMs: 90 * D,
      remainingMs: 9 * D + S,
      settings: { renewBeforePercent: 10 },
      expect: Reason.ok,
    },
    {
      name: '90d 10%, at',
      lifetimeMs: 90 * D,
      remainingMs: 9 * D,
      settings: { renewBeforePercent: 10 },
      expect: Reason.withinRenewWindow,
    },
    // renewBefore 1d is under the floor (2 × 24h): the floor decides.
    {
      name: '30d renewBefore 1d, 1s before the floor',
      lifetimeMs: 30 * D,
      remainingMs: 2 * D + S,
      settings: { renewBeforeMs: D },
      expect: Reason.ok,
      message: /renews when 2d remain \(safety floor\)/,
    },
    {
      name: '30d renewBefore 1d, at the floor',
      lifetimeMs: 30 * D,
      remainingMs: 2 * D,
      settings: { renewBeforeMs: D },
      expect: Reason.safetyFloor,
      message: /safety floor of 2d/,
    },
    {
      name: '30d renewBefore 1d, after the floor',
      lifetimeMs: 30 * D,
      remainingMs: 2 * D - S,
      settings: { renewBeforeMs: D },
      expect: Reason.safetyFloor,
    },
    // A 20-day interval between runs: floor = 40d, above the 30d window.
    {
      name: '90d, 20d interval, 1s before the floor',
      lifetimeMs: 90 * D,
      remainingMs: 40 * D + S,
      runIntervalMs: 20 * D,
      expect: Reason.ok,
    },
    {
      name: '90d, 20d interval, at the floor',
      lifetimeMs: 90 * D,
      remainingMs: 40 * D,
      runIntervalMs: 20 * D,
      expect: Reason.safetyFloor,
      message: /safety floor of 40d/,
    },
    {
      name: '90d, 20d interval, after the floor',
      lifetimeMs: 90 * D,
      remainingMs: 40 * D - S,
      runIntervalMs: 20 * D,
      expect: Reason.safetyFloor,
    },
    { name: '90d, 1s before expiry', lifetimeMs: 90 * D, remainingMs: S, expect: Reason.withinRenewWindow },
    {
      name: '90d, exactly at notAfter',
      lifetimeMs: 90 * D,
      remainingMs: 0,
      expect: Reason.expired,
      message: /expired 0s ago \(at 2030-04-01T00:00:00Z\)/,
    },
    {
      name: '90d, 3 days after notAfter',
      lifetimeMs: 90 * D,
      remainingMs: -3 * D,
      expect: Reason.expired,
      message: /expired 3d ago/,
    },
    {
      name: '24h step-ca certificate, 12h01m left',
      lifetimeMs: 24 * H,
      remainingMs: 12 * H + 60 * S,
      runIntervalMs: H,
      expect: Reason.ok,
    },
    {
      name: '24h step-ca certificate, 12h left',
      lifetimeMs: 24 * H,
      remainingMs: 12 * H,
      runIntervalMs: H,
      expect: Reason.withinRenewWindow,
    },
  );

  for (const row of rows) {
    test(row.name, () => {
      const info = synthetic(row.lifetimeMs);
      const notAfter = NB.getTime() + row.lifetimeMs;
      const now = new Date(notAfter - row.remainingMs);
      const input: PolicyInput = {
        entry: entry(row.settings),
        stored: present(),
        now,
        runIntervalMs: row.runIntervalMs ?? 24 * H,
      };
      const decision = run(input, info);
      assert.equal(decision.reason, row.expect, decision.message);
      assert.equal(decision.renew, row.expect !== Reason.ok);
      assert.equal(decision.remainingMs, row.remainingMs);
      assert.equal(decision.lifetimeMs, row.lifetimeMs);
      assert.deepEqual(decision.notAfter, new Date(notAfter));
      assert.deepEqual(decision.notBefore, NB);
      if (row.message) assert.match(decision.message, row.message);
      if (decision.renewAt) {
        // renewAt is exactly where the answer flips.
        const at = decide({ ...input, now: decision.renewAt }, info);
        const justBefore = decide({ ...input, now: new Date(decision.renewAt.getTime() - S) }, info);
        assert.equal(at.renew, true);
        assert.equal(justBefore.renew, false);
      }
    });
  }

  test('the ok message says what is left, when it renews and at what time', () => {
    const now = new Date(NB.getTime() + 27 * D + 21 * H);
    const decision = run(
      { entry: entry(), stored: present(), now, runIntervalMs: 24 * H },
      synthetic(90 * D),
    );
    assert.equal(decision.message, '62d 3h left of 90d; renews when 30d remain (at 2030-03-02T00:00:00Z)');
    assert.deepEqual(decision.renewAt, new Date('2030-03-02T00:00:00Z'));
  });
});

describe('ARI', () => {
  const lifetime = 90 * D;
  const info = synthetic(lifetime);
  const input = (daysIn: number, ari: { start: Date; end: Date } | undefined, runIntervalMs = 24 * H) => {
    const now = new Date(NB.getTime() + daysIn * D);
    return {
      entry: entry(),
      stored: present(),
      now,
      runIntervalMs,
      ...(ari ? { ari } : {}),
    } satisfies PolicyInput;
  };
  const from = (now: Date, startMs: number, endMs: number) => ({
    start: new Date(now.getTime() + startMs),
    end: new Date(now.getTime() + endMs),
  });

  test('a window in the future: ok, and renewAt is the point minus one run interval', () => {
    const base = input(10, undefined);
    const ari = from(base.now, 20 * D, 22 * D);
    const decision = run({ ...base, ari }, info);
    assert.equal(decision.reason, Reason.ok);
    assert.match(decision.message, /the CA suggests renewing between/);
    const point = ariRenewAt(ari, info.ok ? info.cert.serial : '');
    assert.deepEqual(decision.renewAt, new Date(point.getTime() - 24 * H));
  });

  test("the CA's earlier answer, used because it could not be asked, says when it was given", () => {
    const base = input(10, undefined);
    const lastAnswerAt = new Date(base.now.getTime() - 30 * H);
    const fine = run({ ...base, ari: { ...from(base.now, 20 * D, 22 * D), lastAnswerAt } }, info);
    assert.equal(fine.reason, Reason.ok);
    assert.match(fine.message, /the CA could not be asked; at \S+ it suggested renewing between/);
    assert.ok(fine.message.includes(lastAnswerAt.toISOString().slice(0, 19)), fine.message);
    const due = run({ ...base, ari: { ...from(base.now, -2 * D, -1 * D), lastAnswerAt } }, info);
    assert.equal(due.reason, Reason.ariWindow);
    assert.match(due.message, /the CA could not be asked; at \S+ it suggested renewing between/);
  });

  test('a window in the past: renew now', () => {
    const base = input(10, undefined);
    const decision = run({ ...base, ari: from(base.now, -3 * D, -1 * D) }, info);
    assert.equal(decision.reason, Reason.ariWindow);
    assert.equal(decision.renew, true);
  });

  test('a window that starts before the next run: renew now', () => {
    const base = input(10, undefined);
    const decision = run({ ...base, ari: from(base.now, H, 2 * H) }, info);
    assert.equal(decision.reason, Reason.ariWindow);
  });

  test('the boundary: due exactly one run interval before the point, not a second earlier', () => {
    const base = input(10, undefined);
    const ari = from(base.now, 20 * D, 22 * D);
    const point = ariRenewAt(ari, '5A17');
    const at = run({ ...base, ari, now: new Date(point.getTime() - 24 * H) }, info);
    const before = run({ ...base, ari, now: new Date(point.getTime() - 24 * H - S) }, info);
    assert.equal(at.reason, Reason.ariWindow);
    assert.equal(before.reason, Reason.ok);
  });

  test('ARI replaces the window: inside the one-third window but ARI later → ok', () => {
    const base = input(65, undefined); // 25d left of 90d: inside the 30d window
    assert.equal(run(base, info).reason, Reason.withinRenewWindow);
    const decision = run({ ...base, ari: from(base.now, 10 * D, 11 * D) }, info);
    assert.equal(decision.reason, Reason.ok);
  });

  test('the safety floor overrides ARI', () => {
    const base = input(86, undefined); // 4d left; floor is 4.5d
    const decision = run({ ...base, ari: from(base.now, 3 * D, 3.5 * D) }, info);
    assert.equal(decision.reason, Reason.safetyFloor);
    assert.match(decision.message, /safety floor/);
  });

  test('a window ending before this certificate was issued is ignored', () => {
    const stale = { start: new Date(NB.getTime() - 5 * D), end: new Date(NB.getTime() - 4 * D) };
    assert.equal(run(input(65, stale), info).reason, Reason.withinRenewWindow);
    const ok = run(input(10, stale), info);
    assert.equal(ok.reason, Reason.ok);
    assert.doesNotMatch(ok.message, /CA suggests/);
  });

  test('a malformed window (end not after start) is ignored', () => {
    const base = input(10, undefined);
    const backwards = { start: new Date(base.now.getTime() - D), end: new Date(base.now.getTime() - 2 * D) };
    assert.equal(run({ ...base, ari: backwards }, info).reason, Reason.ok);
  });
});

describe('hard triggers and forced (real certificates)', () => {
  const lifetime = 90 * D;
  const mid = new Date(NB.getTime() + 10 * D); // 80 of 90 days left: fine by time
  let key: string;
  let otherKey: string;
  let good: string;
  let p384Key: string;
  let p384Cert: string;
  let idnKey: string;
  let idnCert: string;

  const issue = (subjectKeyPem: string, domains: string[], notAfter = new Date(NB.getTime() + lifetime)) =>
    createCertificate({
      subjectKeyPem,
      selfSignKeyPem: subjectKeyPem,
      commonName: domains[0] as string,
      domains,
      notBefore: NB,
      notAfter,
    });

  before(async () => {
    const keyTypes: KeyType[] = ['ecdsa-p256', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p256'];
    [key, otherKey, p384Key, idnKey] = (await Promise.all(keyTypes.map((t) => generateKey(t)))) as [
      string,
      string,
      string,
      string,
    ];
    good = await issue(key, DOMAINS);
    p384Cert = await issue(p384Key, DOMAINS);
    idnCert = await issue(idnKey, ['xn--bcher-kva.example', '192.0.2.1', '2001:db8::1']);
  });

  const input = (stored: LoadResult, over: Partial<PolicyInput> = {}): PolicyInput => ({
    entry: entry(),
    stored,
    now: mid,
    runIntervalMs: 24 * H,
    ...over,
  });

  test('ok', () => {
    const decision = run(input(present(good, key)));
    assert.equal(decision.reason, Reason.ok);
    assert.equal(decision.renew, false);
  });

  test('missing', () => {
    const decision = run(input({ state: 'missing' }));
    assert.deepEqual([decision.renew, decision.reason], [true, Reason.missing]);
    assert.match(decision.message, /no certificate in store 'files'/);
  });

  test('unreadable: the store says so', () => {
    const decision = run(input({ state: 'unreadable', error: 'meta.json is not JSON' }));
    assert.deepEqual([decision.renew, decision.reason], [true, Reason.unreadable]);
    assert.match(decision.message, /meta\.json is not JSON/);
  });

  test('unreadable: the certificate PEM does not parse', () => {
    for (const pem of ['garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']) {
      const decision = run(input(present(pem, key)));
      assert.deepEqual([decision.renew, decision.reason], [true, Reason.unreadable]);
    }
    assert.deepEqual(inspectStored(present('garbage', key)), {
      ok: false,
      error: 'the certificate PEM does not parse',
    });
  });

  test('key-mismatch (also for a garbage key)', () => {
    assert.equal(run(input(present(good, otherKey))).reason, Reason.keyMismatch);
    assert.equal(run(input(present(good, 'garbage'))).reason, Reason.keyMismatch);
  });

  test('domains-changed, with what was added and dropped', () => {
    const decision = run(
      input(present(good, key), { entry: entry({ domains: ['www.example.test', 'new.example.test'] }) }),
    );
    assert.equal(decision.reason, Reason.domainsChanged);
    assert.equal(decision.message, 'domains changed: adds new.example.test; drops example.test');
    assert.equal(
      run(input(present(good, key), { entry: entry({ domains: ['www.example.test'] }) })).reason,
      Reason.domainsChanged,
    );
  });

  test('the same names in another order, case or spelling are not a change', () => {
    assert.equal(
      run(input(present(good, key), { entry: entry({ domains: ['EXAMPLE.test', 'www.example.test'] }) }))
        .reason,
      Reason.ok,
    );
    const idn = entry({ domains: ['xn--bcher-kva.example', '192.0.2.1', '2001:DB8:0::1'] });
    assert.equal(run(input(present(idnCert, idnKey), { entry: idn })).reason, Reason.ok);
  });

  test('key-type-changed', () => {
    const decision = run(input(present(p384Cert, p384Key)));
    assert.equal(decision.reason, Reason.keyTypeChanged);
    assert.match(decision.message, /has ecdsa-p384, the manifest asks for ecdsa-p256/);
    assert.equal(
      run(input(present(p384Cert, p384Key), { entry: entry({ keyType: 'ecdsa-p384' }) })).reason,
      Reason.ok,
    );
  });

  test('no key type in the manifest: a certificate keeps the one it has', () => {
    const unnamed = entry({ keyType: 'ecdsa-p256', keyTypeIsDefault: true });
    assert.equal(run(input(present(p384Cert, p384Key), { entry: unnamed })).reason, Reason.ok);
    assert.equal(run(input(present(good, key), { entry: unnamed })).reason, Reason.ok);
  });

  test('issuer-changed, and no trigger when the store has no metadata', () => {
    const decision = run(input(present(good, key, meta({ issuer: 'old-ca' }))));
    assert.equal(decision.reason, Reason.issuerChanged);
    assert.match(decision.message, /'old-ca'.*'dev'/);
    assert.equal(run(input(present(good, key, undefined))).reason, Reason.ok);
  });

  test('expired', () => {
    const decision = run(input(present(good, key), { now: new Date(NB.getTime() + lifetime + H) }));
    assert.equal(decision.reason, Reason.expired);
    assert.equal(decision.remainingMs, -H);
  });

  test('hard triggers come in the documented order', () => {
    const late = new Date(NB.getTime() + lifetime + D);
    const otherDomains = entry({ domains: ['other.example.test'], keyType: 'rsa-2048', issuerName: 'new' });
    const all = input(present(good, otherKey, meta({ issuer: 'old' })), { entry: otherDomains, now: late });
    assert.equal(run(all).reason, Reason.keyMismatch);
    assert.equal(
      run({ ...all, stored: present(good, key, meta({ issuer: 'old' })) }).reason,
      Reason.domainsChanged,
    );
    const sameDomains = { ...otherDomains, domains: DOMAINS };
    assert.equal(
      run({ ...all, entry: sameDomains, stored: present(good, key, meta({ issuer: 'old' })) }).reason,
      Reason.keyTypeChanged,
    );
    const sameKeyType = { ...sameDomains, keyType: 'ecdsa-p256' as const };
    assert.equal(
      run({ ...all, entry: sameKeyType, stored: present(good, key, meta({ issuer: 'old' })) }).reason,
      Reason.issuerChanged,
    );
    assert.equal(
      run({ ...all, entry: sameKeyType, stored: present(good, key, meta({ issuer: 'new' })) }).reason,
      Reason.expired,
    );
    assert.deepEqual(checks, [
      certificateMissing,
      certificateUnreadable,
      certificateRevoked,
      keyMismatch,
      domainsChanged,
      keyTypeChanged,
      issuerChanged,
      expired,
      notYetValid,
      linksReplaced,
      ariWindow,
      nearingExpiry,
      safetyFloor,
      forced,
    ]);
  });

  test('not-yet-valid: a notBefore beyond the clock-skew tolerance renews; within it, nothing', () => {
    const early = run(input(present(good, key), { now: new Date(NB.getTime() - 2 * D) }));
    assert.deepEqual([early.renew, early.reason], [true, Reason.notYetValid]);
    assert.match(early.message, /not valid yet: valid from /);
    // The clock is the usual cause: the message names this machine's time and the clock to check.
    const at = new Date(NB.getTime() - 2 * D).toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.ok(early.message.includes(`this machine's clock says ${at} (UTC)`), early.message);
    assert.match(early.message, /timedatectl/);
    const skewed = run(input(present(good, key), { now: new Date(NB.getTime() - 60_000) }));
    assert.equal(skewed.reason, Reason.ok);
  });

  test('links-replaced: the served files are judged, and a replaced link is said in every message', () => {
    const note = 'fullchain.pem in web is not the link cert-renew made';
    const stored = { ...present(good, key), replaced: { files: ['fullchain.pem'], note } } as LoadResult;
    const fine = run(input(stored));
    assert.deepEqual([fine.renew, fine.reason], [true, Reason.linksReplaced]);
    assert.ok(fine.message.endsWith(note));
    const late = run(input(stored, { now: new Date(NB.getTime() + lifetime + D) }));
    assert.equal(late.reason, Reason.expired);
    assert.ok(late.message.endsWith(note));
  });

  test('an explicit renewBefore and ARI both hold: whichever comes first', () => {
    const notAfter = new Date(NB.getTime() + lifetime);
    const ari = { start: new Date(notAfter.getTime() - 10 * D), end: new Date(notAfter.getTime() - 5 * D) };
    const explicit = run(input(present(good, key), { entry: entry({ renewBeforeMs: 85 * D }), ari }));
    assert.deepEqual([explicit.renew, explicit.reason], [true, Reason.withinRenewWindow]);
    const byDefault = run(input(present(good, key), { ari }));
    assert.deepEqual([byDefault.renew, byDefault.reason], [false, Reason.ok]);
    const ariFirst = run(
      input(present(good, key), {
        entry: entry({ renewBeforeMs: 5 * D }),
        ari: { start: new Date(mid.getTime() - D), end: new Date(mid.getTime()) },
      }),
    );
    assert.equal(ariFirst.reason, Reason.ariWindow);
  });

  test('forced: an ok certificate reports forced, a due one its real reason', () => {
    const ok = run(input(present(good, key), { force: true }));
    assert.deepEqual([ok.renew, ok.reason], [true, Reason.forced]);
    assert.match(ok.message, /^--force; 80d left of 90d, due at 2030-03-02T00:00:00Z$/);
    assert.equal(run(input({ state: 'missing' }, { force: true })).reason, Reason.missing);
    const due = run(input(present(good, key), { force: true, now: new Date(NB.getTime() + 70 * D) }));
    assert.equal(due.reason, Reason.withinRenewWindow);
    const expired = run(input(present(good, key), { force: true, now: new Date(NB.getTime() + 91 * D) }));
    assert.equal(expired.reason, Reason.expired);
  });

  test('revoked: a hard trigger after unreadable, before key-mismatch; forced does not hide it', () => {
    const revoked = { reason: 'keyCompromise', revokedAt: '2030-01-05T00:00:00.000Z' };
    const d = run(input(present(good, key), { revoked }));
    assert.deepEqual([d.renew, d.reason], [true, Reason.revoked]);
    assert.match(
      d.message,
      /^revoked \(keyCompromise\) at 2030-01-05T00:00:00.000Z; renews now with a new key$/,
    );
    assert.equal(run(input(present(good, key), { revoked, force: true })).reason, Reason.revoked);
    assert.equal(run(input({ state: 'missing' }, { revoked })).reason, Reason.missing);
  });

  test('every reason code was produced by some row', () => {
    assert.deepEqual([...seen].sort(), [...REASONS].sort());
  });
});
