import * as assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Nginx, startNginx } from '../harness/nginx.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { type CertificateAuthority, createCa, createLeaf, type LeafCertificate } from '../harness/tls.js';

describe('nginx harness', () => {
  let dir: TempDir;
  let ca: CertificateAuthority;
  let first: LeafCertificate;
  let nginx: Nginx;
  const livePaths = { cert: '', key: '' };
  before(async () => {
    dir = await tempDir();
    ca = await createCa(dir.path);
    first = await createLeaf(ca, dir.path, { names: ['localhost', '127.0.0.1'], name: 'first' });
    livePaths.cert = join(dir.path, 'live.pem');
    livePaths.key = join(dir.path, 'live.key');
    await copyFile(first.fullchainPath, livePaths.cert);
    await copyFile(first.keyPath, livePaths.key);
    nginx = await startNginx({ certPath: livePaths.cert, keyPath: livePaths.key });
  });
  after(async () => {
    await nginx?.stop();
    await dir?.remove();
  });

  test('a TLS handshake returns the configured certificate', async () => {
    const served = await nginx.peerCertificate('localhost');
    assert.equal(served.serial, first.serial);
    assert.equal(served.fingerprint256, first.fingerprint256);
  });

  test('serves the webroot at /.well-known/acme-challenge/', async () => {
    await writeFile(join(nginx.webroot, 'token-123'), 'token-123.thumbprint');
    const response = await fetch(`http://127.0.0.1:${nginx.httpPort}/.well-known/acme-challenge/token-123`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'token-123.thumbprint');
    const missing = await fetch(`http://127.0.0.1:${nginx.httpPort}/.well-known/acme-challenge/nope`);
    assert.equal(missing.status, 404);
  });

  test('a reload through reloadCommand picks up a new certificate', async () => {
    const second = await createLeaf(ca, dir.path, { names: ['localhost'], name: 'second' });
    assert.notEqual(second.serial, first.serial);
    await copyFile(second.fullchainPath, livePaths.cert);
    await copyFile(second.keyPath, livePaths.key);
    assert.equal(basename(nginx.reloadCommand[0] ?? ''), 'nginx');
    assert.ok(nginx.reloadCommand.includes(nginx.confPath));
    assert.deepEqual(nginx.reloadCommand.slice(-2), ['-s', 'reload']);
    await nginx.reload();
    const served = await nginx.waitForSerial(second.serial);
    assert.equal(served.fingerprint256, second.fingerprint256);
  });
});
