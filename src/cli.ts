/**
 * The entry point: the only module that reads argv and the environment and decides the exit code.
 * Commands are imported lazily so `--version` and `validate` stay fast.
 */
import { setMaxListeners } from 'node:events';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { CliIO, GlobalOptions } from './commands/io.js';
import { CertRenewError, describeError, ErrorCode, ExitCode } from './errors.js';
import type { Env } from './manifest/secrets.js';
import { DEFAULT_RUN_INTERVAL } from './policy/time.js';
import { systemClock } from './runtime/clock.js';
import {
  killProcessGroupsNow,
  releaseLocalLocksNow,
  releaseRemoteLocks,
  removeTemporaryFilesNow,
} from './runtime/exit-cleanup.js';
import { fitHeapToManifest, restoreHeapFlags } from './runtime/heap.js';
import { hostName } from './runtime/hostname.js';
import { pendingWork } from './runtime/pending.js';
import { fdOutput } from './util/output.js';
import { terminalSafe } from './util/text.js';
import { packageVersion } from './util/version.js';

export type { CliIO, GlobalOptions } from './commands/io.js';
/** bin/cert-renew names the bundle's verdict cache with it (manifest/verdicts.ts). */
export { useVerdictCache } from './manifest/verdicts.js';

/** Whether some output could not be written (bin/cert-renew then exits 1 when the command said 0). */
let outputLost = false;

/**
 * The process's stdout and stderr (util/output.ts: plain writes to a file, pipe or socket, node's stream
 * otherwise). A failure to write stdout (a full disk, an I/O error) is said in one line on stderr; the
 * command goes on, and its exit code becomes 1.
 */
const stderrOutput = fdOutput(
  2,
  () => process.stderr,
  () => {
    outputLost = true; // nowhere left to say it
  },
);
const stdoutOutput = fdOutput(
  1,
  () => process.stdout,
  (error) => {
    outputLost = true;
    stderrOutput.write(
      `cert-renew: cannot write to stdout (${error.code ?? describeError(error)}): the rest of the output is lost; the command carries on (exit code 1)\n`,
    );
  },
);

/**
 * Resolves when everything written to stdout and stderr is handed to the system, to whether all of it
 * could be written (bin/cert-renew awaits it before it exits).
 */
export async function flushOutput(): Promise<boolean> {
  await Promise.all([stdoutOutput.flush(), stderrOutput.flush()]);
  return !outputLost;
}

/** The signals that stop a command: Ctrl+C, `kill`/systemd, and a closed terminal or SSH session. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How long a second signal waits for the locks of a network store (Redis) to be released before exiting. */
const EXIT_LOCK_WAIT_MS = 3_000;

/**
 * SIGINT, SIGTERM or SIGHUP aborts the command (docs/operations.md "Interrupted runs"): a run starts no new
 * certificate, kills its running hooks and dns-01 commands (SIGTERM to their groups, SIGKILL after 5 s),
 * releases its locks and reports. A second one does not wait for that: `exitNow`.
 */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  let exiting = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A command that changes nothing has nothing to stop in order: it ends at once.
    if (stopAtOnce) {
      stopAtOnce(signal);
      return;
    }
    if (!controller.signal.aborted) {
      stderrOutput.write(`cert-renew: ${signal} received: ${stopping}\n`);
      controller.abort(
        new CertRenewError(ErrorCode.interrupted, `interrupted by ${signal}`, {
          hint: 'the next run continues',
        }),
      );
      return;
    }
    if (exiting) return; // already exiting: the exit comes within EXIT_LOCK_WAIT_MS
    exiting = true;
    void exitNow(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  // Everything a run does at once listens on it (renewal-information lookups, orders, hooks, dns-01
  // commands): more than node's leak-warning threshold of 10 is the design, not a leak, and the warning
  // would reach cron's mail. A real leak still shows, at INTERRUPT_LISTENERS.
  setMaxListeners(INTERRUPT_LISTENERS, controller.signal);
  return controller.signal;
}

/** What the first stop signal says the command does (set by `main` for commands that are not `run`). */
let stopping =
  'stopping (running hooks are killed, locks released; a second signal does it at once and exits)';

/** Whether anything was written to stdout (the second signal's line says whether a report was cut short). */
let printed = false;

/**
 * Set by `main` for the commands that change nothing (READ_ONLY_COMMANDS): the first stop signal ends them
 * at once — one line on stderr, exit 1 (`status --check`: 2, what it cannot tell) — instead of the run's
 * ordered stop, which they would not look at: a `plan` sent SIGTERM finished and exited 0.
 */
let stopAtOnce: ((signal: NodeJS.Signals) => void) | undefined;

/** Commands that hold no lock, run no hook and write nothing: a stop signal ends them at once. */
const READ_ONLY_COMMANDS = new Set(['plan', 'status', 'show', 'validate']);

/** Listeners on the run's interrupt signal before node warns of a leak (above every concurrency limit). */
const INTERRUPT_LISTENERS = 1000;

/**
 * The second stop signal: SIGKILL to every process group a hook or a dns-01 command leads, the locks
 * released (a Redis lock waited on for at most EXIT_LOCK_WAIT_MS, lock files synchronously, right before
 * the exit), one line on stderr saying so, and exit 1 — without the report.
 */
async function exitNow(signal: NodeJS.Signals): Promise<void> {
  const killed = killProcessGroupsNow();
  removeTemporaryFilesNow();
  const remote = await releaseRemoteLocks(EXIT_LOCK_WAIT_MS).catch(() => ({ released: 0, left: [] }));
  // From here to the exit nothing else of the run gets to run: no write after its lock file is gone.
  const local = releaseLocalLocksNow();
  const left = [...remote.left, ...local.left];
  stderrOutput.write(
    `cert-renew: ${signal} received again: exiting now (exit 1): killed ${killed} hook/command process group(s) (SIGKILL), released ${remote.released + local.released} lock(s)${left.length > 0 ? `; left to expire by itself: ${left.join(', ')}` : ''}; ${printed ? 'nothing more is printed' : 'no report'}; the next run continues\n`,
  );
  process.exit(ExitCode.failure);
}

export function defaultIO(env: Env): CliIO {
  const interrupt = interruptSignal();
  return {
    interrupt,
    // Whatever a reporter or message echoes, no escape sequence but colour reaches the terminal.
    stdout: (text) => {
      printed ||= text.length > 0;
      stdoutOutput.write(terminalSafe(text));
    },
    stderr: (text) => stderrOutput.write(terminalSafe(text)),
    env,
    cwd: process.cwd(),
    stdoutIsTTY: stdoutOutput.isTerminal(),
    clock: systemClock,
    hostname: hostName(),
    pid: process.pid,
    // Asked for only by the commands that confirm (revoke, prune): process.stdin is made when first read,
    // and making it costs every other run ~2 ms.
    get confirm() {
      return process.stdin.isTTY && stderrOutput.isTerminal()
        ? (question: string) => askOnTerminal(question, interrupt)
        : undefined;
    },
    fitHeap: (text) =>
      fitHeapToManifest(text, [...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]),
  };
}

/**
 * A yes/no question on stderr, answered on stdin (only when both are terminals). SIGINT/SIGTERM (Ctrl+C
 * included) while it waits (`interrupt`) ends the wait: throws the interruption's CertRenewError. The end of
 * input (Ctrl+D) answers no.
 */
async function askOnTerminal(question: string, interrupt: AbortSignal): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // The terminal is in raw mode while readline reads: Ctrl+C reaches it as a key, not as SIGINT. It is sent
  // as the signal, so it stops the command as it does anywhere else (else readline rejects, "Aborted").
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  try {
    return /^y(es)?$/i.test((await rl.question(question, { signal: interrupt })).trim());
  } catch (error) {
    if (interrupt.aborted) throw interrupt.reason;
    // Ctrl+D (end of input) closes readline before an answer: that is no answer, so no.
    if ((error as NodeJS.ErrnoException).code === 'ABORT_ERR') return false;
    throw error;
  } finally {
    rl.close();
  }
}

/** An option's whole-number argument ≥ 1; commander's error names the option (`--concurrency`). */
function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

/**
 * What a command's builder is given: the program to add it to, the global options (read when the command
 * runs), io, and where its exit code goes.
 */
interface CommandContext {
  program: Command;
  globals: () => GlobalOptions;
  io: CliIO;
  setExit: (code: number) => void;
}

/**
 * Every command, by name, as a function that adds it to the program (its options, arguments and action). A
 * command line that names one (after the global options) gets only that one built: commander's options and
 * listeners for all of them were ~1 ms of every run.
 */
const COMMANDS: Readonly<Record<string, (context: CommandContext) => void>> = {
  validate: ({ program, globals, io, setExit }) => {
    program
      .command('validate')
      .description('check manifests without touching the network, a store or a hook')
      .argument('[files...]', 'manifests to check (default: the --manifest path)')
      .addOption(
        new Option('--format <format>', 'output format')
          .choices(['human', 'json', 'github'])
          .default('human'),
      )
      .option('--interval <duration>', 'how often the renewal job runs', DEFAULT_RUN_INTERVAL)
      .option('--strict', 'treat warnings as failures')
      .action(
        async (
          files: string[],
          options: { format: 'human' | 'json' | 'github'; interval: string; strict?: boolean },
        ) => {
          const { validateCommand } = await import('./commands/validate.js');
          setExit(await validateCommand(files.length > 0 ? files : [globals().manifest], options, io));
        },
      );
  },
  plan: ({ program, globals, io, setExit }) => {
    program
      .command('plan')
      .description('show what is due and why; changes nothing')
      .option('--json', 'print the plan object as JSON')
      .option('--only <names...>', 'only these certificates')
      .option('--force', 'plan as if every certificate were due')
      .option('--shard <i/n>', 'only the certificates of shard i of n')
      .option(
        '--interval <duration>',
        'how often the renewal job runs (for the safety floor)',
        DEFAULT_RUN_INTERVAL,
      )
      .action(async (options) => {
        const { planCommand } = await import('./commands/plan.js');
        setExit(await planCommand(globals(), options, io));
      });
  },
  run: ({ program, globals, io, setExit }) => {
    program
      .command('run')
      .description('renew what is due, store it, run the hooks')
      .option('--dry-run', 'reach every issuer and store, write nothing, run no hook')
      .option('--force', 'renew every selected certificate now')
      .option('--only <names...>', 'only these certificates')
      .option('--concurrency <n>', 'certificates renewed at once', parsePositiveInt, 4)
      .option('--json', 'print the run report as JSON')
      .option('--metrics-file <path>', 'write a Prometheus textfile (atomically)')
      .option('--shard <i/n>', 'only the certificates of shard i of n')
      .option(
        '--interval <duration>',
        'how often the renewal job runs (for the safety floor)',
        DEFAULT_RUN_INTERVAL,
      )
      .option('--timeout <duration>', 'give up on one certificate after this long', '10m')
      .option('--lock-wait <duration>', "how long to wait for another host's lock on a certificate", '5m')
      .option(
        '--host-id <id>',
        "this host's id in the deployment state (default: deployment.hostId, else the hostname)",
      )
      .option(
        '--new-local-ca',
        'create a new local CA where the old one is gone although certificates it issued are stored',
      )
      .action(async (options) => {
        const { runCommand } = await import('./commands/run.js');
        setExit(await runCommand(globals(), options, io));
      });
  },
  status: ({ program, globals, io, setExit }) => {
    program
      .command('status')
      .description('what every certificate looks like now (monitoring)')
      .option('--check', 'exit 0 all fine, 1 some due or failing, 2 some expired or missing')
      .option('--json', 'print JSON')
      .option('--only <names...>', 'only these certificates')
      .option('--metrics-file <path>', 'write a Prometheus textfile (atomically)')
      .option('--shard <i/n>', 'only the certificates of shard i of n')
      .option('--interval <duration>', 'how often the renewal job runs', DEFAULT_RUN_INTERVAL)
      .option(
        '--grace <duration>',
        'how long a host may stay behind before --check warns (default: 2 intervals)',
      )
      .option(
        '--probe',
        'connect to each verify endpoint and report the served certificate against the stored one',
      )
      .action(async (options) => {
        const { statusCommand } = await import('./commands/status.js');
        setExit(await statusCommand(globals(), options, io));
      });
  },
  show: ({ program, globals, io, setExit }) => {
    program
      .command('show')
      .description('details of one stored certificate')
      .argument('<name>', 'certificate name')
      .option('--json', 'print JSON')
      .option('--pem', 'print the certificate chain as PEM')
      .option('--include-key', 'with --pem: print the private key too')
      .action(async (name: string, options) => {
        const { showCommand } = await import('./commands/show.js');
        setExit(await showCommand(globals(), name, options, io));
      });
  },
  import: ({ program, globals, io, setExit }) => {
    program
      .command('import')
      .description('adopt certificates from certbot, lego, acme.sh or a PEM pair, without re-issuing')
      .argument('<source>', 'certbot, lego, acme.sh or pem')
      .argument(
        '[dir]',
        'certbot --config-dir, lego --path or acme.sh home (defaults: /etc/letsencrypt, ./.lego, ~/.acme.sh)',
      )
      .option('--write', 'merge the entries into the manifest file (default: print them)')
      .option('--dry-run', 'show what would be adopted and written; change nothing')
      .option('--json', 'print the import report as JSON')
      .option('--store <name>', "store to adopt into (default: the manifest's default store)")
      .option('--issuer <name>', 'issuer for the imported certificates (default: by ACME directory)')
      .option(
        '--server <url>',
        "ACME directory URL or alias (lego's --server; overrides the source's; pem: the CA that renews it)",
      )
      .option('--email <address>', 'account e-mail for issuers the import adds')
      .option(
        '--ca-bundle <file>',
        'CA bundle trusted for a private ACME server (set on issuers the import adds)',
      )
      .option('--http.webroot <dir>', 'lego: the --http.webroot given to lego (document root)')
      .option('--http.port <address>', 'lego: the --http.port given to lego (standalone listener)')
      .option('--dns <provider>', 'lego: the --dns provider given to lego')
      .option('--exec-path <command>', 'lego: with --dns exec, its EXEC_PATH')
      .option('--key-type <type>', 'lego: the --key-type given to lego (ec256, ec384, rsa2048, …)')
      .option('--renew-hook <command>', 'lego: the --renew-hook given to lego')
      .option('--name <name>', 'pem: the certificate name')
      .option('--cert <file>', 'pem: the certificate (may hold the chain after it)')
      .option('--key <file>', 'pem: the private key')
      .option('--chain <file>', 'pem: the intermediate certificates')
      .option('--domains <names...>', "pem: the domains (default: the certificate's names)")
      .action(async (source: string, dir: string | undefined, options) => {
        const { importCommand } = await import('./commands/import.js');
        setExit(await importCommand(globals(), source, dir, options, io));
      });
  },
  revoke: ({ program, globals, io, setExit }) => {
    program
      .command('revoke')
      .description('revoke certificates at their issuer and (by default) replace them with a new key')
      .argument('<names...>', 'certificate names')
      .addOption(
        new Option('--reason <reason>', 'RFC 5280 revocation reason')
          .choices([
            'keyCompromise',
            'superseded',
            'cessationOfOperation',
            'affiliationChanged',
            'unspecified',
          ])
          .makeOptionMandatory(),
      )
      .option('--no-renew', 'only revoke; the next run replaces them')
      .option('-y, --yes', 'do not ask for confirmation (scripts)')
      .option('--json', 'print the report as JSON')
      .option('--timeout <duration>', 'give up on one certificate after this long', '10m')
      .option('--lock-wait <duration>', "how long to wait for another host's lock on a certificate", '5m')
      .option('--interval <duration>', 'how often the renewal job runs', '24h')
      .option(
        '--host-id <id>',
        "this host's id in the deployment state (default: deployment.hostId, else the hostname)",
      )
      .action(async (names: string[], options) => {
        const { revokeCommand } = await import('./commands/revoke.js');
        setExit(await revokeCommand(globals(), names, options, io));
      });
  },
  prune: ({ program, globals, io, setExit }) => {
    program
      .command('prune')
      .description('remove certificates the stores hold but the manifest no longer names (orphans)')
      .argument('[names...]', 'only these orphans (default: every orphan)')
      .option('--dry-run', 'show what would be removed; change nothing')
      .option('-y, --yes', 'do not ask for confirmation (scripts)')
      .addOption(
        new Option(
          '--revoke [reason]',
          'revoke each at its issuer first (default reason cessationOfOperation)',
        ).choices([
          'keyCompromise',
          'superseded',
          'cessationOfOperation',
          'affiliationChanged',
          'unspecified',
        ]),
      )
      .option('--json', 'print the report as JSON')
      .option('--timeout <duration>', 'give up on one certificate after this long', '10m')
      .option('--lock-wait <duration>', "how long to wait for another host's lock on a certificate", '5m')
      .option('--host <id>', "instead: forget a retired host's deployment records (the certificates stay)")
      .option('--force', 'also remove orphans that other hosts have deployed (another manifest may use them)')
      .option('--host-id <id>', "this host's id (default: deployment.hostId, else the hostname)")
      .action(async (names: string[], options) => {
        const { pruneCommand } = await import('./commands/prune.js');
        setExit(await pruneCommand(globals(), names, options, io));
      });
  },
};

export function buildProgram(
  io: CliIO,
  setExit: (code: number) => void,
  argv: readonly string[] = [],
): Command {
  const program = new Command();
  program
    .name('cert-renew')
    .description('Keeps TLS certificates from expiring: checks, renews, stores, reloads.')
    .version(packageVersion(), '-V, --version')
    .addOption(
      // Commander's .env() would read process.env; the environment comes in through io.
      new Option('-m, --manifest <path>', 'the certificate manifest (env: CERT_RENEW_MANIFEST)').default(
        io.env.CERT_RENEW_MANIFEST || 'certificate-manifest.json',
      ),
    )
    .option('-v, --verbose', 'more detail on stderr')
    .option('-q, --quiet', 'only warnings and errors on stderr')
    .showHelpAfterError('(run cert-renew --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
    });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const only = invokedCommand(argv);
  for (const [name, add] of Object.entries(COMMANDS)) {
    if (only === undefined || name === only) add({ program, globals, io, setExit });
  }
  return program;
}

/** The global options that take a value (`-m FILE`, `--manifest FILE`). */
const VALUE_OPTIONS = new Set(['-m', '--manifest']);
/** The global options that take none. */
const FLAG_OPTIONS = new Set(['-v', '--verbose', '-q', '--quiet']);

/**
 * The command `argv` names, when there is no doubt: the first argument after global options that commander
 * reads exactly so (`-m FILE`, `-mFILE`, `--manifest=FILE`, `-v`, `-q` and their long forms). Undefined for
 * anything else — no command, help, `--version`, an unknown word or option, `--`, combined short flags —
 * and then every command is built, so commander's answer (its help, its "unknown command" and suggestions)
 * is the one it always gave.
 */
export function invokedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (FLAG_OPTIONS.has(arg) || arg.startsWith('--manifest=') || /^-m[^-]/.test(arg)) continue;
    else if (arg.startsWith('-')) return undefined;
    else return Object.hasOwn(COMMANDS, arg) ? arg : undefined;
  }
  return undefined;
}

/**
 * Called by bin/cert-renew when node's event loop emptied while `main` had not settled: the command was
 * waiting on a promise that can never settle (a bug, ours or a library's), and node would exit 0 in
 * silence. Writes one line on stderr naming what was left unfinished and returns the exit code: 2 for
 * `status --check` (its store could not be read: critical), 1 for everything else (docs/operations.md).
 */
export function unfinishedCommand(argv: readonly string[]): number {
  const command = invokedCommand(argv) ?? 'the command';
  const waiting = pendingWork();
  const what =
    waiting.length > 0
      ? `${command} was waiting for ${waiting.join('; ')}`
      : `${command} was waiting for something that can no longer happen`;
  // status --check: a store that cannot be read is critical, 2.
  const code = command === 'status' && argv.includes('--check') ? 2 : ExitCode.failure;
  stderrOutput.write(
    `cert-renew: the command stopped before finishing (${terminalSafe(what)}); nothing was reported: this is a bug, please report it (exit ${code})\n`,
  );
  return code;
}

/** Whether the command stopped on an error of its own (one line on stderr) instead of ending with its report. */
let failedAsAWhole = false;

/**
 * Whether the command ran to its end: its report made, whatever its exit code (a certificate that failed
 * included); false when it stopped on an error of the whole command (a broken installation, a store that
 * cannot be opened, an internal error). bin/cert-renew writes no code cache after such a run: it would hold
 * little, and be kept (docs/operations.md "Scheduling").
 */
export function commandCompleted(): boolean {
  return !failedAsAWhole;
}

/** Runs the CLI and resolves with the exit code. Never throws, never prints a stack trace. */
export async function main(argv: string[], env: Env, io?: CliIO): Promise<number> {
  const command = invokedCommand(argv);
  if (io === undefined) {
    io = defaultIO(env);
    if (command !== undefined && READ_ONLY_COMMANDS.has(command)) {
      const code = command === 'status' && argv.includes('--check') ? 2 : ExitCode.failure;
      stopAtOnce = (signal) => {
        removeTemporaryFilesNow();
        stderrOutput.write(
          `cert-renew: ${signal} received: ${command} stopped (it changes nothing; exit ${code})\n`,
        );
        process.exit(code);
      };
    } else if (command !== undefined && command !== 'run') {
      stopping = 'stopping (nothing more is started; a second signal exits at once)';
    }
  }
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(
    io,
    (code) => {
      exitCode = code;
    },
    argv,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    failedAsAWhole = true;
    if (error instanceof CertRenewError) {
      io.stderr(`cert-renew: ${error.oneLine}\n`);
      if (env.CERT_RENEW_DEBUG && error.stack) io.stderr(`${error.stack}\n`);
      return error.exitCode;
    }
    io.stderr(`cert-renew: internal error: ${describeError(error)} (please report this)\n`);
    if (env.CERT_RENEW_DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return ExitCode.failure;
  } finally {
    // V8's defaults again, so the code cache bin/cert-renew may write next is one default runs take.
    restoreHeapFlags();
  }
}
