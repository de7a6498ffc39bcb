/**
 * Runs the CLI in this process and reports peak RSS and CPU time on stderr (`cert-renew-bench maxrss KB`, `cert-renew-bench cpu µs`), so the
 * benchmark can measure memory without a `time` binary. Output of the command itself is discarded. Runs
 * the same build as bin/cert-renew (the bundle when it is current).
 */
import { statSync } from 'node:fs';

// What bin/cert-renew runs: the bundle (dist/bundle/) unless it is older than dist/src/ (a bare tsc since).
const mtime = (path: string) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime('../bundle/cli.js');
const entry =
  bundled !== undefined && bundled >= (mtime('../src/cli.js') ?? 0) ? '../bundle/cli.js' : '../src/cli.js';
const { defaultIO, main } = (await import(entry)) as typeof import('../src/cli.js');

const io = { ...defaultIO(process.env), stdout: () => {} };
const code = await main(process.argv.slice(2), process.env, io);
const usage = process.resourceUsage();
process.stderr.write(`cert-renew-bench maxrss ${usage.maxRSS}\n`);
process.stderr.write(`cert-renew-bench cpu ${usage.userCPUTime + usage.systemCPUTime}\n`);
process.exitCode = code;
// As bin/cert-renew: exit once done (ioredis's reply parser would keep the process alive a while longer).
process.exit();
