/**
 * What a filesystem store remembers of the versions it has read and checked, so that a plan of thousands of
 * certificates that have not changed asks the filesystem 7 questions a certificate instead of 24, and parses
 * no PEM (docs/performance.md, thirteenth round; docs/stores.md, "The load cache").
 *
 * A certificate is remembered when a full read (read.ts `loadOne`) found it `present`, served through the
 * links cert-renew made, with metadata that names it and a key that matches it (x509/fast.ts
 * `inspectWithMeta`): its version id, what that check found, and the identity of what was read — the
 * certificate directory's and the version directory's inode and ctime, and each of the five version files'
 * inode, size and ctime. The next load takes those facts when an `lstat` of each of the seven gives the same
 * identity. That is enough because:
 * - every change to a directory's entries (a link replaced, `current` switched, attempts.json written or
 *   removed, `versions` renamed) changes that directory's ctime, and a symbolic link's target cannot be
 *   changed in place: an unchanged certificate directory means `current`, the stable names and the absence
 *   of attempts.json and revocations.json are as they were;
 * - any change to a file's contents, mode or owner changes its ctime, which no call can set back; a file
 *   replaced is another inode;
 * - a version directory replaced (even by a link to the same one moved away) is another inode or type.
 *
 * What could make the identity lie is a change within one tick of the filesystem's clock after the read
 * ("racily clean", as git calls it): an entry is only remembered when every ctime it records is older than
 * RACY_MS before its read began, and only on local filesystems whose timestamps are the kernel's own
 * (CACHEABLE_FILESYSTEMS; not NFS, whose clients cache attributes, nor FUSE). The texts are not remembered:
 * a certificate read from the cache reads its PEM files when something asks for them, and refuses them if
 * they are no longer the files it was checked with (`lazyCertificate`).
 *
 * The cache is one file, `<store>/.cert-renew/load-cache.json` (a header line, then a line per entry),
 * learned and written only by a command that may change the store (`run`: RuntimeContext.keepLoadCache),
 * atomically and best effort, when the plan's reads are done (`readsDone`) or the store is closed. It is
 * used only from a file the reader owns, by a reader with the credentials it was written with (uid, gid,
 * groups, capabilities, user namespace: `credentials`), in the boot it was written in, for the same stable
 * file names and cert-renew version. Losing it costs one full read.
 */
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import { temporaryUntilExit } from '../../runtime/exit-cleanup.js';
import { processExists } from '../../runtime/identity.js';
import { statfsPath } from '../../util/fs-async.js';
import { mkdirp } from '../../util/mkdirp.js';
import { packageVersion } from '../../util/version.js';
import { inspectWithMeta, rememberInspection } from '../../x509/fast.js';
import type { CertInfo } from '../../x509/inspect.js';
import {
  CERT_NAME_PATTERN,
  childPath,
  currentTarget,
  INTERNAL_DIR,
  LEGACY_ID,
  VERSION_FILES,
  VERSIONS,
} from '../keys.js';
import type { LoadResult, StoredCertificate, StoredMeta } from '../types.js';
import { type FilesystemSettings, stableName } from './config.js';
import { errnoOf, isErrno, READ_NOFOLLOW, refused, syncIo } from './fs-util.js';
import { isStoredMeta, loadOne } from './read.js';

/** The cache's file, in the store's own directory. */
export const LOAD_CACHE_FILE = 'load-cache.json';

/**
 * How much older than the start of its read (ms) every ctime an entry records must be. A change made after
 * the read began has a ctime at least the read's start minus one tick of the filesystem's clock (a jiffy on
 * Linux, a whole second on filesystems with second timestamps); 2 s covers both.
 */
export const RACY_MS = 2000;

/**
 * statfs magic numbers (linux/magic.h) of local filesystems whose timestamps the kernel sets: ext2/3/4,
 * XFS, Btrfs, tmpfs, overlayfs, ZFS, F2FS. Anywhere else the cache is not used.
 */
const CACHEABLE_FILESYSTEMS = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0x2fc12fc1, 0xf2f52010,
]);

/** Bumped when what an entry holds, or how it is read, changes. */
const FORMAT = 1;

/** The version files whose identity an entry records, in this order. */
const FILES = [
  VERSION_FILES.cert,
  VERSION_FILES.chain,
  VERSION_FILES.fullchain,
  VERSION_FILES.privkey,
  VERSION_FILES.meta,
] as const;

/**
 * Where each field is in an entry. An entry is an array, small numbers where it can (10,000 of them are
 * parsed at every plan, and kept while it runs):
 * [name, dirIno, dirCtimeMs, versionId, versionIno, versionCtimeMs, 5 × (ino − versionIno, size,
 * ctimeMs − versionCtimeMs), flags, meta, facts]. Differences of ctimes are exact (Sterbenz: two doubles
 * within a factor of 2), so comparing them compares the ctimes. flags: ATTEMPTS_PRESENT,
 * REVOCATIONS_PRESENT. facts: 0 when the inspection's facts are the metadata's (`derivedFacts`), else
 * [serial, notBeforeMs, notAfterMs, dnsNames, ipAddresses, keyType].
 */
const AT = { name: 0, dir: 1, id: 3, version: 4, files: 6, flags: 21, meta: 22, facts: 23 } as const;
const ATTEMPTS_PRESENT = 1;
const REVOCATIONS_PRESENT = 2;

/** The file's first line. Each further line is one entry (AT). */
interface CacheHeader {
  format: number;
  version: string;
  /**
   * Who read: the effective uid and gid, the supplementary groups, the effective capabilities and the user
   * namespace (`credentials`). What a reader may open changes with any of them and with no ctime, so an entry only
   * vouches for readers with the same.
   */
  reader: string;
  /**
   * The kernel's boot id: a cache is not used across a reboot, so a crash that kept a file's new contents
   * but not its new ctime (timestamps written back lazily) cannot make an entry look current.
   */
  boot: string;
  /** The stable file names (`files`): an entry vouches for links made with these. */
  files: string[];
}

/** What loadMany needs of the cache; see the module's comment. */
export class LoadCache {
  /** Names whose entry a load took or made in this process (their revocations.json is known absent). */
  private readonly confirmed = new Set<string>();
  private dirty = false;

  private constructor(
    private readonly settings: FilesystemSettings,
    private readonly path: string,
    private readonly header: CacheHeader,
    private readonly entries: Map<string, unknown[]>,
    /** Whether this user may write the cache (else nothing is learned: the work would be lost). */
    private readonly writable: boolean,
  ) {}

  /**
   * The store's cache, read from its file (empty when there is none, or it was written by another user,
   * another version or for other file names); undefined when the store is not on a filesystem where one may
   * be used, or when this user can neither use the cache there nor write one. Never throws.
   */
  static async open(settings: FilesystemSettings): Promise<LoadCache | undefined> {
    const { layout } = settings;
    try {
      const info = await statfsPath(layout.root);
      if (!CACHEABLE_FILESYSTEMS.has(Number(info.type))) return undefined;
    } catch {
      return undefined;
    }
    const internal = childPath(layout.root, INTERNAL_DIR);
    const path = childPath(internal, LOAD_CACHE_FILE);
    const header: CacheHeader = {
      format: FORMAT,
      version: packageVersion(),
      reader: credentials(),
      boot: bootId(),
      files: (['cert', 'chain', 'fullchain', 'privkey'] as const).map((kind) => stableName(settings, kind)),
    };
    const entries = new Map<string, unknown[]>();
    const expected = JSON.stringify(header);
    try {
      // The store's own directory must be a real one, and the file a regular file (O_NOFOLLOW).
      if (lstatSync(internal).isDirectory()) {
        let first = true;
        readLines(path, (line) => {
          if (first) {
            first = false;
            return line === expected;
          }
          const entry = JSON.parse(line) as unknown;
          if (wellFormed(entry)) entries.set(entry[AT.name] as string, entry);
          return true;
        });
      }
    } catch (error) {
      entries.clear();
      if (!isErrno(error, 'ENOENT')) {
        settings.context.logger.debug(
          `store ${settings.storeName}: load cache not read (${describeError(error)})`,
        );
      }
    }
    // Learned and written only by a command that may change the store (`run`, not plan, status or a dry
    // run: they promise to write nothing), in .cert-renew or, before it exists, the store's directory.
    let writable = settings.context.keepLoadCache === true;
    try {
      if (writable) accessSync(existsSync(internal) ? internal : layout.root, constants.W_OK);
    } catch {
      writable = false;
    }
    // A cache this user can neither use nor write is no cache (a monitoring user's `status`).
    if (!writable && entries.size === 0) return undefined;
    return new LoadCache(settings, path, header, entries, writable);
  }

  /** Whether `name` has an entry (loadMany lists the store's directory only for names that have none). */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The certificate from its entry, when an lstat of its directory, its version directory and the five
   * version files gives the identity recorded (attempts.json, when it was there, is read again); else
   * undefined, and the caller reads it in full and hands the result to `learn`. Never throws.
   */
  take(name: string, readAttempts: (path: string) => LoadResult['attempts']): LoadResult | undefined {
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    try {
      const dir = this.settings.layout.certDir(name);
      const id = entry[AT.id];
      if (typeof id !== 'string' || !sameDir(lstatSync(dir, NO_THROW), entry, AT.dir)) return undefined;
      const versionDir = childPath(childPath(dir, VERSIONS), id);
      if (!sameDir(lstatSync(versionDir, NO_THROW), entry, AT.version)) return undefined;
      for (let i = 0; i < FILES.length; i++) {
        if (!sameFile(lstatSync(childPath(versionDir, FILES[i] as string), NO_THROW), entry, i))
          return undefined;
      }
      const meta = entry[AT.meta] as StoredMeta;
      const cert = lazyCertificate(this.settings, name, versionDir, entry, meta);
      rememberInspection(cert, factsOf(entry, meta));
      this.confirmed.add(name);
      const attempts =
        ((entry[AT.flags] as number) & ATTEMPTS_PRESENT) !== 0
          ? readAttempts(this.settings.layout.attempts(name))
          : undefined;
      return attempts ? { state: 'present', cert, attempts } : { state: 'present', cert };
    } catch {
      return undefined;
    }
  }

  /**
   * Remembers what a full read of `name` found, begun at `startedAt` (ms since the epoch, the real clock):
   * when it is a present version served through cert-renew's links whose metadata names it and whose key
   * matches, and nothing recorded changed within RACY_MS of the read; otherwise forgets the name. The
   * check's result is kept for the policy (`rememberInspection`), so it is not made twice. Never throws.
   */
  learn(name: string, result: LoadResult, startedAt: number): void {
    if (!this.writable) return;
    const entry = this.entryFor(name, result, startedAt);
    if (entry) {
      this.entries.set(name, entry);
      this.confirmed.add(name);
      this.dirty = true;
    } else {
      this.confirmed.delete(name);
      if (this.entries.delete(name)) this.dirty = true;
    }
  }

  private entryFor(name: string, result: LoadResult, startedAt: number): unknown[] | undefined {
    if (result.state !== 'present' || result.replaced || !result.cert.meta) return undefined;
    const inspected = inspectWithMeta(result.cert);
    if (!inspected) return undefined;
    rememberInspection(result.cert, inspected);
    try {
      const { layout } = this.settings;
      const dir = layout.certDir(name);
      const target = readlinkSync(childPath(dir, 'current'));
      const id = target.slice(VERSIONS_PREFIX.length);
      // Only what cert-renew writes (`versions/<id>`), and not the copy of plain files (read as they are).
      if (!target.startsWith(VERSIONS_PREFIX) || !VERSION_ID.test(id) || id === LEGACY_ID) return undefined;
      const versionDir = childPath(childPath(dir, VERSIONS), id);
      const before = startedAt - RACY_MS;
      const old = (info: Stats | undefined) => info !== undefined && info.ctimeMs < before;
      const dirInfo = lstatSync(dir, NO_THROW);
      const versionInfo = lstatSync(versionDir, NO_THROW);
      if (!old(dirInfo) || !dirInfo?.isDirectory() || !old(versionInfo) || !versionInfo?.isDirectory())
        return undefined;
      const entry: unknown[] = [name, dirInfo.ino, dirInfo.ctimeMs, id, versionInfo.ino, versionInfo.ctimeMs];
      for (const file of FILES) {
        const info = lstatSync(childPath(versionDir, file), NO_THROW);
        if (!old(info) || !info?.isFile()) return undefined;
        entry.push(info.ino - versionInfo.ino, info.size, info.ctimeMs - versionInfo.ctimeMs);
      }
      // Present or absent, as the certificate directory's ctime (older than the read) vouches.
      const attempts = lstatSync(layout.attempts(name), NO_THROW) !== undefined;
      const revocations = lstatSync(layout.revocations(name), NO_THROW) !== undefined;
      const meta = result.cert.meta;
      const { cert } = inspected;
      const facts = factsTuple(cert);
      const derivable = JSON.stringify(facts) === JSON.stringify(derivedFacts(meta));
      const flags = (attempts ? ATTEMPTS_PRESENT : 0) | (revocations ? REVOCATIONS_PRESENT : 0);
      entry.push(flags, meta, derivable ? 0 : facts);
      return entry;
    } catch {
      return undefined;
    }
  }

  /**
   * Whether `name`'s revocations.json is known to be absent: its entry, taken or made by this process, says
   * there was none (its creation changes the certificate directory that taking an entry checks).
   */
  knowsUnrevoked(name: string): boolean {
    const entry = this.entries.get(name);
    return (
      this.confirmed.has(name) &&
      entry !== undefined &&
      ((entry[AT.flags] as number) & REVOCATIONS_PRESENT) === 0
    );
  }

  /**
   * Writes the cache when a load changed it (atomically; the store's directory made as putBlob makes it).
   * A failure (a read-only store, another user's) is logged at debug level: it only costs the next run a
   * full read. Never throws.
   */
  async persist(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const { layout } = this.settings;
    const internal = childPath(layout.root, INTERNAL_DIR);
    // Entries of certificates this process did not read whose directory is gone (pruned, renamed, a name
    // no manifest has any more) are dropped; the others are kept for the manifests that read them.
    try {
      for (const name of this.entries.keys()) {
        if (!this.confirmed.has(name) && lstatSync(layout.certDir(name), NO_THROW) === undefined)
          this.entries.delete(name);
      }
      await mkdirp(internal, 0o755);
      removeLeftovers(internal);
      writeLines(this.path, JSON.stringify(this.header), this.entries);
    } catch (error) {
      this.settings.context.logger.debug(
        `store ${this.settings.storeName}: load cache not written (${errnoOf(error) ?? describeError(error)})`,
      );
    }
  }
}

/** Bytes read or written at a time: the file of 10,000 entries (~5 MB) is never held whole. */
const CHUNK = 64 * 1024;

/**
 * The longest line read (bytes): an entry is ~0.5 kB, ~50 kB for a certificate of 1,000 names. Anything
 * longer is a damaged file, refused at once (a file of zeros was read to its end, joined chunk by chunk).
 */
const MAX_LINE = 1024 * 1024;

/**
 * Calls `take` with each line of a regular file (never through a link), read CHUNK bytes at a time, until
 * it returns false. Throws node's errors, and EINVAL for a file that is not a regular one.
 */
function readLines(path: string, take: (line: string) => boolean): void {
  const fd = openSync(path, READ_NOFOLLOW);
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw refused('EINVAL', path);
    // Only a file this user owns: one another user wrote (who could write .cert-renew) vouches for nothing.
    if (info.uid !== (process.geteuid?.() ?? info.uid)) throw refused('EPERM', path);
    const chunk = Buffer.allocUnsafe(CHUNK);
    // The start of a line whose end is in a later chunk (a line's bytes may span chunks; a newline byte is
    // never part of a UTF-8 sequence), in pieces: joined once, when its end is found.
    let pieces: Buffer[] = [];
    let pending = 0;
    for (;;) {
      const length = readSync(fd, chunk, 0, CHUNK, null);
      if (length === 0) return;
      let start = 0;
      for (let end = chunk.indexOf(10, 0); end !== -1 && end < length; end = chunk.indexOf(10, start)) {
        const line =
          pending === 0
            ? chunk.toString('utf8', start, end)
            : Buffer.concat([...pieces, chunk.subarray(start, end)]).toString('utf8');
        pieces = [];
        pending = 0;
        if (!take(line)) return;
        start = end + 1;
      }
      if (start < length) {
        pending += length - start;
        // No line cert-renew writes is this long: a damaged file, dropped without reading on.
        if (pending > MAX_LINE) throw refused('EFBIG', path);
        pieces.push(Buffer.from(chunk.subarray(start, length)));
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** `<file>.<pid>.tmp`: where a write of the cache by process `pid` is made before it is renamed. */
const TEMP = new RegExp(`^${LOAD_CACHE_FILE.replaceAll('.', '\\.')}\\.([0-9]+)\\.tmp$`);

/**
 * Removes what writes of the cache by processes that no longer exist left in `dir` (a run killed while it
 * wrote). Never throws.
 */
function removeLeftovers(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      const pid = Number(TEMP.exec(name)?.[1]);
      if (!pid || pid === process.pid || processExists(pid)) continue;
      rmSync(childPath(dir, name), { force: true });
    }
  } catch {
    // nothing to clean, or not allowed: the next write tries again
  }
}

/**
 * Replaces `path` with the header and one line per entry, written CHUNK bytes at a time to a new file beside
 * it, flushed, then renamed over it (readers see the old file or the new). Throws node's errors; leaves no
 * temporary file.
 */
function writeLines(path: string, header: string, entries: ReadonlyMap<string, unknown[]>): void {
  const temp = `${path}.${process.pid}.tmp`;
  const forget = temporaryUntilExit(temp);
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  let done = false;
  try {
    let pending = `${header}\n`;
    for (const entry of entries.values()) {
      pending += `${JSON.stringify(entry)}\n`;
      if (pending.length >= CHUNK) {
        writeSync(fd, pending);
        pending = '';
      }
    }
    writeSync(fd, pending);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
    done = true;
    forget();
  } finally {
    if (!done) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
      rmSync(temp, { force: true });
      forget();
    }
  }
}

const NO_THROW = { throwIfNoEntry: false } as const;

/** `current`'s target as cert-renew writes it starts so (keys.ts `currentTarget`). */
const VERSIONS_PREFIX = currentTarget('');
/** A version id as one plain name. */
const VERSION_ID = /^[0-9A-Za-z][0-9A-Za-z._-]*$/;

/** Whether a line of the file is an entry as `entryFor` makes them (anything else is skipped). */
function wellFormed(entry: unknown): entry is unknown[] {
  if (!Array.isArray(entry) || entry.length !== AT.facts + 1) return false;
  const facts = entry[AT.facts];
  return (
    typeof entry[AT.name] === 'string' &&
    CERT_NAME_PATTERN.test(entry[AT.name]) &&
    typeof entry[AT.id] === 'string' &&
    VERSION_ID.test(entry[AT.id]) &&
    entry.slice(AT.dir, AT.meta).every((field, i) => i === AT.id - AT.dir || typeof field === 'number') &&
    isStoredMeta(entry[AT.meta]) &&
    (facts === 0 ||
      (Array.isArray(facts) &&
        facts.length === 6 &&
        typeof facts[0] === 'string' &&
        typeof facts[1] === 'number' &&
        typeof facts[2] === 'number' &&
        Array.isArray(facts[3]) &&
        Array.isArray(facts[4]) &&
        typeof facts[5] === 'string'))
  );
}

/**
 * The reader's credentials as one string: `<euid>:<egid>:<groups, sorted>:<CapEff>:<user namespace>`
 * (the effective capability mask from /proc/self/status: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH open
 * files their mode refuses; the namespace from /proc/self/ns/user).
 */
function credentials(): string {
  let capabilities = '';
  try {
    capabilities = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? '';
  } catch {
    // no /proc: the ids alone
  }
  // Root in another user namespace (systemd's PrivateUsers=) has the same ids and capabilities, and no
  // power over files whose owner is not mapped into it.
  let namespace = '';
  try {
    namespace = readlinkSync('/proc/self/ns/user');
  } catch {
    // no /proc: none
  }
  const groups = [...(process.getgroups?.() ?? [])].sort((a, b) => a - b).join(',');
  return `${process.geteuid?.() ?? ''}:${process.getegid?.() ?? ''}:${groups}:${capabilities}:${namespace}`;
}

/** /proc/sys/kernel/random/boot_id; empty where there is none. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    return '';
  }
}

function sameDir(info: Stats | undefined, entry: unknown[], at: number): boolean {
  return info?.isDirectory() === true && info.ino === entry[at] && info.ctimeMs === entry[at + 1];
}

/** Whether `info` is the version file `index` (FILES) as `entry` recorded it. */
function sameFile(info: Stats | undefined, entry: unknown[], index: number): boolean {
  const at = AT.files + index * 3;
  return (
    info?.isFile() === true &&
    info.ino - (entry[AT.version] as number) === entry[at] &&
    info.size === entry[at + 1] &&
    info.ctimeMs - (entry[AT.version + 1] as number) === entry[at + 2]
  );
}

/** The facts a certificate's metadata implies (what an entry spares itself when they are the inspection's). */
function derivedFacts(meta: StoredMeta): unknown[] {
  return [
    meta.serial,
    Date.parse(meta.notBefore),
    Date.parse(meta.notAfter),
    meta.domains.map((domain) => domain.toLowerCase()),
    [],
    meta.keyType,
  ];
}

function factsOf(entry: unknown[], meta: StoredMeta): { cert: CertInfo; keyMatches: true } {
  const facts = (entry[AT.facts] || derivedFacts(meta)) as [
    string,
    number,
    number,
    string[],
    string[],
    CertInfo['keyType'],
  ];
  const notBefore = new Date(facts[1]);
  const notAfter = new Date(facts[2]);
  return {
    keyMatches: true,
    cert: {
      subject: '',
      issuer: '',
      serial: facts[0],
      fingerprint256: meta.fingerprint,
      notBefore,
      notAfter,
      lifetimeMs: notAfter.getTime() - notBefore.getTime(),
      dnsNames: facts[3],
      ipAddresses: facts[4],
      keyType: facts[5],
      isCA: false,
    },
  };
}

/** A regular file's text, never through a link; throws node's error, or EINVAL for anything else. */
function readRegular(path: string, expect?: (info: Stats) => boolean): string {
  const fd = openSync(path, READ_NOFOLLOW);
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || (expect && !expect(info))) throw refused('EINVAL', path);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * A StoredCertificate whose PEM texts are read when first asked for, from the version directory whose
 * files `entry` identifies. When a file is no longer the one checked (another inode, size or ctime: a
 * `touch`, a `chmod`, a rewrite), the certificate is read again in full (read.ts `loadOne`) and its texts
 * are given when it is still the certificate checked (the same facts, a key that matches); otherwise, or
 * when it cannot be read, a CertRenewError naming the file is thrown (STORE_CORRUPT: it changed during
 * this run; STORE_UNAVAILABLE: it cannot be read) and the caller's certificate fails with that line.
 */
function lazyCertificate(
  settings: FilesystemSettings,
  name: string,
  versionDir: string,
  entry: unknown[],
  meta: StoredMeta,
): StoredCertificate {
  const texts: { certPem?: string; chainPem?: string; keyPem?: string } = {};
  const read = (index: number): string => {
    const file = FILES[index] as string;
    const path = childPath(versionDir, file);
    const where = path.slice(settings.layout.root.length + 1);
    let changed = false;
    try {
      return readRegular(path, (info) => {
        changed = !sameFile(info, entry, index);
        return !changed;
      });
    } catch (error) {
      if (!changed && !isErrno(error, 'ENOENT', 'ELOOP', 'EINVAL')) {
        throw new CertRenewError(
          ErrorCode.storeUnavailable,
          `store ${settings.storeName}: cannot read ${where} (${errnoOf(error) ?? describeError(error)})`,
          { cause: error, hint: "check the store's permissions" },
        );
      }
    }
    // Changed since it was checked: the whole set again, given only when it is the same certificate.
    const again = loadOne(settings, syncIo, name) as LoadResult;
    const inspected = again.state === 'present' && !again.replaced ? inspectWithMeta(again.cert) : undefined;
    if (again.state !== 'present' || !inspected || !sameFacts(inspected.cert, factsOf(entry, meta).cert)) {
      throw new CertRenewError(
        ErrorCode.storeCorrupt,
        `store ${settings.storeName}: ${where} changed after this run read it (a version's files are never rewritten)`,
        { hint: 'run again: the next run reads the certificate anew' },
      );
    }
    // All three from that one reading: never a text of the set checked beside one of another.
    texts.certPem = again.cert.certPem;
    texts.chainPem = again.cert.chainPem;
    texts.keyPem = again.cert.keyPem;
    return [texts.certPem, texts.chainPem, '', texts.keyPem][index] as string;
  };
  return {
    get certPem() {
      texts.certPem ??= read(0);
      return texts.certPem;
    },
    get chainPem() {
      texts.chainPem ??= read(1);
      return texts.chainPem;
    },
    get keyPem() {
      texts.keyPem ??= read(3);
      return texts.keyPem;
    },
    meta,
  };
}

/** What an entry records of an inspection besides the metadata: [serial, notBeforeMs, notAfterMs, dnsNames, ipAddresses, keyType]. */
function factsTuple(cert: CertInfo): unknown[] {
  return [
    cert.serial,
    cert.notBefore.getTime(),
    cert.notAfter.getTime(),
    cert.dnsNames,
    cert.ipAddresses,
    cert.keyType,
  ];
}

/** Whether two inspections describe the same certificate and key (what an entry records, and the fingerprint). */
function sameFacts(a: CertInfo, b: CertInfo): boolean {
  const facts = (c: CertInfo) => JSON.stringify([c.fingerprint256, ...factsTuple(c)]);
  return facts(a) === facts(b);
}
