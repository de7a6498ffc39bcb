/**
 * Who this process is, beyond host name and PID: containers that share a host name (`docker --network
 * host`, Kubernetes `hostNetwork` pods on one node) can have the same PID in different PID namespaces, and a
 * host that rebooted reuses PIDs. A lock owner is "provably dead" only when its boot id and PID namespace
 * are ours and no process has its PID.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export interface ProcessIdentity {
  /** `/proc/sys/kernel/random/boot_id` (a UUID that changes at every boot); '' where unknown. */
  bootId: string;
  /** The inode of the PID namespace (`pid:[4026531836]` → '4026531836'); '' where unknown. */
  pidNamespace: string;
}

let cached: ProcessIdentity | undefined;

/** This process's identity, read once from /proc (empty strings off Linux or without /proc). */
export function processIdentity(): ProcessIdentity {
  if (cached) return cached;
  let bootId = '';
  let pidNamespace = '';
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux, or no /proc
  }
  try {
    pidNamespace = /\[([0-9]+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '';
  } catch {
    // not Linux, or no /proc
  }
  cached = { bootId, pidNamespace };
  return cached;
}

/** Who holds a lock, as the lock records it (a filesystem lock file, a Redis lock token). */
export interface LockOwner {
  host: string;
  pid: number;
  /** The owner's boot id; '' or absent where unknown (an older cert-renew wrote the lock). */
  boot?: string;
  /** The inode of the owner's PID namespace; '' or absent where unknown. */
  pidns?: string;
}

/**
 * Whether a process with this PID exists here (signal 0: EPERM means it exists but is another user's). An
 * invalid PID counts as existing, so it is never judged dead.
 */
export function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException | undefined)?.code !== 'ESRCH';
  }
}

/**
 * Whether `owner` is provably dead: a process of this very host (`hostname`), boot and PID namespace
 * (`self`) that no longer exists. A PID reused since is a live process, so it only ever delays (the lock
 * then expires as usual); an owner from before a reboot, from another PID namespace (containers sharing a
 * host name) or of unknown boot or namespace is never judged by its PID.
 */
export function provablyDead(
  owner: LockOwner | undefined,
  hostname: string,
  self: ProcessIdentity = processIdentity(),
): boolean {
  return (
    owner !== undefined &&
    owner.host === hostname &&
    self.bootId !== '' &&
    self.pidNamespace !== '' &&
    owner.boot === self.bootId &&
    owner.pidns === self.pidNamespace &&
    !processExists(owner.pid)
  );
}
