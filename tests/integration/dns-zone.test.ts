/** Zone finding against a real BIND: a name no server knows fails with the settings that help. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DnsQuery } from '../../src/dns/query.js';
import { authoritativeServers, findZone } from '../../src/dns/zone.js';
import { CertRenewError } from '../../src/errors.js';
import { type BindServer, startBind } from '../harness/bind.js';

describe('zone finding', () => {
  let bind: BindServer;
  before(async () => {
    bind = await startBind({ zones: [{ name: 'zone.test' }] });
  });
  after(() => bind?.stop());

  const query = () => new DnsQuery([{ address: '127.0.0.1', port: bind.port, label: 'bind' }]);

  test('finds the zone of a name inside it', async () => {
    assert.equal(await findZone('_acme-challenge.www.zone.test', query(), 'bind'), 'zone.test');
  });

  test('the propagation check names "nameservers" and "propagationCheck", settings dns-01 has', async () => {
    const error = await authoritativeServers('_acme-challenge.www.elsewhere.test', query()).then(
      () => assert.fail('expected no zone'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CertRenewError);
    assert.equal(error.code, 'CHALLENGE_FAILED');
    assert.match(error.message, /cannot find the DNS zone of _acme-challenge\.www\.elsewhere\.test/);
    assert.match(error.hint ?? '', /"nameservers"/);
    assert.match(error.hint ?? '', /"propagationCheck": false/);
    assert.doesNotMatch(error.hint ?? '', /"zone"/);
  });

  test('an rfc2136 server that holds no zone for the name names "zone", a setting rfc2136 has', async () => {
    await assert.rejects(findZone('www.elsewhere.test', query(), 'rfc2136 server bind'), (e: unknown) => {
      assert.ok(e instanceof CertRenewError);
      assert.match(e.hint ?? '', /set "zone"/);
      return true;
    });
  });
});
