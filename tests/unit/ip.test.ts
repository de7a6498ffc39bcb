/** ipVersion (src/util/ip.ts) against net.isIP, which it must agree with everywhere. */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { ipVersion } from '../../src/util/ip.js';

describe('ipVersion', () => {
  it('answers as net.isIP does for addresses, names and near misses', () => {
    const samples = [
      '127.0.0.1',
      '0.0.0.0',
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '::',
      '::1',
      '2001:db8::1',
      'fe80::1%eth0',
      '::ffff:192.0.2.1',
      '[::1]',
      '2001:db8::g',
      'example.com',
      'xn--bcher-kva.example',
      '*.example.com',
      '1.2.3.4.example',
      '',
      '.',
      '...',
      '1..2.3',
      'localhost:8080',
      '12345',
    ];
    for (const text of samples) assert.equal(ipVersion(text), isIP(text), text);
  });

  it('agrees with net.isIP on random strings over the characters addresses use', () => {
    const alphabet = '0123456789abcdefABCDEF:.%[]x-';
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed;
    };
    for (let i = 0; i < 20000; i++) {
      let text = '';
      const length = next() % 20;
      for (let j = 0; j < length; j++) text += alphabet[next() % alphabet.length];
      assert.equal(ipVersion(text), isIP(text), text);
    }
  });
});
