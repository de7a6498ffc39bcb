/**
 * Runs the CLI in this process and reports peak RSS and CPU time on stderr (`cert-renew-bench maxrss KB`, `cert-renew-bench cpu µs`), so the
 * benchmark can measure memory without a `time` binary. Output of the command itself is discarded.
 */
import { defaultIO, main } from '../src/cli.js';

const io = { ...defaultIO(process.env), stdout: () => {} };
const code = await main(process.argv.slice(2), process.env, io);
const usage = process.resourceUsage();
process.stderr.write(`cert-renew-bench maxrss ${usage.maxRSS}\n`);
process.stderr.write(`cert-renew-bench cpu ${usage.userCPUTime + usage.systemCPUTime}\n`);
process.exitCode = code;
