/**
 * What the command is waiting for right now, by name, so a command whose event loop empties before it
 * finished (a promise that can never settle: a library bug) can say what was left unfinished
 * (src/cli.ts `unfinishedCommand`) instead of exiting 0 in silence.
 */
const pending = new Map<number, string>();
let nextId = 0;

/**
 * Registers `what` (one line: `redis store "shared" (…): load 12 certificates`) while `work` runs; returns
 * `work` itself. Never changes how it settles.
 */
export function trackPending<T>(what: string, work: Promise<T>): Promise<T> {
  const id = nextId++;
  pending.set(id, what);
  const forget = () => {
    pending.delete(id);
  };
  work.then(forget, forget);
  return work;
}

/** What is being waited for now, oldest first (empty when nothing is registered). */
export function pendingWork(): string[] {
  return [...pending.values()];
}
