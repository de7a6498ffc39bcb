import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalName, parseServer } from '../../src/dns/query.js';

describe('dns server settings', () => {
  test('host, host:port, [v6]:port and bare IPv6; port 53 by default', () => {
    assert.deepEqual(parseServer('ns1.example.com'), { host: 'ns1.example.com', port: 53 });
    assert.deepEqual(parseServer('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
    assert.deepEqual(parseServer('[2001:db8::1]:5353'), { host: '2001:db8::1', port: 5353 });
    assert.deepEqual(parseServer('2001:db8::1'), { host: '2001:db8::1', port: 53 });
    assert.equal(parseServer('host:0'), undefined);
    assert.equal(parseServer('host:70000'), undefined);
    assert.equal(parseServer('[not-v6]:53'), undefined);
    assert.equal(parseServer('a b'), undefined);
  });

  test('names compare without the trailing dot and case', () => {
    assert.equal(canonicalName('_ACME-Challenge.Example.COM.'), '_acme-challenge.example.com');
  });
});
