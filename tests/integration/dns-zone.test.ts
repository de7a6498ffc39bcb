/**
 * Zone finding and CNAME following against a real BIND: a name no server knows fails with the settings
 * that help; a server that cannot be reached says so (without trying every label); a name outside every
 * zone, or a dangling CNAME, says so and names the CNAME that led there.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { DnsQuery } from '../../src/dns/query.js';
import { authoritativeServers, findZone, followCname } from '../../src/dns/zone.js';
import { CertRenewError } from '../../src/errors.js';
import { type BindServer, startBind } from '../harness/bind.js';
import { freePort } from '../harness/process.js';

describe('zone finding', () => {
  let bind: BindServer;
  before(async () => {
    bind = await startBind({
      zones: [{ name: 'zone.test', records: ['_acme-challenge.loose 60 IN CNAME loose.nowhere.invalid.'] }],
    });
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

  test('a server that refuses the connection: "cannot reach", not the zone hints', async () => {
    const port = await freePort();
    const dead = new DnsQuery([{ address: '127.0.0.1', port, label: `127.0.0.1:${port}` }]);
    await assert.rejects(
      findZone('_acme-challenge.dead.zone.test', dead, `rfc2136 server 127.0.0.1:${port}`),
      (e: unknown) => {
        assert.ok(e instanceof CertRenewError);
        assert.match(
          e.message,
          new RegExp(
            `^cannot reach rfc2136 server 127\\.0\\.0\\.1:${port} to find the zone of _acme-challenge\\.dead\\.zone\\.test \\(connection refused\\)$`,
          ),
        );
        assert.doesNotMatch(e.hint ?? '', /"zone"|authoritative/);
        return true;
      },
    );
  });

  test('a server that never answers: one query\'s time (about 9 s), then "no answer", not a walk over every label', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address();
      const query = new DnsQuery([{ address: '127.0.0.1', port, label: `127.0.0.1:${port}` }]);
      await assert.rejects(
        findZone('_acme-challenge.a.b.c.zone.test', query, 'rfc2136 server x'),
        (e: unknown) => {
          assert.ok(e instanceof CertRenewError);
          assert.match(
            e.message,
            /^cannot reach rfc2136 server x to find the zone of .* \(no answer within 9s\)$/,
          );
          return true;
        },
      );
    } finally {
      silent.close();
    }
  });

  test('a name outside every zone of the nameservers, and a dangling CNAME, say so', async () => {
    const where = `the nameservers ${bind.address}`;
    await assert.rejects(
      followCname('_acme-challenge.x.unserved.test', query(), undefined, where),
      (e: unknown) => {
        assert.ok(e instanceof CertRenewError);
        assert.equal(
          e.message,
          `_acme-challenge.x.unserved.test is outside every zone served by ${where} (they answer REFUSED)`,
        );
        return true;
      },
    );
    await assert.rejects(
      followCname('_acme-challenge.loose.zone.test.', query(), undefined, where),
      (e: unknown) => {
        assert.ok(e instanceof CertRenewError);
        assert.equal(
          e.message,
          `loose.nowhere.invalid is outside every zone served by ${where}, where the CNAME at _acme-challenge.loose.zone.test points (they answer REFUSED)`,
        );
        assert.match(e.hint ?? '', /fix the CNAME/);
        return true;
      },
    );
  });
});
