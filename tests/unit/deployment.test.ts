/** The fleet view (policy/deployment.ts), its readiness, and the hook list files (hooks/lists.ts). */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { dropLongLists, LIST_VARIABLE_LIMIT, writeHookLists } from '../../src/hooks/lists.js';
import { deployedHere, fleetOf } from '../../src/policy/deployment.js';
import { healthOf } from '../../src/policy/readiness.js';
import { decodeHostDeployment } from '../../src/stores/deployment-record.js';

const NOW = new Date('2030-01-10T00:00:00.000Z');
const HOUR = 3_600_000;
const current = { fingerprint: 'NEW', issuedAt: '2030-01-09T20:00:00.000Z' };

describe('fleetOf', () => {
  test('current, behind within and past the grace period, failed', () => {
    const hosts = fleetOf(
      {
        b: { fingerprint: 'OLD', serial: '01', deployedAt: '2030-01-01T00:00:00.000Z' },
        a: { fingerprint: 'NEW', serial: '02', deployedAt: '2030-01-09T20:01:00.000Z' },
        c: {
          fingerprint: 'OLD',
          pending: {
            fingerprint: 'NEW',
            since: '2030-01-09T21:00:00.000Z',
            code: 'HOOK_FAILED',
            error: 'exit 1',
          },
        },
      },
      current,
      NOW,
      8 * HOUR,
    );
    assert.deepEqual(
      hosts.map((h) => [h.host, h.state, h.behindSince, h.overdue]),
      [
        ['a', 'current', undefined, undefined],
        ['b', 'behind', '2030-01-09T20:00:00.000Z', false],
        ['c', 'failed', '2030-01-09T20:00:00.000Z', true],
      ],
    );
    assert.equal(hosts[2]?.error, 'HOOK_FAILED: exit 1');
    const late = fleetOf({ b: { fingerprint: 'OLD' } }, current, NOW, 2 * HOUR);
    assert.equal(late[0]?.overdue, true);
  });

  test('hooks that failed for the version a host records as deployed (a failed rollback): failed, not deployed', () => {
    const failedAgain = {
      fingerprint: 'NEW',
      pending: {
        fingerprint: 'NEW',
        since: '2030-01-09T21:00:00.000Z',
        code: 'HOOK_FAILED' as const,
        error: 'x',
      },
    };
    const [a, b] = fleetOf({ a: failedAgain, b: { pending: failedAgain.pending } }, current, NOW, 8 * HOUR);
    assert.deepEqual([a?.state, a?.overdue, b?.state, b?.overdue], ['failed', true, 'failed', true]);
    assert.equal(deployedHere(failedAgain, 'NEW'), false);
    // Under way (no error yet) or failed for another version: what it recorded deployed stands.
    assert.equal(
      deployedHere({ fingerprint: 'NEW', pending: { fingerprint: 'NEW', since: 'x' } }, 'NEW'),
      true,
    );
    assert.equal(
      deployedHere({ ...failedAgain, pending: { ...failedAgain.pending, fingerprint: 'NEWER' } }, 'NEW'),
      true,
    );
    assert.equal(deployedHere(failedAgain, 'OLD'), false);
  });

  test('a host whose hooks failed for an earlier version stays failed when a newer one is stored', () => {
    // c's hooks failed for MID; another host then stored NEW. c has deployed nothing since: it is known to
    // fail, not merely behind (within the grace period, --check would otherwise say nothing for two days).
    const [c] = fleetOf(
      {
        c: {
          fingerprint: 'OLD',
          serial: '01',
          pending: {
            fingerprint: 'MID',
            since: '2030-01-09T10:00:00.000Z',
            code: 'HOOK_FAILED',
            error: 'exit 1',
          },
        },
      },
      current,
      NOW,
      48 * HOUR,
    );
    assert.deepEqual([c?.state, c?.overdue, c?.error], ['failed', true, 'HOOK_FAILED: exit 1']);
    // Its next run starts the hooks for NEW (pending without an error): behind again until they end.
    const [again] = fleetOf(
      { c: { fingerprint: 'OLD', pending: { fingerprint: 'NEW', since: '2030-01-09T23:00:00.000Z' } } },
      current,
      NOW,
      48 * HOUR,
    );
    assert.deepEqual([again?.state, again?.overdue], ['behind', false]);
  });

  test('after a rollback a host is behind since its own later deployment', () => {
    const [b] = fleetOf(
      { b: { fingerprint: 'NEWER', deployedAt: '2030-01-09T23:00:00.000Z' } },
      current,
      NOW,
      2 * HOUR,
    );
    assert.equal(b?.behindSince, '2030-01-09T23:00:00.000Z');
    assert.equal(b?.overdue, false);
  });

  test('a host behind whose deployed certificate has expired is overdue at once, and critical', () => {
    const hosts = fleetOf(
      {
        // Deployed what expired an hour ago, and has not deployed the stored one (within the grace period).
        gone: {
          fingerprint: 'OLD',
          serial: '0A',
          deployedAt: '2029-10-01T00:00:00.000Z',
          notAfter: '2030-01-09T23:00:00.000Z',
        },
        // Deployed something still valid: behind within the grace period, not overdue.
        fine: {
          fingerprint: 'OLD',
          serial: '0B',
          deployedAt: '2029-10-01T00:00:00.000Z',
          notAfter: '2030-02-01T00:00:00.000Z',
        },
        // Current, with an old notAfter recorded (it is the stored one): never flagged.
        here: { fingerprint: 'NEW', serial: '0C', notAfter: '2030-01-01T00:00:00.000Z' },
        // An entry written before notAfter was recorded: as before.
        old: { fingerprint: 'OLD', serial: '0D' },
      },
      current,
      NOW,
      8 * HOUR,
    );
    assert.deepEqual(
      hosts.map((h) => [h.host, h.state, h.overdue, h.expired?.notAfter]),
      [
        ['fine', 'behind', false, undefined],
        ['gone', 'behind', true, '2030-01-09T23:00:00.000Z'],
        ['here', 'current', undefined, undefined],
        ['old', 'behind', false, undefined],
      ],
    );
    assert.equal(healthOf({ action: 'keep', hosts }), 'critical');
    assert.equal(healthOf({ action: 'keep', hosts: hosts.filter((h) => h.host !== 'gone') }), 'valid');
    assert.equal(
      decodeHostDeployment('{"fingerprint":"A","notAfter":"2030-01-01T00:00:00.000Z"}')?.notAfter,
      '2030-01-01T00:00:00.000Z',
    );
    assert.equal(decodeHostDeployment('{"fingerprint":"A","notAfter":"soon"}')?.notAfter, undefined);
  });

  test('a host whose clock runs ahead (a deployment dated in the future) is still overdue after the grace period', () => {
    const [ahead] = fleetOf(
      { ahead: { fingerprint: 'OLD', deployedAt: '2099-01-01T00:00:00.000Z' } },
      current,
      NOW,
      2 * HOUR,
    );
    assert.deepEqual([ahead?.behindSince, ahead?.overdue], [current.issuedAt, true]);
  });

  test('nothing stored or nothing recorded: no hosts', () => {
    assert.deepEqual(fleetOf(undefined, current, NOW, HOUR), []);
    assert.deepEqual(fleetOf({ a: { fingerprint: 'X' } }, undefined, NOW, HOUR), []);
  });

  test('readiness: an overdue host warns, a behind one within the grace period does not', () => {
    assert.equal(healthOf({ action: 'keep', reason: 'ok', hosts: [{ overdue: false }] }), 'valid');
    assert.equal(healthOf({ action: 'keep', reason: 'ok', hosts: [{ overdue: true }] }), 'warning');
    assert.equal(healthOf({ action: 'keep', reason: 'ok', served: [{ ok: false }] }), 'warning');
  });
});

describe('stored deployment entries', () => {
  test('wrong types are dropped, not trusted', () => {
    assert.equal(decodeHostDeployment('not json'), undefined);
    assert.equal(decodeHostDeployment('[1]'), undefined);
    assert.deepEqual(
      decodeHostDeployment(
        '{"fingerprint": 3, "serial": "01", "pending": {"fingerprint": "F", "since": "t", "code": "NOPE"}}',
      ),
      { serial: '01', pending: { fingerprint: 'F', since: 't' } },
    );
  });
});

describe('hook list files', () => {
  test('names, certificates and failures, one per line; removed afterwards', async () => {
    const lists = await writeHookLists(
      tmpdir(),
      [
        {
          name: 'a',
          domains: ['a.test'],
          storeName: 's',
          storeType: 'filesystem',
          issuerName: 'i',
          serial: '01',
        },
        { name: 'b', domains: ['b.test', 'c.test'], storeName: 's', storeType: 'redis', issuerName: 'i' },
      ],
      [{ name: 'b', code: 'ISSUER_REJECTED', message: 'no\nway' }],
    );
    try {
      assert.equal(await readFile(lists.env.CERT_RENEW_NAMES_FILE as string, 'utf8'), 'a\nb\n');
      assert.equal(
        await readFile(lists.env.CERT_RENEW_FAILURES_FILE as string, 'utf8'),
        'b: ISSUER_REJECTED: no way\n',
      );
      const certs = (await readFile(lists.env.CERT_RENEW_CERTIFICATES_FILE as string, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { name: string; domains: string[]; serial?: string });
      assert.deepEqual(
        certs.map((c) => [c.name, c.domains, c.serial]),
        [
          ['a', ['a.test'], '01'],
          ['b', ['b.test', 'c.test'], undefined],
        ],
      );
      assert.equal((await stat(lists.env.CERT_RENEW_NAMES_FILE as string)).mode & 0o777, 0o600);
    } finally {
      await lists.remove();
    }
    await assert.rejects(stat(lists.env.CERT_RENEW_NAMES_FILE as string));
  });

  test('list variables longer than the limit are left out; short ones stay', () => {
    const long = 'x'.repeat(LIST_VARIABLE_LIMIT + 1);
    assert.deepEqual(
      dropLongLists({ CERT_RENEW_NAMES: long, CERT_RENEW_FAILURES: 'a: B: c', CERT_RENEW_COUNT: '1' }),
      {
        CERT_RENEW_FAILURES: 'a: B: c',
        CERT_RENEW_COUNT: '1',
      },
    );
  });
});

describe('validate: verify endpoints', () => {
  test('host:port, [v6]:port and host pass; anything else is an error at the endpoint', async () => {
    const { checkManifestText } = await import('../../src/manifest/validate.js');
    const manifest = (endpoints: string[]) =>
      JSON.stringify({
        version: 1,
        defaults: { issuer: 'l', store: 's' },
        issuers: { l: { type: 'local-ca' } },
        stores: { s: { type: 'filesystem', path: '/tmp/x' } },
        certificates: [{ name: 'a', domains: ['a.example.test'], verify: { endpoints } }],
      });
    const ok = checkManifestText(manifest(['127.0.0.1:443', '[::1]:8443', 'gw.example.test']), 'm.json', {
      intervalMs: 86_400_000,
    });
    assert.deepEqual(
      ok.diagnostics.filter((d) => d.severity === 'error'),
      [],
    );
    const bad = checkManifestText(manifest(['127.0.0.1:0', '::1:443', 'host:http']), 'm.json', {
      intervalMs: 86_400_000,
    });
    assert.deepEqual(
      bad.diagnostics.filter((d) => d.severity === 'error').map((d) => d.pointer),
      [
        '/certificates/0/verify/endpoints/0',
        '/certificates/0/verify/endpoints/1',
        '/certificates/0/verify/endpoints/2',
      ],
    );
  });
});
