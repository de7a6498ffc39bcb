/**
 * Per-certificate locks in Redis: `SET lock:{name} TOKEN NX PX ttl`. The token names the holder
 * (`host:pid:random`) so an operator can see who holds a lock with `GET`. Only the holder extends
 * (compare-and-PEXPIRE) or releases (compare-and-DEL) it; a holder that dies stops extending and its
 * lock expires after `ttl`, when another host takes it. A lock found without any expiry is given `ttl`.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import { holdUntilExit } from '../../runtime/exit-cleanup.js';
import type { Logger } from '../../runtime/logger.js';
import { redisKeys } from '../keys.js';
import type { AcquireOptions, Lock, Locker } from '../types.js';

/** GET + PEXPIRE only when the value is still our token. Returns 1 when extended. */
export const EXTEND_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/** GET + DEL only when the value is still our token. Returns 1 when released. */
export const RELEASE_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/**
 * PEXPIRE only when the key has no time to live (PTTL -1). Returns 1 when a lifetime was given. A lock
 * without one (not cert-renew's: set by hand, or by a tool that copied keys without their TTL) would
 * otherwise block its certificate for ever.
 */
export const EXPIRE_IMMORTAL_SCRIPT =
  "if redis.call('PTTL', KEYS[1]) == -1 then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) else return 0 end";

/** The three commands a locker needs; the Redis store provides them (connected, errors wrapped). */
export interface LockCommands {
  /** SET key value NX PX ttlMs; true when set. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** EVAL script with one key and the given arguments; the script's integer result. */
  evalOnKey(script: string, key: string, ...args: string[]): Promise<number>;
}

export interface RedisLockerOptions {
  keyPrefix: string;
  /** How long a lock lives without extension. */
  ttlMs: number;
  /** `host:pid`, the readable part of every token. */
  owner: string;
  clock: Clock;
  logger: Logger;
  /** Where to poll between attempts; defaults to 100–500 ms with jitter. */
  pollMs?: { min: number; max: number };
}

/** A held lock; `lost` turns true when an extension found another token (or none) in the key. */
export interface RedisLock extends Lock {
  readonly token: string;
  readonly lost: boolean;
}

export class RedisLocker implements Locker {
  private readonly held = new Set<NodeJS.Timeout>();

  constructor(
    private readonly commands: LockCommands,
    private readonly options: RedisLockerOptions,
  ) {}

  /** Tries at once, then polls with jitter until `waitMs` has passed (by the clock or by time slept). */
  async acquire(name: string, { waitMs, signal }: AcquireOptions): Promise<RedisLock | undefined> {
    const key = redisKeys.lock(this.options.keyPrefix, name);
    const token = `${this.options.owner}:${randomBytes(8).toString('hex')}`;
    const deadline = this.options.clock.now().getTime() + waitMs;
    const poll = this.options.pollMs ?? { min: 100, max: 500 };
    let slept = 0;
    let checkedLifetime = false;
    for (;;) {
      signal?.throwIfAborted();
      if (await this.commands.setIfAbsent(key, token, this.options.ttlMs)) return this.hold(name, key, token);
      if (!checkedLifetime) {
        checkedLifetime = true;
        if ((await this.commands.evalOnKey(EXPIRE_IMMORTAL_SCRIPT, key, String(this.options.ttlMs))) === 1) {
          this.options.logger.warn(
            `the lock for certificate "${name}" (${key}) had no expiry (not set by cert-renew?): it now expires after lockTimeout, ${this.options.ttlMs} ms, unless its holder releases it`,
          );
        }
      }
      const left = Math.min(waitMs - slept, deadline - this.options.clock.now().getTime());
      if (left <= 0) return undefined;
      const delay = Math.min(left, poll.min + Math.floor(Math.random() * (poll.max - poll.min)));
      await sleep(delay, undefined, signal ? { signal } : undefined);
      slept += delay;
    }
  }

  /** Stops every extension timer (the store is closing); the locks then expire unless released. */
  stopAll(): void {
    for (const timer of this.held) clearInterval(timer);
    this.held.clear();
  }

  private hold(name: string, key: string, token: string): RedisLock {
    const { ttlMs, logger } = this.options;
    let lost = false;
    let released = false;
    let lastExtended = performance.now();
    let inFlight: Promise<void> | undefined;
    const extendOnce = async () => {
      if (lost || released) return;
      const gap = performance.now() - lastExtended;
      if (gap > ttlMs / 2) {
        logger.warn(
          `the lock for certificate "${name}" was extended late (${Math.round(gap)} ms after the last extension, lockTimeout ${ttlMs} ms): the machine or Redis is busy; a longer lockTimeout is safer`,
        );
      }
      try {
        const ok = await this.commands.evalOnKey(EXTEND_SCRIPT, key, token, String(ttlMs));
        if (ok === 1) {
          lastExtended = performance.now();
        } else if (!released) {
          lost = true;
          stop();
          logger.warn(`lock for certificate "${name}" was lost (it expired or another host took it over)`);
        }
      } catch (error) {
        // Redis unreachable for a moment: the lock still has time left; the next tick (or phase) tries again.
        logger.debug(`extending the lock for certificate "${name}" failed: ${describeError(error)}`);
      }
    };
    // One extension at a time: a tick that comes while one is waiting on a busy Redis joins it.
    const extend = () => {
      inFlight ??= extendOnce().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    };
    // Four extensions per lifetime: a busy machine may delay one or two ticks without the lock expiring.
    const timer = setInterval(() => void extend(), Math.max(Math.floor(ttlMs / 4), 10));
    timer.unref();
    this.held.add(timer);
    let forget = () => {};
    const stop = () => {
      clearInterval(timer);
      this.held.delete(timer);
      forget();
    };
    const lock: RedisLock = {
      name,
      token,
      get lost() {
        return lost;
      },
      refresh: () => extend(),
      // Compare-and-extend once: true only while the key still carries our token.
      stillHeld: async () =>
        !lost && !released && (await this.commands.evalOnKey(EXTEND_SCRIPT, key, token, String(ttlMs))) === 1,
      release: async () => {
        if (released) return;
        released = true;
        stop();
        try {
          await this.commands.evalOnKey(RELEASE_SCRIPT, key, token);
        } catch (error) {
          // Never throws: the lock expires on its own after ttl.
          logger.warn(
            `releasing the lock for certificate "${name}" failed (it expires by itself): ${describeError(error)}`,
          );
        }
      },
    };
    // A second SIGINT/SIGTERM releases it from the exit path (runtime/exit-cleanup.ts).
    forget = holdUntilExit({ what: `Redis lock ${key}`, release: () => lock.release() });
    return lock;
  }
}
