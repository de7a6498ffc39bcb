/**
 * The run's gate for dns-01 names several orders validate (src/issuers/acme/challenges/dns-ca-cache.ts),
 * with a fixed clock and a sleep that moves it: who waits, how long, in which order, and what an abort
 * leaves behind.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import {
  CA_CACHE_MARGIN_MS,
  cacheWaitMs,
  type GateEntrant,
  txtTtlSeconds,
  ValidationNameGate,
} from '../../src/issuers/acme/challenges/dns-ca-cache.js';
import { Dns01Solver } from '../../src/issuers/acme/challenges/dns01.js';
import type { ChallengeSolver } from '../../src/issuers/acme/challenges/types.js';
import { fixedClock } from '../../src/runtime/clock.js';
import { createLogger, silentLogger } from '../../src/runtime/logger.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const NAME = '_acme-challenge.example.test';

function setup(stopWhileSleeping?: AbortController) {
  const clock = fixedClock(T0);
  const slept: number[] = [];
  // Sleeping moves the fixed clock by exactly that much (or rejects at once on an aborted signal).
  const sleep = async (ms: number, signal: AbortSignal) => {
    stopWhileSleeping?.abort();
    if (signal.aborted) throw signal.reason;
    slept.push(ms);
    clock.advance(ms);
  };
  const lines: string[] = [];
  const logger = createLogger((line) => lines.push(line), 'debug');
  const gate = new ValidationNameGate(clock, sleep);
  const who = (certName: string, ttlSeconds = 60): GateEntrant => ({
    certName,
    issuerName: 'le',
    ttlSeconds,
    logger,
  });
  return { clock, slept, lines, gate, who };
}

const live = () => new AbortController().signal;

describe('dns-01 names shared by orders of one run', () => {
  test('cacheWaitMs: TTL plus the margin after the earlier validation, never negative', () => {
    assert.equal(cacheWaitMs(undefined, T0), 0);
    const previous = { certName: 'a', at: T0, ttlSeconds: 60 };
    assert.equal(cacheWaitMs(previous, T0), 60_000 + CA_CACHE_MARGIN_MS);
    assert.equal(cacheWaitMs(previous, T0 + 45_000), 15_000 + CA_CACHE_MARGIN_MS);
    assert.equal(cacheWaitMs(previous, T0 + 60_000 + CA_CACHE_MARGIN_MS), 0);
    assert.equal(cacheWaitMs(previous, T0 + 3_600_000), 0);
    assert.equal(cacheWaitMs(previous, T0, 0), 60_000);
  });

  test('txtTtlSeconds: the provider ttl, 60 when unset and for exec', () => {
    const secret = { env: 'X' };
    assert.equal(
      txtTtlSeconds({ type: 'dns-01', rfc2136: { server: 'ns', keyName: 'k', secret, ttl: 5 } }),
      5,
    );
    assert.equal(txtTtlSeconds({ type: 'dns-01', rfc2136: { server: 'ns', keyName: 'k', secret } }), 60);
    assert.equal(
      txtTtlSeconds({ type: 'dns-01', powerdns: { url: 'http://p', apiKey: secret, ttl: 30 } }),
      30,
    );
    assert.equal(txtTtlSeconds({ type: 'dns-01', exec: '/bin/hook' }), 60);
  });

  test('the first order at a name does not wait; the next waits out TTL + margin from its validation', async () => {
    const { clock, slept, lines, gate, who } = setup();
    const first = await gate.enter([`${NAME}.`], who('apex', 10), live());
    assert.deepEqual(slept, []);
    clock.advance(3_000); // the CA validates
    first.validated();
    assert.deepEqual(gate.lastValidation(NAME), { certName: 'apex', at: T0 + 3_000, ttlSeconds: 10 });

    clock.advance(4_000); // the next order is ready 4 s later
    const second = await gate.enter([NAME.toUpperCase()], who('wild', 60), live());
    assert.deepEqual(slept, [10_000 + CA_CACHE_MARGIN_MS - 4_000]);
    assert.ok(
      lines.some((l) =>
        l.includes(
          `cert-renew info: issuer le: certificate wild: waiting 8s for the CA's DNS cache of ${NAME}: validated for certificate apex at 2026-03-01T10:00:03Z (TXT TTL 10s + 2s)`,
        ),
      ),
      lines.join(''),
    );
    second.validated();
    // The wait that follows uses the TTL the later order wrote.
    assert.equal(gate.lastValidation(NAME)?.ttlSeconds, 60);
  });

  test('a name validated long enough ago, or another name, costs no wait', async () => {
    const { clock, slept, gate, who } = setup();
    (await gate.enter([NAME], who('a', 5), live())).validated();
    (await gate.enter(['_acme-challenge.other.test'], who('b', 5), live())).validated();
    clock.advance(5_000 + CA_CACHE_MARGIN_MS);
    (await gate.enter([NAME], who('c', 5), live())).validated();
    assert.deepEqual(slept, []);
  });

  test('released without validation (the CA was never asked): nothing is recorded, the next goes in', async () => {
    const { slept, gate, who } = setup();
    const turn = await gate.enter([NAME], who('a'), live());
    turn.release();
    turn.validated(); // a second end changes nothing
    assert.equal(gate.lastValidation(NAME), undefined);
    (await gate.enter([NAME], who('b'), live())).validated();
    assert.deepEqual(slept, []);
  });

  test('orders at the same name take turns, first come first served; the longest of several names counts', async () => {
    const { clock, slept, gate, who } = setup();
    const other = '_acme-challenge.www.example.test';
    const first = await gate.enter([NAME, other], who('a', 10), live());
    const entered: string[] = [];
    const second = gate.enter([other], who('b', 10), live()).then((t) => {
      entered.push('b');
      return t;
    });
    const third = gate.enter([NAME, other], who('c', 10), live()).then((t) => {
      entered.push('c');
      return t;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(entered, [], 'nobody enters while the first order validates');
    clock.advance(1_000);
    first.validated();
    const b = await second;
    assert.deepEqual(entered, ['b']);
    assert.deepEqual(slept, [10_000 + CA_CACHE_MARGIN_MS - 0]);
    clock.advance(2_000);
    b.validated();
    (await third).validated();
    assert.deepEqual(entered, ['b', 'c']);
    // c waited for NAME's cache (a, expired by then) and other's (b's validation, 12 s before).
    assert.deepEqual(slept, [12_000, 12_000]);
  });

  test('an abort while queued or waiting is ISSUER_TIMEOUT naming what it waited for; it blocks nobody', async () => {
    const whileSleeping = new AbortController();
    const { clock, gate, who } = setup(whileSleeping);
    const first = await gate.enter([NAME], who('a', 10), live());
    const stop = new AbortController();
    const queued = gate.enter([NAME], who('b', 10), stop.signal);
    stop.abort();
    await assert.rejects(queued, (error: Error & { code?: string; transient?: boolean }) => {
      assert.equal(error.code, ErrorCode.issuerTimeout);
      assert.equal(error.transient, true);
      assert.match(error.message, new RegExp(`waiting for the validation of ${NAME} for certificate a`));
      return true;
    });
    first.validated();
    await assert.rejects(
      gate.enter([NAME], who('c', 10), whileSleeping.signal),
      /waiting for the CA's DNS cache of .*validated for certificate a .*did not finish before the certificate's deadline/,
    );
    clock.advance(60_000);
    const next = await gate.enter([NAME], who('d', 10), live());
    next.validated();
    assert.equal(gate.lastValidation(NAME)?.certName, 'd');
  });

  test("the hint for a 'value not found' failure adds the CA's cache to the provider's hint", () => {
    const provider: ChallengeSolver = {
      type: 'dns-01',
      description: 'dns-01 stub',
      failureHint: 'check the stub',
      present: async () => {},
      cleanup: async () => {},
      check: async () => 'ok',
    };
    const solver = new Dns01Solver(
      { type: 'dns-01', rfc2136: { server: 'ns', keyName: 'k', secret: { env: 'X' }, ttl: 30 } },
      { baseDir: '.', env: {}, logger: silentLogger, getStore: () => Promise.reject(), issuerName: 'le' },
      provider,
    );
    for (const detail of [
      'Correct value not found for DNS challenge',
      'Incorrect TXT record "abc" found at _acme-challenge.example.com',
      'keyAuthorization does not match; expected x, but got [y]',
    ]) {
      const hint = solver.failureHintFor(detail);
      assert.ok(hint.startsWith('check the stub; '), hint);
      assert.match(hint, /the CA's resolver .* may cache for up to the record's TTL \(30s\)/);
    }
    assert.equal(solver.failureHintFor('DNS problem: SERVFAIL looking up TXT'), 'check the stub');
  });
});
