/**
 * Runs bin/cert-renew in this process, exactly as an operator's command does (the bundle from its code cache
 * when the bundle is current), and reports peak RSS and CPU time on stderr as the process exits
 * (`cert-renew-bench maxrss KB`, `cert-renew-bench cpu µs`), so the benchmark can measure memory without a
 * `time` binary. Output of the command itself is discarded. Arguments are the CLI's.
 */

// Discard what the command writes to stdout (a report for 10,000 certificates would otherwise be timed
// through the pipe); bin/cert-renew's final flush still gets its callback. The benchmark runs this script
// with stdout on /dev/null, which the CLI writes to through process.stdout (src/util/output.ts): to a pipe
// or a file it would write directly, past this.
process.stdout.write = ((_chunk: unknown, encoding?: unknown, done?: unknown) => {
  const callback = typeof encoding === 'function' ? encoding : done;
  if (typeof callback === 'function') process.nextTick(callback as () => void);
  return true;
}) as typeof process.stdout.write;

process.on('exit', () => {
  const usage = process.resourceUsage();
  process.stderr.write(`cert-renew-bench maxrss ${usage.maxRSS}\n`);
  process.stderr.write(`cert-renew-bench cpu ${usage.userCPUTime + usage.systemCPUTime}\n`);
});

// bin/cert-renew reads its arguments from process.argv.slice(2), which are this script's.
await import(new URL('../../bin/cert-renew', import.meta.url).href);
