/**
 * One ACME issuer's HTTP agents (issuers/acme/agents.ts): the caBundle alone first, the bundle and the
 * system roots once a server's certificate did not verify against it; a real TLS server for what a
 * handshake says, counted sends for the switch-over.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:tls';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import { type Agents, IssuerAgents } from '../../src/issuers/acme/agents.js';
import { createCertificate } from '../../src/x509/build.js';
import { generateKey } from '../../src/x509/keys.js';
import { type TempDir, tempDir } from '../harness/process.js';

const notBefore = new Date(Date.now() - 3_600_000);
const notAfter = new Date(Date.now() + 86_400_000);

async function makeCa(name: string) {
  const keyPem = await generateKey('ecdsa-p256');
  const certPem = await createCertificate({
    subjectKeyPem: keyPem,
    selfSignKeyPem: keyPem,
    commonName: name,
    notBefore,
    notAfter,
    ca: true,
  });
  return { keyPem, certPem };
}

/** A TLS server on 127.0.0.1 answering `HTTP/1.1 204` with a leaf for `localhost` signed by `ca`. */
async function tlsServer(ca: { keyPem: string; certPem: string }): Promise<{ server: Server; port: number }> {
  const keyPem = await generateKey('ecdsa-p256');
  const certPem = await createCertificate({
    subjectKeyPem: keyPem,
    issuer: ca,
    domains: ['localhost'],
    notBefore,
    notAfter,
  });
  const server = createServer({ key: keyPem, cert: certPem }, (socket) => {
    socket.on('data', () => socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'));
    socket.on('error', () => {});
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, port: address.port };
}

/** GET https://localhost:port/ through `agents`; resolves the status, rejects with node's error. */
function get(agents: Agents, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port, path: '/', agent: agents.https },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function trustError(): Error {
  return Object.assign(new Error('unable to verify the first certificate'), {
    code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  });
}

describe('ACME issuer agents (agents.ts)', () => {
  let dir: TempDir;
  let bundleCa: { keyPem: string; certPem: string };
  let trusted: { server: Server; port: number };
  let untrusted: { server: Server; port: number };

  before(async () => {
    dir = await tempDir('cert-renew-agents-');
    bundleCa = await makeCa('bundle CA');
    await writeFile(join(dir.path, 'bundle.pem'), bundleCa.certPem);
    trusted = await tlsServer(bundleCa);
    untrusted = await tlsServer(await makeCa('another CA'));
  });
  after(async () => {
    trusted?.server.close();
    untrusted?.server.close();
    await dir?.remove();
  });

  const withBundle = () => new IssuerAgents({ issuerName: 'le', caBundle: 'bundle.pem', baseDir: dir.path });

  test('a server the bundle signs is reached with the bundle alone, once', async () => {
    const agents = withBundle();
    const seen: Agents[] = [];
    const status = await agents.send((a) => {
      seen.push(a);
      return get(a, trusted.port);
    });
    assert.equal(status, 204);
    assert.equal(seen.length, 1);
    await agents.close();
  });

  test('a server the bundle does not sign is tried with the system roots too, then refused as before', async () => {
    const agents = withBundle();
    const seen: Agents[] = [];
    await assert.rejects(
      agents.send((a) => {
        seen.push(a);
        return get(a, untrusted.port);
      }),
      (error: NodeJS.ErrnoException) => error.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    );
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1], 'the second try has agents of its own');
    await agents.close();
  });

  test('once the bundle alone failed, later requests go straight to the bundle and the roots', async () => {
    const agents = withBundle();
    const seen: Agents[] = [];
    let first = true;
    const send = async (a: Agents) => {
      seen.push(a);
      if (first) {
        first = false;
        throw trustError();
      }
      return 'ok';
    };
    assert.equal(await agents.send(send), 'ok');
    assert.equal(await agents.send(send), 'ok');
    assert.equal(seen.length, 3);
    assert.notEqual(seen[0], seen[1]);
    assert.equal(seen[1], seen[2]);
    await agents.close();
  });

  test('other errors, and trust errors without a caBundle, are not sent again', async () => {
    for (const [agents, error] of [
      [withBundle(), Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })],
      [new IssuerAgents({ issuerName: 'le', caBundle: undefined, baseDir: dir.path }), trustError()],
    ] as const) {
      let calls = 0;
      await assert.rejects(
        agents.send(async () => {
          calls++;
          throw error;
        }),
        error,
      );
      assert.equal(calls, 1);
      await agents.close();
    }
  });

  test('an unreadable caBundle names the issuer and the file, and is read again on the next request', async () => {
    const agents = new IssuerAgents({ issuerName: 'private', caBundle: 'later.pem', baseDir: dir.path });
    await assert.rejects(agents.ready(), (error: unknown) => {
      assert.ok(error instanceof CertRenewError);
      assert.equal(error.code, ErrorCode.issuerUnavailable);
      assert.match(error.message, /^ACME issuer private: caBundle .*later\.pem cannot be read \(ENOENT\)$/);
      return true;
    });
    await writeFile(join(dir.path, 'later.pem'), 'not a certificate');
    await assert.rejects(agents.ready(), /later\.pem holds no PEM certificate/);
    await writeFile(join(dir.path, 'later.pem'), bundleCa.certPem);
    assert.equal(await agents.send((a) => get(a, trusted.port)), 204);
    await agents.close();
  });

  test('close() ends the keep-alive sockets; the next request builds new agents', async () => {
    const agents = withBundle();
    let before: Agents | undefined;
    await agents.send(async (a) => {
      before = a;
    });
    await agents.close();
    await agents.send(async (a) => {
      assert.notEqual(a, before);
    });
    await agents.close();
  });
});
