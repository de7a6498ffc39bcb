/**
 * Runs the CLI in this process and reports peak RSS on stderr (`cert-renew-bench maxrss KB`), so the
 * benchmark can measure memory without a `time` binary. Output of the command itself is discarded.
 */
import { defaultIO, main } from '../src/cli.js';

const io = { ...defaultIO(process.env), stdout: () => {} };
const code = await main(process.argv.slice(2), process.env, io);
process.stderr.write(`cert-renew-bench maxrss ${process.resourceUsage().maxRSS}\n`);
process.exitCode = code;
