/** Asking before an irreversible change (`revoke`, `prune`): `--yes`, or a "y" typed on a terminal. */
import { CertRenewError, ErrorCode, UsageError } from '../errors.js';
import type { CliIO } from './io.js';

/**
 * Resolves true when the operator agreed (`--yes`, or an answer starting with y on a terminal), false
 * when they declined. Throws a UsageError (exit 2) when there is no terminal to ask and no `--yes`, and the
 * interruption (CertRenewError INTERRUPTED, exit 1) when a stop signal came while it asked — saying
 * `unchanged` (`nothing was revoked`), not that a next run continues.
 */
export async function confirmed(
  io: CliIO,
  yes: boolean | undefined,
  question: string,
  unchanged: string,
): Promise<boolean> {
  if (yes) return true;
  if (!io.confirm) {
    throw new UsageError(`${question.replace(/\?$/, '')}: refused without confirmation`, {
      hint: 'no terminal to ask on; pass --yes to confirm in a script',
    });
  }
  try {
    return await io.confirm(`${question} [y/N] `);
  } catch (error) {
    if (error instanceof CertRenewError && error.code === ErrorCode.interrupted) {
      throw new CertRenewError(ErrorCode.interrupted, `${error.message} at the question: ${unchanged}`);
    }
    throw error;
  }
}
