/**
 * Benchmarks (`npm run bench`). Speed is measured here, never asserted in tests. Each section prints a line and
 * writes bench/results/<section>.json; `node dist/bench/run.js SECTION…` runs some (default: all).
 * Sections register themselves from bench/sections/*.ts:
 *
 *   version      `cert-renew --version` against a bare `node -e 0`
 *   nothing-due  `cert-renew plan`, 10 ACME certificates with renewal info, against `node -e 0`
 *   plan-fs      `cert-renew plan` over 10,000 certificates in the filesystem store (wall time, peak RSS),
 *                then again once a host has a deployment entry for each
 *   plan-redis   the same with the certificates in a local redis-server
 *   acme-100     100 certificates issued against Pebble with concurrency, against a sequential certbot loop
 *   issue-scale  client CPU per certificate and peak RSS issuing 100 and 1,000 against Pebble
 *   compare      cert-renew, certbot and lego on one Pebble: issuing 100, and a nothing-due run
 *   outage       1,000 due certificates against an unreachable ACME directory (the issuer breaker)
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Section } from './lib.js';

const sections = new Map<string, Section>();
const dir = fileURLToPath(new URL('./sections/', import.meta.url));
for (const file of (await readdir(dir)).filter((f) => f.endsWith('.js')).sort()) {
  const mod = (await import(join(dir, file))) as { register(s: Map<string, Section>): void };
  mod.register(sections);
}
const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : [...sections.keys()]) {
  const section = sections.get(name);
  if (!section) {
    console.error(`unknown bench section '${name}' (known: ${[...sections.keys()].join(', ')})`);
    process.exitCode = 2;
    break;
  }
  await section();
}
