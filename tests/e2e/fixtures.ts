/** Manifests for the engine's end-to-end tests, written into a temporary directory. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIO } from '../../src/cli.js';
import type { Manifest } from '../../src/manifest/types.js';
import type { Clock } from '../../src/runtime/clock.js';

export function localManifest(storePath: string, overrides: Partial<Manifest> = {}): Manifest {
  return {
    version: 1,
    defaults: { issuer: 'local', store: 'files' },
    issuers: { local: { type: 'local-ca', lifetime: '30d' } },
    stores: { files: { type: 'filesystem', path: storePath } },
    certificates: [
      { name: 'web', domains: ['web.example.test'] },
      { name: 'api', domains: ['api.example.test', 'api2.example.test'], keyType: 'rsa-2048' },
    ],
    ...overrides,
  };
}

export async function writeManifest(
  dir: string,
  manifest: Manifest,
  file = 'certificate-manifest.json',
): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

/** An in-process CliIO with a chosen clock: for tests that travel in time. */
export function memoryIO(
  clock: Clock,
  env: Record<string, string> = {},
): CliIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout(text: string) {
      io.out += text;
    },
    stderr(text: string) {
      io.err += text;
    },
    env: { NO_COLOR: '1', PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    cwd: process.cwd(),
    stdoutIsTTY: false,
    clock,
    hostname: 'test-host',
    pid: process.pid,
  };
  return io;
}
