/**
 * A command's output on file descriptor 1 or 2, written without node's stream modules when it can be.
 *
 * `process.stdout` and `process.stderr` are streams made on first access, and making one loads node's stream
 * modules (and, for a pipe or a terminal, `node:net`): ~4 ms of every run's CPU, most of what a nothing-due
 * run spends beyond reading and deciding. Where the descriptor is a regular file, a pipe or a socket (cron's
 * mail pipe, a log file, systemd's journal) — never a terminal — the text is written with plain `write(2)`
 * calls instead, in full, before `write` returns: nothing is left to flush at exit. So is `/dev/null` (a
 * crontab's `> /dev/null 2>&1`), known by its device number. Anything else (a terminal, other devices such as
 * `/dev/full`) goes through the stream, as before.
 *
 * A reader that went away (EPIPE: `cert-renew status | head -1`) is not an error of the run: what is still
 * written is dropped, and the command finishes its work (a run half done because a pipe closed would leave
 * certificates unstored and hooks unrun). A descriptor another process left non-blocking (EAGAIN) is waited
 * on, 1 ms at a time. Any other failure to write (a full disk, an I/O error, `/dev/full`) is given to
 * `onFailure` once, the rest of the output is dropped, and the command goes on: writing never throws.
 */
import { fstatSync, statSync, writeSync } from 'node:fs';

/** One output: 1 (stdout) or 2 (stderr). */
export interface Output {
  /** Writes `text` (UTF-8) in full, or drops it once the output failed (see the module header). */
  write(text: string): void;
  /** Whether the descriptor is a terminal (asks the stream, so only when it may be one). */
  isTerminal(): boolean;
  /** Resolves when what went through the stream, if one was made, is handed to the system. */
  flush(): Promise<void>;
}

/**
 * The output on `fd`; `stream` gives its node stream (process.stdout/stderr), asked for only when the
 * descriptor is not a file, pipe or socket, and at most once. `onFailure` is told of the first failure to
 * write but EPIPE.
 */
export function fdOutput(
  fd: number,
  stream: () => NodeJS.WriteStream,
  onFailure: (error: NodeJS.ErrnoException) => void,
): Output {
  let direct: boolean | undefined;
  let made: NodeJS.WriteStream | undefined;
  let done = false; // the reader went away, or writing failed: what follows is dropped
  const fail = (error: NodeJS.ErrnoException) => {
    if (done) return;
    done = true;
    onFailure(error);
  };
  const isDirect = (): boolean => {
    if (direct === undefined) {
      try {
        const info = fstatSync(fd);
        direct =
          info.isFile() ||
          info.isFIFO() ||
          info.isSocket() ||
          (info.isCharacterDevice() && isDevNull(info.rdev));
      } catch {
        direct = false; // closed or unusual: the stream decides what to do with it
      }
    }
    return direct;
  };
  const viaStream = (): NodeJS.WriteStream => {
    if (made === undefined) {
      made = stream();
      made.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') done = true;
        else fail(error);
      });
    }
    return made;
  };
  return {
    write(text) {
      if (done || text === '') return;
      if (!isDirect()) {
        viaStream().write(text);
        return;
      }
      try {
        done = !writeFully(fd, Buffer.from(text, 'utf8'));
      } catch (error) {
        fail(error as NodeJS.ErrnoException);
      }
    },
    isTerminal() {
      return isDirect() ? false : Boolean(viaStream().isTTY);
    },
    flush() {
      const open = made;
      return open ? new Promise((resolve) => open.write('', () => resolve())) : Promise.resolve();
    },
  };
}

/** Whether a character device's number is `/dev/null`'s (never a terminal; every write to it succeeds). */
function isDevNull(rdev: number): boolean {
  try {
    return statSync('/dev/null').rdev === rdev;
  } catch {
    return false; // no /dev/null (a system without one): the stream decides
  }
}

/** A buffer to sleep on (Atomics.wait): the main thread may block, and nothing else runs meanwhile anyway. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes`; false when the reader went away (EPIPE). */
function writeFully(fd: number, bytes: Buffer): boolean {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return false;
      if (code !== 'EAGAIN') throw error;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
  return true;
}
