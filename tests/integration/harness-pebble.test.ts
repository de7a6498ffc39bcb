import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { httpsGet, type Pebble, startPebble, writeDnsExecHook } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';

describe('pebble harness', () => {
  let pebble: Pebble;
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
    pebble = await startPebble({ validityPeriodSeconds: 3600 });
  });
  after(async () => {
    await pebble?.stop();
    await dir?.remove();
  });

  test('serves the ACME directory over HTTPS trusted through caBundle', async () => {
    const directory = JSON.parse(await httpsGet(pebble.directoryUrl, pebble.caBundlePem)) as Record<
      string,
      unknown
    >;
    for (const key of ['newNonce', 'newAccount', 'newOrder']) {
      assert.equal(typeof directory[key], 'string', `${key} in ${JSON.stringify(directory)}`);
    }
    assert.match(pebble.caBundlePem, /BEGIN CERTIFICATE/);
  });

  test('hands out its root, and a new one after a restart', async () => {
    const before = new X509Certificate(await pebble.roots());
    assert.ok(before.ca);
    assert.match(await pebble.intermediates(), /BEGIN CERTIFICATE/);
    await pebble.kill();
    await pebble.restart();
    const afterRestart = new X509Certificate(await pebble.roots());
    assert.notEqual(afterRestart.fingerprint256, before.fingerprint256);
  });

  test('challtestsrv serves TXT records set through its API and the exec hook', async () => {
    const resolver = new Resolver();
    resolver.setServers([`127.0.0.1:${pebble.dnsPort}`]);
    await pebble.setTxt('_acme-challenge.api.example.test', 'from-api');
    assert.deepEqual(await resolver.resolveTxt('_acme-challenge.api.example.test'), [['from-api']]);
    assert.deepEqual(await resolver.resolve4('anything.example.test'), ['127.0.0.1']);

    const hook = await writeDnsExecHook(dir.path, pebble.challtestsrvUrl);
    const run = promisify(execFile);
    await run(hook, ['present', '_acme-challenge.hook.example.test.', 'from-hook'], { env: {} });
    assert.deepEqual(await resolver.resolveTxt('_acme-challenge.hook.example.test'), [['from-hook']]);
    await run(hook, ['cleanup', '_acme-challenge.hook.example.test.', 'from-hook'], { env: {} });
    await assert.rejects(resolver.resolveTxt('_acme-challenge.hook.example.test'));
    await pebble.clearTxt('_acme-challenge.api.example.test');
    await assert.rejects(resolver.resolveTxt('_acme-challenge.api.example.test'));
    await assert.rejects(run(hook, ['bogus', 'x.', 'y'], { env: {} }));
  });
});
