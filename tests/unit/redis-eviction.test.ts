/** Reading `maxmemory_policy` out of `INFO memory` (stores/redis/eviction.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxmemoryPolicy } from '../../src/stores/redis/eviction.js';

test('maxmemoryPolicy reads the field of INFO memory, CRLF or LF, and nothing when it is absent', () => {
  const info = '# Memory\r\nused_memory:1000\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n';
  assert.equal(maxmemoryPolicy(info), 'allkeys-lru');
  assert.equal(maxmemoryPolicy('maxmemory_policy:noeviction\n'), 'noeviction');
  assert.equal(maxmemoryPolicy('# Memory\r\nused_memory:1\r\n'), undefined);
  assert.equal(maxmemoryPolicy('maxmemory_policy:\r\n'), undefined);
});
