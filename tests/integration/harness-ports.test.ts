import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { describe, test } from 'node:test';
import { freePort, retryOnPortClash, runCommand, startServer, tempDir } from '../harness/process.js';

async function ephemeralRange(): Promise<[number, number]> {
  const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
    .trim()
    .split(/\s+/)
    .map(Number);
  return [low ?? 0, high ?? 0];
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('harness ports', () => {
  test('freePort hands out distinct ports outside the kernel ephemeral range', async () => {
    const [low, high] = await ephemeralRange();
    const ports = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    assert.equal(new Set(ports).size, ports.length);
    for (const port of ports) assert.ok(port < low || port > high, `${port} is in ${low}-${high}`);
  });

  test('a server whose port was taken in between is started again on new ports', async () => {
    const taken = await freePort();
    const squatter = await listenOn(taken);
    const dir = await tempDir('cert-renew-ports-');
    const tried: number[] = [];
    try {
      const redis = await retryOnPortClash(async () => {
        const port = tried.length === 0 ? taken : await freePort();
        tried.push(port);
        return startServer('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
          name: 'redis-server',
          cwd: dir.path,
          // Not canConnect: the squatter accepts connections too.
          ready: async () =>
            (
              await runCommand('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], {
                timeoutMs: 5_000,
              })
            ).stdout.trim() === 'PONG',
        });
      });
      await redis.stop();
      assert.equal(tried.length, 2);
      assert.equal(tried[0], taken);
    } finally {
      squatter.close();
      await dir.remove();
    }
  });

  test('other start failures are not retried', async () => {
    let calls = 0;
    await assert.rejects(
      retryOnPortClash(async () => {
        calls += 1;
        throw new Error('pebble exited before it was ready: bad config');
      }),
      /bad config/,
    );
    assert.equal(calls, 1);
  });
});
