/**
 * This machine's host name, as `os.hostname()` gives it: gethostname(2), the nodename of the process's UTS
 * namespace. On Linux it is read from /proc/sys/kernel/hostname, which is that same name, so a run does not
 * load node:os for it (~0.2 ms of a nothing-due run: docs/performance.md, fifteenth round); elsewhere, or
 * when that file cannot be read or is empty, `os.hostname()`. Never throws.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { hostname } from 'node:os';

/** Longer than any host name (HOST_NAME_MAX is 64). */
const MAX_BYTES = 256;

/** The host name (`vm`, `web-1.example.com`), as os.hostname() returns it. */
export function hostName(): string {
  if (process.platform === 'linux') {
    let fd: number | undefined;
    try {
      fd = openSync('/proc/sys/kernel/hostname', constants.O_RDONLY);
      const buffer = Buffer.allocUnsafe(MAX_BYTES);
      // The name and the newline the kernel ends it with: nothing else is taken off (os.hostname() does not).
      const line = buffer.toString('utf8', 0, readSync(fd, buffer, 0, MAX_BYTES, null));
      const name = line.endsWith('\n') ? line.slice(0, -1) : line;
      if (name !== '') return name;
    } catch {
      // not mounted (a chroot), not readable: node's own call below
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return hostname();
}
