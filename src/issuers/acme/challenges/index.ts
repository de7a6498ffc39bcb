import type { Challenge } from '../../../manifest/types.js';
import { durationMs } from '../../../util/duration.js';
import { Dns01Solver } from './dns01.js';
import { DEFAULT_CHALLENGE_TTL_MS, RedisChallengeSolver } from './redis.js';
import { StandaloneSolver } from './standalone.js';
import type { ChallengeSolver, SolverContext } from './types.js';
import { WebrootSolver } from './webroot.js';

export type { ChallengeSolver, ChallengeTask, PropagationCheck, SolverContext } from './types.js';

/** The solver for a manifest challenge (one per order: standalone keeps per-order state). */
export function createSolver(challenge: Challenge, context: SolverContext): ChallengeSolver {
  if (challenge.type === 'dns-01') return new Dns01Solver(challenge, context);
  if ('webroot' in challenge) return new WebrootSolver(challenge.webroot, context, 'webroot');
  if ('challengeDirectory' in challenge) {
    return new WebrootSolver(challenge.challengeDirectory, context, 'challengeDirectory');
  }
  if ('standalone' in challenge) return new StandaloneSolver(challenge.standalone, context);
  return new RedisChallengeSolver(
    challenge.redis,
    challenge.ttl ? durationMs(challenge.ttl) : DEFAULT_CHALLENGE_TTL_MS,
    context,
  );
}

/** A stable key for a challenge configuration (dry runs check each distinct one once). */
export function challengeKey(challenge: Challenge): string {
  return JSON.stringify(challenge, Object.keys(challenge).sort());
}
