/**
 * http-01 through Redis: `challenge:{token}` is written to the named store (with a TTL) for proxies that
 * answer challenges from Redis; removed afterwards whatever happened.
 */
import { CertRenewError, ErrorCode } from '../../../errors.js';
import { type ChallengeStore, isChallengeStore, type Store } from '../../../stores/types.js';
import type { ChallengeSolver, ChallengeTask, SolverContext } from './types.js';

export const DEFAULT_CHALLENGE_TTL_MS = 10 * 60_000;

export class RedisChallengeSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  readonly description: string;
  readonly failureHint: string;
  private store: Promise<Store & ChallengeStore> | undefined;

  constructor(
    private readonly storeName: string,
    private readonly ttlMs: number,
    private readonly context: SolverContext,
  ) {
    this.description = `http-01 redis store ${storeName}`;
    this.failureHint = `make sure the proxies answering /.well-known/acme-challenge/ read store ${storeName}`;
  }

  private storeHandle(): Promise<Store & ChallengeStore> {
    this.store ??= this.context.getStore(this.storeName).then((store) => {
      if (!isChallengeStore(store)) {
        throw new CertRenewError(
          ErrorCode.manifestInvalid,
          `store ${this.storeName} (${store.type}) cannot hold http-01 challenges`,
          { hint: 'name a redis store in the challenge' },
        );
      }
      return store;
    });
    this.store.catch(() => {
      this.store = undefined;
    });
    return this.store;
  }

  async present(task: ChallengeTask): Promise<void> {
    const store = await this.storeHandle();
    await store.putChallenge(task.token, task.value, this.ttlMs);
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    try {
      const store = await this.storeHandle();
      await store.deleteChallenge(task.token);
    } catch (error) {
      this.context.logger.warn(
        `issuer ${this.context.issuerName}: cannot remove http-01 challenge ${task.token} from store ${this.storeName}: ${(error as Error).message}`,
      );
    }
  }

  async check(): Promise<string> {
    const store = await this.storeHandle();
    return `${this.description}: ${await store.checkWritable()}`;
  }
}
