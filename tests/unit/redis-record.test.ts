/** The Redis store's attempt record (src/stores/redis/record.ts) keeps every field an AttemptInfo has. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { decodeAttempt, encodeAttempt } from '../../src/stores/redis/record.js';
import type { AttemptInfo } from '../../src/stores/types.js';

test('an attempt survives a round trip through Redis, hooksPending and retryAfter included', () => {
  const full: AttemptInfo = {
    lastAttempt: '2026-11-30T03:00:00.000Z',
    failureCount: 2,
    lastErrorCode: ErrorCode.hookFailed,
    lastError: "hook './reload.sh' exited with code 1",
    retryAfter: '2026-11-30T09:00:00.000Z',
    hooksPending: true,
  };
  assert.deepEqual(decodeAttempt(encodeAttempt(full)), full);
  const bare: AttemptInfo = { lastAttempt: '2026-11-30T03:00:00.000Z', failureCount: 1 };
  assert.deepEqual(decodeAttempt(encodeAttempt(bare)), bare);
  assert.doesNotMatch(encodeAttempt(bare), /hooks_pending/);
});
