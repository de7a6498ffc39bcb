/**
 * What a command gets from the entry point: output writers, the environment, the clock, the interrupt
 * signal, and the global options. `cli.ts` builds the real one from the process; tests build their own.
 * Commands import these from here, never from `cli.ts`, so the entry point stays at the top of the graph.
 */
import type { Env } from '../manifest/secrets.js';
import type { ReportOptions } from '../report/reporter.js';
import { painterFor } from '../report/table.js';
import type { Clock } from '../runtime/clock.js';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Env;
  cwd: string;
  /** Whether stdout is a terminal (colour and tables only then). */
  stdoutIsTTY: boolean;
  clock: Clock;
  hostname: string;
  pid: number;
  /** Aborted when the operator (or systemd) interrupts the run: hooks are killed, locks released. */
  interrupt?: AbortSignal;
  /**
   * Asks a yes/no question on the terminal (stdin and stderr both TTYs); absent when there is none, and
   * then `revoke` and `prune` need `--yes`.
   */
  confirm?: (question: string) => Promise<boolean>;
  /**
   * Sizes V8's heap for a manifest about to be checked (runtime/heap.ts: kept tight from 1,000
   * certificates); returns whether it changed anything. Absent in an IO built by tests.
   */
  fitHeap?: (manifestText: string) => boolean;
}

/** The options every command accepts (`cert-renew -m FILE -v COMMAND`). */
export interface GlobalOptions {
  manifest: string;
  verbose?: boolean;
  quiet?: boolean;
}

/**
 * Whether to colour output: a terminal, and neither NO_COLOR nor a dumb terminal. FORCE_COLOR wins, as node
 * and chalk read it: set (even empty) it colours, `0` or `false` it does not, terminal or not.
 */
export function useColour(io: Pick<CliIO, 'env' | 'stdoutIsTTY'>): boolean {
  const force = io.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.TERM === 'dumb') return false;
  return io.stdoutIsTTY;
}

/** How reports are rendered for this output: painted when `useColour` says so (chalk loaded only then). */
export async function reportOptions(io: Pick<CliIO, 'env' | 'stdoutIsTTY'>): Promise<ReportOptions> {
  return { paint: await painterFor(useColour(io)) };
}

/** Bytes gathered before one write: one write(2) per ~64 kB of a large report. */
const REPORT_BLOCK = 64 * 1024;

/**
 * Writes a report's pieces (a ChunkedReporter's) to stdout in order, in blocks of ~64 kB, so a report of
 * many thousands of certificates is never held whole. Each piece ends at a line or element boundary, so no
 * colour code is cut in two.
 */
export function writeReport(io: Pick<CliIO, 'stdout'>, pieces: Iterable<string>): void {
  let block = '';
  for (const piece of pieces) {
    block += piece;
    if (block.length >= REPORT_BLOCK) {
      io.stdout(block);
      block = '';
    }
  }
  if (block !== '') io.stdout(block);
}
