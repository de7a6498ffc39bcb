/**
 * What the CA says about timing is obeyed (issue 16 items 5 and 9), against a real Pebble behind a small
 * HTTPS proxy on loopback that answers some new orders with `429 rateLimited` and a Retry-After (seconds,
 * or an HTTP-date) and puts a Retry-After on authorization polls; and against a CA that is not there at all.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest, createServer as httpsServer, type Server } from 'node:https';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PlanItem } from '../../src/plan/model.js';
import type { StatusReport } from '../../src/report/status.js';
import { type Pebble, startPebble } from '../harness/pebble.js';
import { type TempDir, tempDir } from '../harness/process.js';
import { createCa, createLeaf } from '../harness/tls.js';
import { acmeManifest, pebbleIssuer, standalone } from './acme-e2e-fixtures.js';
import { hasStackTrace, runCli } from './cli.js';
import { parseReport } from './e2e-helpers.js';
import { writeManifest } from './fixtures.js';

const DAY_S = 86_400;

interface Proxy {
  url: string;
  /** Requests to authorization URLs, with the time each arrived (ms). */
  authzPolls: Map<string, number[]>;
  close(): Promise<void>;
}

/** The identifiers a JWS-signed newOrder asks for (its payload, base64url JSON). */
function orderIdentifiers(body: string): string[] {
  try {
    const jws = JSON.parse(body) as { payload?: string };
    const payload = JSON.parse(Buffer.from(jws.payload ?? '', 'base64url').toString('utf8')) as {
      identifiers?: { value: string }[];
    };
    return (payload.identifiers ?? []).map((i) => i.value);
  } catch {
    return [];
  }
}

/**
 * Forwards everything to Pebble, rewriting Pebble's origin to its own in bodies and headers. A newOrder for
 * a name starting `limited-seconds` gets 429 with `Retry-After: 86400`, `limited-date` with an HTTP-date two
 * days ahead; every authorization fetch gets `Retry-After: 1`.
 */
async function startProxy(
  pebble: Pebble,
  cert: { certPem: string; keyPem: string },
  retryDate: Date,
): Promise<Proxy> {
  const upstream = new URL(pebble.directoryUrl);
  const authzPolls = new Map<string, number[]>();
  let origin = '';
  const server: Server = httpsServer(
    { cert: cert.certPem, key: cert.keyPem },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '/';
        if (req.method === 'POST' && /order-plz|new-order/.test(path)) {
          const names = orderIdentifiers(body);
          const limited = names.find((n) => n.startsWith('limited-'));
          if (limited) {
            res.writeHead(429, {
              'content-type': 'application/problem+json',
              'retry-after': limited.startsWith('limited-seconds') ? String(DAY_S) : retryDate.toUTCString(),
            });
            res.end(
              JSON.stringify({
                type: 'urn:ietf:params:acme:error:rateLimited',
                detail: `too many orders for ${limited}`,
              }),
            );
            return;
          }
        }
        if (/\/authZ\/|\/authz\//.test(path)) {
          const list = authzPolls.get(path) ?? [];
          list.push(Date.now());
          authzPolls.set(path, list);
        }
        const forward = httpsRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            path,
            method: req.method,
            // Pebble builds its URLs (and checks a JWS's url) from the Host header: the proxy's own.
            headers: req.headers,
            ca: pebble.caBundlePem,
          },
          (up) => {
            const parts: Buffer[] = [];
            up.on('data', (c: Buffer) => parts.push(c));
            up.on('end', () => {
              const rewrite = (text: string) => text.split(upstream.origin).join(origin);
              const headers: Record<string, string | string[]> = {};
              for (const [k, v] of Object.entries(up.headers)) {
                if (
                  v === undefined ||
                  k === 'content-length' ||
                  k === 'transfer-encoding' ||
                  k === 'connection'
                )
                  continue;
                headers[k] = Array.isArray(v) ? v.map(rewrite) : rewrite(v);
              }
              if (/\/authZ\/|\/authz\//.test(path)) headers['retry-after'] = '1';
              const type = String(up.headers['content-type'] ?? '');
              const raw = Buffer.concat(parts);
              const out = /json/.test(type) ? Buffer.from(rewrite(raw.toString('utf8'))) : raw;
              res.writeHead(up.statusCode ?? 502, headers);
              res.end(out);
            });
          },
        );
        forward.on('error', (error) => {
          res.writeHead(502);
          res.end(String(error));
        });
        forward.end(body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  origin = `https://127.0.0.1:${address.port}`;
  return {
    url: `${origin}${upstream.pathname}`,
    authzPolls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the CA rate-limits with Retry-After (Pebble behind a proxy)', () => {
  let tmp: TempDir;
  let pebble: Pebble;
  let proxy: Proxy;
  let caBundle: string;
  const retryDate = new Date(Math.ceil((Date.now() + 2 * DAY_S * 1000) / 1000) * 1000);
  before(async () => {
    tmp = await tempDir('cert-renew-retry-after-');
    pebble = await startPebble();
    const ca = await createCa(tmp.path, { name: 'proxy-ca' });
    const leaf = await createLeaf(ca, tmp.path, { names: ['127.0.0.1', 'localhost'], name: 'proxy' });
    proxy = await startProxy(pebble, leaf, retryDate);
    caBundle = join(tmp.path, 'bundle.pem');
    await writeFile(caBundle, `${ca.certPem}\n${pebble.caBundlePem}`);
  });
  after(async () => {
    await proxy?.close();
    await pebble?.stop();
    await tmp?.remove();
  });

  test('5: the limited certificates fail at once with the CA time, are held back until then (status), the other is issued', async () => {
    const store = join(tmp.path, 'certs');
    const issuer = { ...pebbleIssuer(pebble, standalone(pebble)), directory: proxy.url, caBundle };
    const manifest = await writeManifest(
      tmp.path,
      acmeManifest(issuer, store, [
        { name: 'seconds', domains: ['limited-seconds.example.test'] },
        { name: 'date', domains: ['limited-date.example.test'] },
        { name: 'fine', domains: ['fine.example.test'] },
      ]),
    );
    const before = Date.now();
    // A generous timeout: waiting out a day-long Retry-After would hang until the guard below.
    const r = await runCli(['-m', manifest, 'run', '--json', '--timeout', '10m'], { killAfterMs: 300_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    const report = parseReport(r.stdout);
    const byName = new Map(report.certificates.map((c) => [c.name, c]));
    assert.equal(byName.get('fine')?.outcome, 'renewed', JSON.stringify(byName.get('fine')));
    for (const name of ['seconds', 'date']) {
      const c = byName.get(name);
      assert.equal(c?.outcome, 'failed');
      assert.equal(c?.error?.code, 'ISSUER_UNAVAILABLE');
      assert.match(c?.error?.message ?? '', /rateLimited/);
      assert.match(c?.error?.message ?? '', /not to be asked again before \d{4}-\d\d-\d\dT/);
    }
    assert.match(byName.get('date')?.error?.message ?? '', new RegExp(retryDate.toISOString().slice(0, 16)));

    // Held back until the CA's time, across runs: plan and status say so.
    const plan = await runCli(['-m', manifest, 'plan', '--json']);
    const items = new Map((JSON.parse(plan.stdout) as { items: PlanItem[] }).items.map((i) => [i.name, i]));
    const secondsAt = Date.parse(items.get('seconds')?.failures?.retryAt ?? '');
    assert.ok(secondsAt >= before + DAY_S * 1000 - 5_000, items.get('seconds')?.failures?.retryAt);
    assert.ok(Date.parse(items.get('date')?.failures?.retryAt ?? '') >= retryDate.getTime() - 1_000);
    for (const name of ['seconds', 'date']) assert.equal(items.get(name)?.action, 'backoff');
    const status = await runCli(['-m', manifest, 'status', '--json']);
    const health = new Map((JSON.parse(status.stdout) as StatusReport).certificates.map((c) => [c.name, c]));
    assert.equal(health.get('seconds')?.health, 'critical', 'missing and held back');
    assert.equal(health.get('fine')?.health, 'valid');
    const human = await runCli(['-m', manifest, 'status']);
    // Held back by the CA's time, which --force does not override: said so (not "--force retries now").
    assert.match(
      human.stdout,
      /the CA asked not to be asked again before \d{4}-.*--force does not override the CA\); last: /,
    );
    assert.doesNotMatch(human.stdout, /--force retries now/);
    assert.doesNotMatch(human.stdout, /next attempt not before/, 'said once');
    const again = await runCli(['-m', manifest, 'run', '--json']);
    const held = new Map(parseReport(again.stdout).certificates.map((c) => [c.name, c]));
    assert.equal(held.get('seconds')?.outcome, 'backoff');
    assert.equal(held.get('date')?.outcome, 'backoff');
    // --force overrides cert-renew's own backoff, not the CA's Retry-After: the CA is not asked again.
    const forced = await runCli(['-m', manifest, 'run', '--json', '--force', '--only', 'seconds']);
    const [line] = parseReport(forced.stdout).certificates;
    assert.equal(line?.outcome, 'backoff', JSON.stringify(line));
    assert.match(
      line?.message ?? '',
      /the CA asked not to be asked again before \d{4}-.*--force does not override the CA/,
    );
  });

  test('5: a Retry-After on an authorization is a lower bound for the next poll of it', () => {
    let polledTwice = 0;
    for (const times of proxy.authzPolls.values()) {
      for (let i = 1; i < times.length; i++) {
        polledTwice++;
        const gap = (times[i] as number) - (times[i - 1] as number);
        assert.ok(gap >= 950, `an authorization was fetched again ${gap} ms after a Retry-After of 1 s`);
      }
    }
    assert.ok(polledTwice >= 1, 'some authorization was polled more than once');
  });
});

describe('9: an unreachable CA opens the breaker', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('cert-renew-breaker-');
  });
  after(() => tmp.remove());

  test('the first certificate uses up its retries, the others fail at once with the same error, recorded', async () => {
    // A port nobody listens on: reserved, then closed.
    const probe = netServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    assert.ok(address && typeof address === 'object');
    await new Promise((resolve) => probe.close(resolve));
    const store = join(tmp.path, 'certs');
    const certificates = Array.from({ length: 12 }, (_, i) => ({
      name: `down-${i}`,
      domains: [`down-${i}.example.test`],
    }));
    const manifest = await writeManifest(tmp.path, {
      version: 1,
      defaults: { issuer: 'down', store: 'files' },
      issuers: {
        down: {
          type: 'acme',
          directory: `https://127.0.0.1:${address.port}/dir`,
          email: 'ops@example.test',
          challenge: { type: 'http-01', webroot: join(tmp.path, 'webroot') },
        },
      },
      stores: { files: { type: 'filesystem', path: store } },
      certificates,
    } as never);
    const r = await runCli(['-m', manifest, 'run', '--json', '--concurrency', '2', '--timeout', '10m'], {
      killAfterMs: 300_000,
    });
    assert.equal(r.code, 1, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.summary.failed, certificates.length);
    for (const c of report.certificates) {
      assert.equal(c.error?.code, 'ISSUER_UNAVAILABLE', `${c.name}: ${c.error?.message}`);
      assert.match(c.error?.message ?? '', /cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    }
    const notTried = report.certificates.filter((c) =>
      /not tried: certificate down-\d+ already used up its retries/.test(c.error?.message ?? ''),
    );
    assert.ok(notTried.length >= certificates.length - 2, `${notTried.length} failed at once`);
    assert.match(
      r.stderr,
      /unreachable after every retry for certificate down-\d+; its other certificates fail at once/,
    );
    const status = await runCli(['-m', manifest, 'status', '--json']);
    for (const c of (JSON.parse(status.stdout) as StatusReport).certificates) {
      assert.equal(c.failures?.count, 1, `${c.name}: its failure is recorded`);
    }
  });
});
