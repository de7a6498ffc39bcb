/**
 * Per-certificate locks in Redis: `SET lock:{name} TOKEN NX PX ttl`. The token names the holder
 * (`host:pid:boot:pidns:random`) so an operator can see who holds a lock with `GET`. Only the holder
 * extends (compare-and-PEXPIRE) or releases (compare-and-DEL) it; a holder that dies stops extending and
 * its lock expires after `ttl`, when another host takes it. A holder that is provably dead — a process of
 * this very host, boot and PID namespace that no longer exists (runtime/identity.ts, as for lock files) —
 * is taken over at once (compare-and-SET of its token). A lock found without any expiry is given `ttl`.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../../errors.js';
import type { Clock } from '../../runtime/clock.js';
import { holdUntilExit } from '../../runtime/exit-cleanup.js';
import {
  type LockOwner,
  type ProcessIdentity,
  processIdentity,
  provablyDead,
} from '../../runtime/identity.js';
import type { Logger } from '../../runtime/logger.js';
import { formatDuration } from '../../util/duration.js';
import { redisKeys } from '../keys.js';
import type { AcquireOptions, Lock, Locker, LockHolder, LockLoss } from '../types.js';

/** GET + PEXPIRE only when the value is still our token. Returns 1 when extended. */
export const EXTEND_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/** GET + DEL only when the value is still our token. Returns 1 when released. */
export const RELEASE_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/** GET and PTTL in one round trip: `{value or nil, pttl}`. */
export const INSPECT_LOCK_SCRIPT = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";

/** SET to our token (with the lock's lifetime) only when the value is still the dead holder's. Returns 1 when set. */
export const TAKEOVER_SCRIPT =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";

/**
 * PEXPIRE only when the key has no time to live (PTTL -1). Returns 1 when a lifetime was given. A lock
 * without one (not cert-renew's: set by hand, or by a tool that copied keys without their TTL) would
 * otherwise block its certificate for ever.
 */
export const EXPIRE_IMMORTAL_SCRIPT =
  "if redis.call('PTTL', KEYS[1]) == -1 then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) else return 0 end";

/** The commands a locker needs; the Redis store provides them (connected, errors wrapped). */
export interface LockCommands {
  /** SET key value NX PX ttlMs; true when set. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** EVAL script with one key and the given arguments; the script's integer result. */
  evalOnKey(script: string, key: string, ...args: string[]): Promise<number>;
  /** GET and PTTL of the key at once (`value` null and `pttlMs` -2 when there is none). */
  inspect(key: string): Promise<{ value: string | null; pttlMs: number }>;
}

export interface RedisLockerOptions {
  keyPrefix: string;
  /** How long a lock lives without extension. */
  ttlMs: number;
  /** This host's name and this process's PID, the readable part of every token. */
  hostname: string;
  pid: number;
  /** Boot id and PID namespace of this process (read from /proc when not given), also in every token. */
  identity?: ProcessIdentity;
  clock: Clock;
  logger: Logger;
  /** Where to poll between attempts; defaults to 100–500 ms with jitter. */
  pollMs?: { min: number; max: number };
}

/**
 * The holder a lock token names: `host:pid:boot:pidns:random` (an older cert-renew wrote `host:pid:random`:
 * its boot is unknown, so it is never judged dead). Undefined for a value cert-renew did not write.
 */
export function tokenOwner(value: string): LockOwner | undefined {
  const full = /^(.+):([0-9]+):([0-9a-f-]*):([0-9]*):[0-9a-f]{16}$/.exec(value);
  if (full) {
    return { host: full[1] ?? '', pid: Number(full[2]), boot: full[3] ?? '', pidns: full[4] ?? '' };
  }
  const older = /^(.+):([0-9]+):[0-9a-f]{16}$/.exec(value);
  return older ? { host: older[1] ?? '', pid: Number(older[2]) } : undefined;
}

/** `host:pid` of a token, or (not cert-renew's) the value itself, shortened, for messages. */
export function describeToken(value: string): string {
  const owner = tokenOwner(value);
  if (owner) return `${owner.host}:${owner.pid}`;
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** A held lock; `lost` turns true when an extension found another token (or none) in the key. */
export interface RedisLock extends Lock {
  readonly token: string;
  readonly lost: boolean;
}

export class RedisLocker implements Locker {
  private readonly held = new Set<NodeJS.Timeout>();
  private readonly identity: ProcessIdentity;

  constructor(
    private readonly commands: LockCommands,
    private readonly options: RedisLockerOptions,
  ) {
    this.identity = options.identity ?? processIdentity();
  }

  /**
   * Tries at once, then polls with jitter until `waitMs` has passed (by the clock or by time slept). A
   * provably dead holder's lock is taken over at once (warned); waiting for a live (or another host's)
   * holder is logged once per holder at debug level (`-v`), with when its lock expires.
   */
  async acquire(name: string, { waitMs, signal }: AcquireOptions): Promise<RedisLock | undefined> {
    const { hostname, pid, ttlMs, logger, clock } = this.options;
    const key = redisKeys.lock(this.options.keyPrefix, name);
    const { bootId, pidNamespace } = this.identity;
    const token = `${hostname}:${pid}:${bootId}:${pidNamespace}:${randomBytes(8).toString('hex')}`;
    const deadline = clock.now().getTime() + waitMs;
    const poll = this.options.pollMs ?? { min: 100, max: 500 };
    let slept = 0;
    let waitingFor: string | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const setSentAt = clock.now().getTime();
      if (await this.commands.setIfAbsent(key, token, ttlMs)) return this.hold(name, key, token, setSentAt);
      const seen = await this.commands.inspect(key);
      if (seen.value === null) continue; // expired or released meanwhile: try again at once
      if (
        seen.pttlMs === -1 &&
        (await this.commands.evalOnKey(EXPIRE_IMMORTAL_SCRIPT, key, String(ttlMs))) === 1
      ) {
        logger.warn(
          `the lock for certificate "${name}" (${key}) had no expiry (not set by cert-renew?): it now expires after lockTimeout, ${formatDuration(ttlMs)}, unless its holder releases it`,
        );
        seen.pttlMs = ttlMs;
      }
      const owner = tokenOwner(seen.value);
      if (provablyDead(owner, hostname, this.identity)) {
        const takeoverSentAt = clock.now().getTime();
        if ((await this.commands.evalOnKey(TAKEOVER_SCRIPT, key, seen.value, token, String(ttlMs))) === 1) {
          logger.warn(
            `certificate "${name}": took over the lock ${key} of ${describeToken(seen.value)}, a process of this host that no longer exists`,
          );
          return this.hold(name, key, token, takeoverSentAt);
        }
        continue; // changed meanwhile: look again
      }
      if (waitingFor !== seen.value) {
        waitingFor = seen.value;
        logger.debug(
          `certificate "${name}": waiting for the lock ${key} of ${describeToken(seen.value)}${expiry(clock, seen.pttlMs)}`,
        );
      }
      const left = Math.min(waitMs - slept, deadline - this.options.clock.now().getTime());
      if (left <= 0) return undefined;
      const delay = Math.min(left, poll.min + Math.floor(Math.random() * (poll.max - poll.min)));
      await sleep(delay, undefined, signal ? { signal } : undefined);
      slept += delay;
    }
  }

  /** Who holds the lock of `name` and when it expires; undefined when nobody does or Redis cannot be asked. */
  async holder(name: string): Promise<LockHolder | undefined> {
    try {
      const seen = await this.commands.inspect(redisKeys.lock(this.options.keyPrefix, name));
      if (seen.value === null) return undefined;
      const holder: LockHolder = { owner: describeToken(seen.value) };
      if (seen.pttlMs >= 0) holder.expiresAt = new Date(this.options.clock.now().getTime() + seen.pttlMs);
      return holder;
    } catch {
      return undefined;
    }
  }

  /**
   * How a lock whose key no longer holds `token` was lost: `taken` when another token is there. `vanished`
   * (with `taken`: `early`) when our last extension was sent less than 90 % of lockTimeout ago — the key
   * still had time left, so it did not expire: it was deleted, or lost in a failover (Redis replicates
   * asynchronously). `lastSentAt` is when the last successful SET or extension was sent (clock, ms).
   */
  private async lossOf(key: string, token: string, lastSentAt: number): Promise<LockLoss> {
    const early = this.options.clock.now().getTime() - lastSentAt < this.options.ttlMs * 0.9;
    try {
      const { value } = await this.commands.inspect(key);
      if (value !== null && value !== token) {
        return { kind: 'taken', by: describeToken(value), ...(early ? { early: true } : {}) };
      }
    } catch {
      // Redis cannot be asked: what is certain is that ours is gone
    }
    return early ? { kind: 'vanished' } : { kind: 'expired' };
  }

  /** Stops every extension timer (the store is closing); the locks then expire unless released. */
  stopAll(): void {
    for (const timer of this.held) clearInterval(timer);
    this.held.clear();
  }

  private hold(name: string, key: string, token: string, setSentAt: number): RedisLock {
    const { ttlMs, logger } = this.options;
    let lost = false;
    let released = false;
    let lastExtended = performance.now();
    /** When the last SET or extension that succeeded was sent: the key lives at least lockTimeout from then. */
    let lastSentAt = setSentAt;
    const compareAndExtend = async () => {
      const sentAt = this.options.clock.now().getTime();
      const ok = (await this.commands.evalOnKey(EXTEND_SCRIPT, key, token, String(ttlMs))) === 1;
      if (ok) lastSentAt = sentAt;
      return ok;
    };
    let inFlight: Promise<void> | undefined;
    /** Why the extensions since the last one that succeeded failed (Redis unreachable), if they did. */
    let unreachable: string | undefined;
    const extendOnce = async () => {
      if (lost || released) return;
      const gap = performance.now() - lastExtended;
      if (gap > ttlMs / 2) {
        logger.warn(
          unreachable === undefined
            ? `the lock for certificate "${name}" was extended late (${Math.round(gap)} ms after the last extension, lockTimeout ${ttlMs} ms): the machine or Redis is busy; a longer lockTimeout is safer`
            : `the lock for certificate "${name}" has not been extended for ${Math.round(gap)} ms (lockTimeout ${ttlMs} ms): Redis cannot be reached (${unreachable})`,
        );
      }
      try {
        if (await compareAndExtend()) {
          lastExtended = performance.now();
          unreachable = undefined;
        } else if (!released) {
          lost = true;
          stop();
          const loss = await this.lossOf(key, token, lastSentAt);
          const took = loss.kind === 'taken' ? ` and ${loss.by} took it` : '';
          logger.warn(
            loss.kind === 'vanished' || (loss.kind === 'taken' && loss.early)
              ? `the lock ${key} for certificate "${name}" was lost: the key disappeared ${formatDuration(this.options.clock.now().getTime() - lastSentAt)} after it was last extended, well within lockTimeout (${formatDuration(ttlMs)})${took}: it was deleted, or lost in a Redis failover (replication is asynchronous)`
              : `the lock ${key} for certificate "${name}" was lost: it expired${took} (not extended within lockTimeout, ${formatDuration(ttlMs)}: ${unreachable === undefined ? 'the machine or Redis was too slow; a longer lockTimeout is safer' : `Redis could not be reached (${unreachable})`})`,
          );
        }
      } catch (error) {
        // Redis unreachable for a moment: the lock still has time left; the next tick (or phase) tries again.
        unreachable = describeError(error);
        logger.debug(`extending the lock for certificate "${name}" failed: ${unreachable}`);
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
      stillHeld: async () => !lost && !released && (await compareAndExtend()),
      lostHow: () => this.lossOf(key, token, lastSentAt),
      release: async () => {
        if (released) return;
        released = true;
        stop();
        try {
          await this.commands.evalOnKey(RELEASE_SCRIPT, key, token);
        } catch (error) {
          // Never throws: the lock expires on its own after ttl.
          logger.warn(
            `certificate "${name}": cannot release the lock ${key} (${describeError(error)}); it is left behind: another host waits for it until it expires, within lockTimeout (${formatDuration(ttlMs)}); a run on this host takes it over once this process has exited`,
          );
        }
      },
    };
    // A second SIGINT/SIGTERM releases it from the exit path (runtime/exit-cleanup.ts).
    forget = holdUntilExit({ what: `Redis lock ${key}`, release: () => lock.release() });
    return lock;
  }
}

/** ` (it expires at …, in …, unless its holder extends it)` for a PTTL in ms (` (it has no expiry)` below 0). */
function expiry(clock: Clock, pttlMs: number): string {
  if (pttlMs < 0) return ' (it has no expiry)';
  const at = new Date(clock.now().getTime() + pttlMs).toISOString();
  return ` (it expires at ${at}, in ${formatDuration(pttlMs)}, unless its holder extends it)`;
}
