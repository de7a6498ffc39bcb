/** The BIND and PowerDNS harnesses themselves: they start, answer on loopback, and take changes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BindServer, startBind } from '../harness/bind.js';
import { type PowerDnsServer, startPowerDns } from '../harness/powerdns.js';

describe('bind harness', () => {
  let bind: BindServer;
  before(async () => {
    bind = await startBind({ zones: [{ name: 'harness.test', records: ['txt 60 IN TXT "hello"'] }] });
  });
  after(() => bind?.stop());

  test('answers on a free loopback port and takes TSIG-signed updates', async () => {
    assert.notEqual(bind.port, 53);
    assert.deepEqual(await bind.txt('txt.harness.test'), ['hello']);
    assert.deepEqual(await bind.txt('new.harness.test'), []);
    await bind.addTxt('harness.test', 'new.harness.test', 'v1');
    assert.deepEqual(await bind.txt('new.harness.test'), ['v1']);
  });
});

describe('powerdns harness', () => {
  let pdns: PowerDnsServer;
  before(async () => {
    pdns = await startPowerDns({
      zones: [
        {
          name: 'harness.test',
          rrsets: [{ name: 'txt.harness.test.', type: 'TXT', records: ['"hello"'] }],
        },
      ],
    });
  });
  after(() => pdns?.stop());

  test('answers DNS on a free loopback port and its API needs the key', async () => {
    assert.notEqual(pdns.port, 53);
    assert.deepEqual(await pdns.txt('txt.harness.test'), ['hello']);
    const denied = await fetch(`${pdns.apiUrl}/api/v1/servers/localhost/zones`);
    assert.equal(denied.status, 401);
    const allowed = await fetch(`${pdns.apiUrl}/api/v1/servers/localhost/zones`, {
      headers: { 'X-API-Key': pdns.apiKey },
    });
    assert.equal(allowed.status, 200);
    const zones = (await allowed.json()) as { name: string }[];
    assert.deepEqual(
      zones.map((z) => z.name),
      ['harness.test.'],
    );
  });
});
