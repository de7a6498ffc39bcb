/**
 * The authorizations of one order (RFC 8555 §7.5): every pending one is answered with the configured
 * challenge solver, the CA is asked to validate, and the authorization is polled until it settles. Whatever
 * happens, every challenge answer is cleaned up; on failure the still-pending authorizations are
 * deactivated (§7.5.2) so they do not linger at the CA.
 */
import { CertRenewError, describeError, ErrorCode, IssuerVerdict, StoppedAtDeadline } from '../../errors.js';
import type { Challenge } from '../../manifest/types.js';
import type { Logger } from '../../runtime/logger.js';
import { dnsRecordName } from './challenges/dns-exec.js';
import {
  type ChallengeSolver,
  type ChallengeTask,
  createSolver,
  type SolverContext,
} from './challenges/index.js';
import type { AcmeChallenge, AcmeClient, Authorization, Order } from './client.js';
import type { AcmeConnection } from './connection.js';
import { challengeError, deadlineError, forCertificate } from './errors.js';
import { once, type PollPolicy, pollUntilSettled } from './retry.js';
import { parseProblem } from './transport.js';

/** How long cleanup (deactivation) may take once the order failed, on its own deadline (ms). */
const DEACTIVATE_TIMEOUT_MS = 10_000;

export interface AuthorizeContext {
  poll: PollPolicy;
  /** The solver's context, with the certificate's logger. */
  solverContext(logger: Logger): SolverContext;
}

/**
 * Answers every pending authorization of `order` with `challenge`; resolves once all are valid. Throws
 * CertRenewError: CHALLENGE_FAILED (no such challenge offered, the answer could not be put in place, or
 * the CA could not validate it), ISSUER_REJECTED (an authorization already invalid, or a refusal),
 * ISSUER_TIMEOUT / ISSUER_UNAVAILABLE from the steps.
 */
export async function authorize(
  context: AuthorizeContext,
  connection: AcmeConnection,
  client: AcmeClient,
  order: Order,
  challenge: Challenge,
): Promise<void> {
  const authorizations = await client.authorizations(order);
  const pending: Authorization[] = [];
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue;
    if (authz.status !== 'pending') {
      throw new IssuerVerdict(
        ErrorCode.issuerRejected,
        `${connection.who()}: the authorization for ${authz.identifier.value} is ${authz.status}`,
      );
    }
    pending.push(authz);
  }
  if (pending.length === 0) return;

  const solver = createSolver(challenge, {
    ...context.solverContext(connection.logger),
    ...(connection.certName ? { certificateName: connection.certName } : {}),
  });
  const work: { authz: Authorization; challenge: AcmeChallenge; task: ChallengeTask }[] = [];
  for (const authz of pending) {
    const offered = authz.challenges.find((c) => c.type === solver.type);
    if (!offered) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `${connection.who()}: the CA offers no ${solver.type} challenge for ${authz.identifier.value} (only ${authz.challenges.map((c) => c.type).join(', ')})`,
      );
    }
    const identifier = authz.identifier.value;
    work.push({
      authz,
      challenge: offered,
      task: {
        identifier,
        wildcard: authz.wildcard === true,
        token: offered.token,
        value: await client.keyAuthorization(offered),
        ...(solver.type === 'dns-01' ? { recordName: dnsRecordName(identifier) } : {}),
      },
    });
  }

  const signal = connection.signal;
  const presented: ChallengeTask[] = [];
  const tag = (error: unknown) => forCertificate(error, connection.errorContext('answering the challenge'));
  try {
    await solver.open?.(signal);
    const results = await Promise.allSettled(
      work.map(async ({ task }) => {
        await solver.present(task, signal);
        presented.push(task);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && signal.aborted && !StoppedAtDeadline.within(failed.reason)) {
      // Stopped by the certificate's deadline (or an interrupted run), not refused: ISSUER_TIMEOUT, as
      // the issuer contract says, with what was stopped.
      const what = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
      throw deadlineError(connection.errorContext(`answering the challenge (${what})`));
    }
    if (failed) throw tag(failed.reason);
    await solver.settle?.(presented, signal);
    if (signal.aborted) throw deadlineError(connection.errorContext('waiting for DNS propagation'));
    // dns-01: after any earlier order of the run at the same names, once the CA's cache of it expired.
    await solver.awaitTurn?.(presented, signal);
    try {
      await Promise.all(work.map(({ task, challenge: c }) => client.completeChallenge(c, task.identifier)));
      await Promise.all(
        work.map((item) => awaitAuthorization(context, connection, client, item.authz, solver)),
      );
    } finally {
      solver.validated?.();
    }
  } catch (error) {
    await deactivate(connection, client, pending);
    throw tag(error);
  } finally {
    // Every task, not only those whose `present` finished: one killed half-way (a dns-01 command at its
    // timeout) may already have published its record. Cleanups are idempotent and never throw.
    await Promise.all(work.map(({ task }) => solver.cleanup(task)));
    await solver.close?.();
  }
}

/** Polls one authorization until it settles; throws the CA's reason when it ends invalid. */
async function awaitAuthorization(
  context: AuthorizeContext,
  connection: AcmeConnection,
  client: AcmeClient,
  authz: Authorization,
  solver: ChallengeSolver,
): Promise<void> {
  const identifier = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
  const step = `waiting for the validation of ${identifier}`;
  const final = await pollUntilSettled(() => client.authorization(authz.url, step), {
    policy: context.poll,
    signal: connection.signal,
    timeout: () => deadlineError(connection.errorContext(step)),
  });
  if (final.status === 'valid') return;
  const failed = final.challenges.find((c) => c.status === 'invalid' && (c as { error?: unknown }).error);
  const problem = failed ? parseProblem((failed as { error?: unknown }).error) : undefined;
  throw challengeError(
    connection.errorContext('validating'),
    identifier,
    solver.description,
    problem,
    problem ? (solver.failureHintFor?.(problem.detail) ?? solver.failureHint) : solver.failureHint,
  );
}

/** Deactivates the authorizations that are still pending (best effort, on a short deadline of its own). */
async function deactivate(
  connection: AcmeConnection,
  client: AcmeClient,
  authorizations: Authorization[],
): Promise<void> {
  const issuer = connection.issuerName;
  await connection.withSignal(AbortSignal.timeout(DEACTIVATE_TIMEOUT_MS), () =>
    Promise.all(
      authorizations.map(async (authz) => {
        try {
          const step = 'fetching an authorization';
          const current = await client.authorization(authz.url, step, once(connection.retry));
          if (current.status !== 'pending') return;
          await client.deactivateAuthorization(current);
          connection.logger.debug(
            `issuer ${issuer}: deactivated authorization ${authz.url} (${authz.identifier.value})`,
          );
        } catch (error) {
          connection.logger.debug(
            `issuer ${issuer}: could not deactivate ${authz.url}: ${describeError(error)}`,
          );
        }
      }),
    ),
  );
}
