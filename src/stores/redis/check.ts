/**
 * `run --dry-run` for a Redis store: proves that this user may do what a run does, not only that a probe
 * key can be written. Under the store's key shapes, with a name no certificate can have
 * (`.cert-renew-probe:<host>:<pid>`, never matching CERT_NAME_PATTERN, so no run or `prune` sees it):
 *
 * 1. PING (an unreachable Redis or a refused login is one line, as for any command);
 * 2. a lock: `SET Plock:{probe} token NX PX 60000`, then the lock's scripts (EVAL of the extend and the
 *    release script on it);
 * 3. a save: the save's own script (EVAL, save-script.ts) on `Pcert:{probe}` and `Phistory:{probe}`, then
 *    PEXPIRE;
 * 4. a deployment record: HSET `Pdeployed:{probe}` (then PEXPIRE);
 * 5. what every run reads and records beside them: MGET of `Pcert:{probe}` and `Pattempts:{probe}` (how
 *    certificates are loaded), SET of `Pattempts:{probe}` (a failed attempt), LPUSH and LRANGE of
 *    `Prevocations:{probe}` (the revocation log), SET and GET of the blob `Prenewal-info:<probe>` (kept
 *    renewal information); each also PEXPIREd;
 * 6. SET NX and GET of the blobs `Plocal-ca:<probe>` and `Paccount:<probe>:…` (a local CA, ACME accounts),
 *    SET PX of `Pchallenge:<probe>` (http-01 answers);
 * 7. DEL of each key written, one at a time (each also expires after 60 s by itself);
 * 8. INFO replication and WAIT, with which a save is confirmed on a replica: a refusal is a warning, as
 *    at run time (saves are then not confirmed);
 * 9. SCAN of `Pcert:{*}`, with which plans and runs list the store's orphans: a refusal is a warning, as at
 *    run time (orphans are not listed, `prune` fails);
 * 10. with `announce`, PUBLISH on the channel inside MULTI … DISCARD (the server checks the ACL when it
 *    queues the command; nothing is sent to subscribers): a refusal is a warning, as at run time.
 *
 * Every refusal (an ACL's NOPERM, READONLY, OOM …) is one line naming the command and key pattern and,
 * for NOPERM, the ACL rule to add; all of them are reported at once (StoreChecksFailed).
 */
import { randomBytes } from 'node:crypto';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../runtime/logger.js';
import { accountBlobKey, localCaBlobKey, redisKeys, renewalInfoBlobKey } from '../keys.js';
import { StoreChecksFailed } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { StoreLabel } from './errors.js';
import { certKeysPattern, scanOnce } from './lifecycle.js';
import { EXTEND_SCRIPT, RELEASE_SCRIPT } from './lock.js';
import { SAVE_SCRIPT } from './save-script.js';

/** The commands the lock and save scripts call (lock.ts, save-script.ts), as ACL rules. */
const SCRIPT_COMMANDS = '+get +set +del +pexpire +pttl +type +lpush +lpop +lindex +ltrim';

/** How long each probe key lives if its DEL is lost (ms). */
const PROBE_TTL_MS = 60_000;

export interface WritableCheck {
  connection: RedisConnection;
  label: StoreLabel;
  keyPrefix: string;
  /** `announce.channel`, when announcements are configured. */
  channel: string | undefined;
  hostname: string;
  pid: number;
  logger: Logger;
}

/** The certificate-shaped name the probe keys use: starts with a dot and holds colons, so never a certificate's. */
export function probeName(hostname: string, pid: number): string {
  return `.cert-renew-probe:${hostname}:${pid}`;
}

/** The server's reply text behind a CertRenewError made by RedisConnection.run (or the error's own text). */
function replyText(error: unknown): string {
  const cause = error instanceof CertRenewError ? error.cause : error;
  return describeError(cause ?? error);
}

/**
 * Resolves "reachable and writable …" (with a note when PUBLISH is refused); rejects with the first
 * failure when Redis cannot be reached at all, or StoreChecksFailed with one error per refused step.
 */
export async function checkRedisWritable(check: WritableCheck): Promise<string> {
  const { connection, label, keyPrefix, channel, logger } = check;
  const name = probeName(check.hostname, check.pid);
  const lockKey = redisKeys.lock(keyPrefix, name);
  const certKey = redisKeys.cert(keyPrefix, name);
  const historyKey = redisKeys.history(keyPrefix, name);
  const deployedKey = redisKeys.deployed(keyPrefix, name);
  const attemptsKey = redisKeys.attempts(keyPrefix, name);
  const revocationsKey = redisKeys.revocations(keyPrefix, name);
  const renewalInfoKey = redisKeys.blob(keyPrefix, renewalInfoBlobKey(name));
  const localCaKey = redisKeys.blob(keyPrefix, localCaBlobKey(name));
  const accountKey = redisKeys.blob(keyPrefix, accountBlobKey(name, 'dry-run'));
  const challengeKey = redisKeys.challenge(keyPrefix, encodeURIComponent(name));
  /** The probe keys a step wrote (or may have): deleted one by one at the end. */
  const written = new Set<string>();
  const token = `dry-run:${check.hostname}:${check.pid}:${randomBytes(8).toString('hex')}`;

  // Unreachable, or the login refused: one line, nothing else to try.
  await connection.run('check that the store is reachable', 'read', (client) => client.ping());

  const refusals: CertRenewError[] = [];
  const allKeys = `${keyPrefix}*`;
  /** Runs one step; a refusal is recorded, a lost connection ends the check. */
  const step = async (what: string, keys: string, action: Parameters<RedisConnection['run']>[2]) => {
    try {
      await connection.run(`check that a run can ${what}`, 'write', action);
      return true;
    } catch (error) {
      const text = replyText(error);
      if (!/^[A-Z]+ /.test(text) || !(error instanceof CertRenewError)) throw error;
      refusals.push(refusal(label, what, keys, text, allKeys, error));
      return false;
    }
  };

  await step(`take a lock (SET NX PX on ${keyPrefix}lock:{…})`, `${keyPrefix}lock:*`, async (client) => {
    const reply = await client.set(lockKey, token, 'PX', PROBE_TTL_MS, 'NX');
    if (reply !== 'OK') throw new Error(`${lockKey} exists already`);
    written.add(lockKey);
  });
  // The scripts are checked even when the SET was refused: a user gets every rule to add in one go.
  await step(
    `extend and release a lock (EVAL on ${keyPrefix}lock:{…})`,
    `${keyPrefix}lock:*`,
    async (client) => {
      await client.eval(EXTEND_SCRIPT, 1, lockKey, token, String(PROBE_TTL_MS));
      await client.eval(RELEASE_SCRIPT, 1, lockKey, token);
    },
  );
  // The save's own script, twice (so it also pushes to the history), on the probe keys; they expire.
  await step(
    `save a certificate (EVAL of the save script on ${keyPrefix}cert:{…} and ${keyPrefix}history:{…})`,
    `${keyPrefix}cert:* ${keyPrefix}history:*`,
    async (client) => {
      written.add(certKey).add(historyKey);
      for (let i = 0; i < 2; i++) {
        const reply = await client.eval(SAVE_SCRIPT, 2, certKey, historyKey, 'dry run', '1');
        if (reply !== 'OK') throw new Error(`the save script answered ${JSON.stringify(reply)}`);
      }
      await client.pexpire(certKey, PROBE_TTL_MS);
      await client.pexpire(historyKey, PROBE_TTL_MS);
    },
  );
  await step(
    `record a deployment (HSET ${keyPrefix}deployed:{…})`,
    `${keyPrefix}deployed:*`,
    async (client) => {
      await client.hset(deployedKey, check.hostname, 'dry run');
      written.add(deployedKey);
      await client.pexpire(deployedKey, PROBE_TTL_MS);
    },
  );
  await step(
    `load certificates (MGET of ${keyPrefix}cert:{…} and ${keyPrefix}attempts:{…})`,
    `${keyPrefix}cert:* ${keyPrefix}attempts:*`,
    async (client) => {
      await client.mget(certKey, attemptsKey);
    },
  );
  await step(
    `record a failed attempt (SET ${keyPrefix}attempts:{…})`,
    `${keyPrefix}attempts:*`,
    async (client) => {
      await client.set(attemptsKey, 'dry run', 'PX', PROBE_TTL_MS);
      written.add(attemptsKey);
    },
  );
  await step(
    `log and read revocations (LPUSH, LRANGE ${keyPrefix}revocations:{…})`,
    `${keyPrefix}revocations:*`,
    async (client) => {
      await client.lpush(revocationsKey, 'dry run');
      written.add(revocationsKey);
      await client.pexpire(revocationsKey, PROBE_TTL_MS);
      await client.lrange(revocationsKey, 0, -1);
    },
  );
  await step(
    `keep renewal information (SET, GET ${keyPrefix}renewal-info:…)`,
    `${keyPrefix}renewal-info:*`,
    async (client) => {
      await client.set(renewalInfoKey, 'dry run', 'PX', PROBE_TTL_MS);
      written.add(renewalInfoKey);
      await client.get(renewalInfoKey);
    },
  );
  await step(
    `keep a local CA and ACME accounts (SET NX, GET ${keyPrefix}local-ca:…, ${keyPrefix}account:…)`,
    `${keyPrefix}local-ca:* ${keyPrefix}account:*`,
    async (client) => {
      for (const key of [localCaKey, accountKey]) {
        await client.set(key, 'dry run', 'PX', PROBE_TTL_MS, 'NX');
        written.add(key);
        await client.get(key);
      }
    },
  );
  await step(
    `answer http-01 challenges (SET PX ${keyPrefix}challenge:…)`,
    `${keyPrefix}challenge:*`,
    async (client) => {
      await client.set(challengeKey, 'dry run', 'PX', PROBE_TTL_MS);
      written.add(challengeKey);
    },
  );
  // What was written, one key at a time (a refusal names its key; a Cluster refuses keys of several slots
  // in one DEL). A user who may not run DEL at all is told once.
  for (const key of written) {
    const deleted = await step(`delete the keys it wrote (DEL ${key})`, key, (client) => client.del(key));
    if (!deleted && /'del' command/.test(refusals.at(-1)?.oneLine ?? '')) break;
  }

  let note = '';
  // A save asks INFO replication and WAITs for a replica; without them it is saved unconfirmed (a warning
  // at run time, as here).
  const confirms = await step(
    'confirm saves on a replica (INFO replication, WAIT)',
    '+info +wait',
    async (client) => {
      await client.call('INFO', 'replication');
      await client.call('WAIT', '0', '0');
    },
  );
  if (!confirms) {
    const refused = refusals.pop() as CertRenewError;
    logger.warn(`dry run: ${refused.oneLine}; saves would not be confirmed on a replica`);
    note = '; saves cannot be confirmed on a replica (warning)';
  }
  // Plans and runs list the store (orphans) with SCAN, per master in a Cluster (lifecycle.ts); a refusal
  // there is a warning at run time too.
  const listed = await step(
    `list the store's certificates (SCAN ${keyPrefix}cert:{*})`,
    '+scan',
    async (client) => {
      await scanOnce(client, certKeysPattern(keyPrefix));
    },
  );
  if (!listed) {
    const refused = refusals.pop() as CertRenewError;
    logger.warn(
      `dry run: ${refused.oneLine}; orphans would not be listed, prune would fail, and no local CA could be created in this store`,
    );
    note += '; the store cannot be listed (warning)';
  }
  if (channel !== undefined) {
    const published = await step(
      `announce (PUBLISH on channel "${channel}")`,
      `&${channel}`,
      async (client) => {
        // Queued, never sent: the ACL is checked when MULTI queues the command; DISCARD drops it.
        const replies = await client
          .pipeline()
          .call('MULTI')
          .call('PUBLISH', channel, 'dry run')
          .call('DISCARD')
          .exec();
        for (const [error] of replies ?? []) if (error) throw error;
      },
    );
    if (!published) {
      const refused = refusals.pop() as CertRenewError;
      logger.warn(`dry run: ${refused.oneLine}; certificates are still stored, only not announced`);
      note += `; announcing on "${channel}" is refused (warning)`;
    }
  }
  if (refusals.length > 0) throw new StoreChecksFailed(refusals);
  return `redis ${label.address}: reachable and writable${note}`;
}

/**
 * One refused step as one line: what a run could not do, the server's text, and for NOPERM the ACL rule
 * to add (`+cmd` for a command, `~pattern` for keys, `&channel` for a channel).
 */
function refusal(
  label: StoreLabel,
  what: string,
  keys: string,
  text: string,
  allKeys: string,
  error: CertRenewError,
): CertRenewError {
  const message = `redis store "${label.name}" (${label.address}): a run cannot ${what}: ${text}`;
  // A command the script calls is refused (Redis says so without NOPERM, naming no command).
  if (/can't run this command or subcommand/.test(text)) {
    return new CertRenewError(ErrorCode.storeUnavailable, message, {
      cause: error,
      hint: `the script calls a command this user may not run: add ${SCRIPT_COMMANDS} to the user's ACL (or +@all)`,
    });
  }
  if (text.startsWith('NOPERM')) {
    const command = /run the '([^']+)' command/.exec(text)?.[1];
    let hint: string;
    if (command) hint = `add +${command.split('|')[0]} to the user's ACL`;
    else if (/channel/.test(text)) hint = `add ${keys} to the user's ACL`;
    else if (keys === `${allKeys}`) hint = `add ~${allKeys} to the user's ACL`;
    else hint = `add ~${allKeys} to the user's ACL: a run writes ${keys} and the other keys under the prefix`;
    return new CertRenewError(ErrorCode.storeUnavailable, message, { cause: error, hint });
  }
  return new CertRenewError(error.code, message, {
    cause: error,
    transient: error.transient,
    ...(error.hint ? { hint: error.hint } : {}),
  });
}
