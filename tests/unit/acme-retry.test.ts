/**
 * The timing of ACME retries and polls, as tables: which waits happen, in what order, and what is thrown.
 * `sleep` is injected and only records the wait, so nothing here waits for real.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import {
  backoffDelay,
  DEFAULT_POLL_POLICY,
  DEFAULT_RETRY_POLICY,
  type PollPolicy,
  pollUntilSettled,
  type RetryPolicy,
  type Sleep,
  withRetry,
} from '../../src/issuers/acme/retry.js';
import { parseRetryAfter } from '../../src/issuers/acme/transport.js';

/** A sleep that records its waits and returns at once (or rejects, as an aborted sleep does). */
function recordingSleep(options: { abortAfter?: number; controller?: AbortController } = {}) {
  const waits: number[] = [];
  const sleep: Sleep = async (ms, signal) => {
    waits.push(ms);
    if (options.abortAfter !== undefined && waits.length >= options.abortAfter) options.controller?.abort();
    if (signal.aborted) throw new Error('aborted');
  };
  return { waits, sleep };
}

/** What one attempt does: fail transiently (optionally with Retry-After seconds), fail for good, succeed. */
type Step = { transient: true; retryAfter?: number } | { permanent: true } | { ok: true };

const transient = (retryAfter?: number): Step => ({
  transient: true,
  ...(retryAfter === undefined ? {} : { retryAfter }),
});
const permanent: Step = { permanent: true };
const ok: Step = { ok: true };

function attempts(steps: Step[]) {
  let calls = 0;
  const fn = async () => {
    const step = steps[calls++];
    if (!step) throw new Error('called more often than the table says');
    if ('ok' in step) return 'issued';
    if ('permanent' in step) throw new CertRenewError(ErrorCode.issuerRejected, `refused at ${calls}`);
    throw new CertRenewError(ErrorCode.issuerUnavailable, `down at ${calls}`, {
      transient: true,
      ...(step.retryAfter === undefined ? {} : { retryAfter: step.retryAfter }),
    });
  };
  return { fn, calls: () => calls };
}

const classify = (error: unknown) =>
  error instanceof CertRenewError ? error : new CertRenewError(ErrorCode.internal, String(error));
const deadline = () => new CertRenewError(ErrorCode.issuerTimeout, 'deadline');

const CAPPED: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 5000, maxAttempts: 6 };

describe('withRetry timing (table)', () => {
  const rows: {
    name: string;
    policy: RetryPolicy;
    steps: Step[];
    waits: number[];
    outcome: 'issued' | string;
  }[] = [
    {
      name: 'success at once: no wait',
      policy: DEFAULT_RETRY_POLICY,
      steps: [ok],
      waits: [],
      outcome: 'issued',
    },
    {
      name: 'two transient failures, then success: 1 s, 2 s',
      policy: DEFAULT_RETRY_POLICY,
      steps: [transient(), transient(), ok],
      waits: [1000, 2000],
      outcome: 'issued',
    },
    {
      name: 'the default policy: six attempts, doubling waits, the last failure thrown',
      policy: DEFAULT_RETRY_POLICY,
      steps: [transient(), transient(), transient(), transient(), transient(), transient()],
      waits: [1000, 2000, 4000, 8000, 16000],
      outcome: ErrorCode.issuerUnavailable,
    },
    {
      name: 'the backoff is capped at maxDelayMs',
      policy: CAPPED,
      steps: [transient(), transient(), transient(), transient(), transient(), ok],
      waits: [1000, 2000, 4000, 5000, 5000],
      outcome: 'issued',
    },
    {
      name: 'Retry-After longer than the backoff is honoured',
      policy: DEFAULT_RETRY_POLICY,
      steps: [transient(10), ok],
      waits: [10_000],
      outcome: 'issued',
    },
    {
      name: 'Retry-After above the cap fails at once (waiting it out would hold the slot to the deadline)',
      policy: CAPPED,
      steps: [transient(), transient(60)],
      waits: [1000],
      outcome: ErrorCode.issuerUnavailable,
    },
    {
      name: 'Retry-After shorter than the backoff: the backoff',
      policy: DEFAULT_RETRY_POLICY,
      steps: [transient(), transient(), transient(1), ok],
      waits: [1000, 2000, 4000],
      outcome: 'issued',
    },
    {
      name: 'a permanent failure ends it at once',
      policy: DEFAULT_RETRY_POLICY,
      steps: [transient(), permanent],
      waits: [1000],
      outcome: ErrorCode.issuerRejected,
    },
    {
      name: 'one attempt (dry run, ARI): no wait at all',
      policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 1 },
      steps: [transient(30)],
      waits: [],
      outcome: ErrorCode.issuerUnavailable,
    },
  ];

  for (const row of rows) {
    test(row.name, async () => {
      const { waits, sleep } = recordingSleep();
      const { fn, calls } = attempts(row.steps);
      const run = withRetry(fn, {
        policy: row.policy,
        signal: new AbortController().signal,
        classify,
        deadline,
        sleep,
      });
      if (row.outcome === 'issued') assert.equal(await run, 'issued');
      else await assert.rejects(run, { code: row.outcome });
      assert.deepEqual(waits, row.waits);
      assert.equal(calls(), row.steps.length);
    });
  }

  test('the deadline during a wait: the transient failure being retried is thrown, no further attempt', async () => {
    const controller = new AbortController();
    const { waits, sleep } = recordingSleep({ abortAfter: 2, controller });
    const { fn, calls } = attempts([transient(), transient(), ok]);
    await assert.rejects(
      withRetry(fn, { policy: DEFAULT_RETRY_POLICY, signal: controller.signal, classify, deadline, sleep }),
      {
        code: ErrorCode.issuerUnavailable,
        message: 'down at 2',
      },
    );
    assert.deepEqual(waits, [1000, 2000]);
    assert.equal(calls(), 2);
  });

  test('onRetry sees each failure with its wait and attempt number', async () => {
    const { sleep } = recordingSleep();
    const seen: [string, number, number][] = [];
    const { fn } = attempts([transient(), transient(3), ok]);
    await withRetry(fn, {
      policy: DEFAULT_RETRY_POLICY,
      signal: new AbortController().signal,
      classify,
      deadline,
      sleep,
      onRetry: (error, delayMs, attempt) => seen.push([error.message, delayMs, attempt]),
    });
    assert.deepEqual(seen, [
      ['down at 1', 1000, 1],
      ['down at 2', 3000, 2],
    ]);
  });
});

describe('Retry-After from the header, with an injected clock (table)', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const rows: [string | undefined, number | undefined, number][] = [
    // header, seconds parsed, wait after the first failure under the default policy
    [undefined, undefined, 1000],
    ['0', 0, 1000],
    ['7', 7, 7000],
    ['Sun, 01 Jun 2025 12:02:00 GMT', 120, 120_000],
    ['Sun, 01 Jun 2025 11:00:00 GMT', 0, 1000],
    ['later', undefined, 1000],
    // Not an HTTP-date, though Date.parse reads a date in each: a garbage header holds nothing back.
    ['x 2099', undefined, 1000],
    ['Dec 1', undefined, 1000],
    ['2025-06-01T12:02:00Z', undefined, 1000],
    ['Sunday, 01-Jun-25 12:02:00 GMT', 120, 120_000],
    ['Sun Jun  1 12:02:00 2025', 120, 120_000],
  ];
  for (const [header, seconds, wait] of rows) {
    test(`Retry-After ${JSON.stringify(header)} → ${wait} ms`, () => {
      assert.equal(parseRetryAfter(header, now), seconds);
      assert.equal(backoffDelay(DEFAULT_RETRY_POLICY, 1, seconds), wait);
    });
  }
});

describe('pollUntilSettled timing (table)', () => {
  const timeout = () => new CertRenewError(ErrorCode.issuerTimeout, 'still pending');
  const rows: {
    name: string;
    policy: PollPolicy;
    statuses: string[];
    waits: number[];
    outcome: string;
  }[] = [
    {
      name: 'settled at once: no wait',
      policy: DEFAULT_POLL_POLICY,
      statuses: ['valid'],
      waits: [],
      outcome: 'valid',
    },
    {
      name: 'short waits first, doubling up to the cap',
      policy: DEFAULT_POLL_POLICY,
      statuses: [
        'pending',
        'pending',
        'pending',
        'pending',
        'processing',
        'processing',
        'processing',
        'valid',
      ],
      waits: [150, 300, 600, 1200, 2400, 3000, 3000],
      outcome: 'valid',
    },
    {
      name: 'invalid is settled too (the caller judges it)',
      policy: DEFAULT_POLL_POLICY,
      statuses: ['pending', 'invalid'],
      waits: [150],
      outcome: 'invalid',
    },
    {
      name: 'the waiting budget runs out: ISSUER_TIMEOUT',
      policy: { initialMs: 150, maxMs: 3000, timeoutMs: 1000 },
      statuses: ['pending', 'pending', 'pending', 'pending'],
      waits: [150, 300, 600],
      outcome: ErrorCode.issuerTimeout,
    },
  ];
  for (const row of rows) {
    test(row.name, async () => {
      const { waits, sleep } = recordingSleep();
      let calls = 0;
      const fetch = async () => ({ status: row.statuses[calls++] ?? 'unexpected' });
      const run = pollUntilSettled(fetch, {
        policy: row.policy,
        signal: new AbortController().signal,
        timeout,
        sleep,
      });
      if (row.outcome === ErrorCode.issuerTimeout) await assert.rejects(run, { code: row.outcome });
      else assert.equal((await run).status, row.outcome);
      assert.deepEqual(waits, row.waits);
      assert.equal(calls, row.statuses.length);
    });
  }

  test('the deadline during a wait: ISSUER_TIMEOUT, no further fetch', async () => {
    const controller = new AbortController();
    const { waits, sleep } = recordingSleep({ abortAfter: 1, controller });
    let calls = 0;
    const fetch = async () => {
      calls++;
      return { status: 'pending' };
    };
    await assert.rejects(
      pollUntilSettled(fetch, { policy: DEFAULT_POLL_POLICY, signal: controller.signal, timeout, sleep }),
      { code: ErrorCode.issuerTimeout },
    );
    assert.deepEqual(waits, [150]);
    assert.equal(calls, 1);
  });
});
