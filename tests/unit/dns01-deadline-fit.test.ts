/**
 * validate's dns-01 deadline warnings (src/manifest/checks/dns01.ts): when propagationDelay, or
 * propagationDelay + propagationTimeout, does not fit in run's default --timeout, and not otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PROPAGATION_TIMEOUT_MS } from '../../src/dns/propagation.js';
import {
  DEFAULT_RUN_TIMEOUT_MS,
  dns01Settings,
  PROPAGATION_TIMEOUT_DEFAULT_MS,
} from '../../src/manifest/checks/dns01.js';

const exec = { type: 'dns-01', exec: '/bin/true' };
const warned = (extra: Record<string, unknown>) =>
  dns01Settings({ ...exec, ...extra }, '/c')
    .filter((f) => f.severity === 'warning')
    .map((f) => `${f.pointer} ${f.message}`);

test('the copies of the defaults agree with their sources', () => {
  assert.equal(PROPAGATION_TIMEOUT_DEFAULT_MS, DEFAULT_PROPAGATION_TIMEOUT_MS);
  assert.equal(DEFAULT_RUN_TIMEOUT_MS, 10 * 60_000); // src/cli.ts: run --timeout '10m'
});

test('waits that fit in the default deadline: no warning', () => {
  assert.deepEqual(warned({}), []);
  assert.deepEqual(warned({ propagationDelay: '5m', propagationTimeout: '4m' }), []);
  assert.deepEqual(warned({ propagationTimeout: '1h', propagationCheck: false }), []);
});

test('a propagationDelay of the deadline or more: a warning naming --timeout', () => {
  const [line, ...rest] = warned({ propagationDelay: '10m' });
  assert.deepEqual(rest, []);
  assert.match(line ?? '', /^\/c\/propagationDelay propagationDelay 10m is not shorter than .*--timeout 10m/);
});

test('propagationDelay + propagationTimeout (default 2m) of the deadline or more: one warning', () => {
  assert.match(warned({ propagationTimeout: '1h' })[0] ?? '', /^\/c\/propagationTimeout .*\(1h\)/);
  assert.match(warned({ propagationDelay: '8m' })[0] ?? '', /^\/c\/propagationDelay .*\(10m\)/);
});
