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
