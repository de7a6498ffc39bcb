/**
 * http-01 through files a web server serves. Two ways to say where:
 *
 * - `webroot` is the web server's document root, as in certbot (`-w`), lego (`--http.webroot`) and
 *   acme.sh (`-w`): the token goes to `<webroot>/.well-known/acme-challenge/<token>` (the two directories
 *   are created when missing and left in place afterwards).
 * - `challengeDirectory` is the directory served AT `/.well-known/acme-challenge/` (an NGINX `alias`, often
 *   shared over NFS): the token goes directly to `<challengeDirectory>/<token>`.
 *
 * Written to a temporary name and renamed, so the server never serves half a file; removed afterwards
 * whatever happened.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import { mkdirp } from '../../../util/mkdirp.js';
import type { ChallengeSolver, ChallengeTask, SolverContext } from './types.js';

/** ACME tokens are base64url; anything else must not become a path. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Where http-01 tokens live under a document root (RFC 8555 §8.3). */
export const ACME_CHALLENGE_PATH = ['.well-known', 'acme-challenge'] as const;

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export class WebrootSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  readonly description: string;
  readonly failureHint: string;
  /** The directory named in the manifest (resolved against the manifest's directory). */
  readonly root: string;
  /** Where the token files go. */
  readonly dir: string;
  private readonly setting: 'webroot' | 'challengeDirectory';

  /**
   * @param directory the manifest's `webroot` (a document root) or `challengeDirectory` (served at
   *   `/.well-known/acme-challenge/`), relative paths against the manifest's directory.
   */
  constructor(
    directory: string,
    private readonly context: SolverContext,
    setting: 'webroot' | 'challengeDirectory' = 'webroot',
  ) {
    this.setting = setting;
    this.root = resolve(context.baseDir, directory);
    this.dir = setting === 'webroot' ? join(this.root, ...ACME_CHALLENGE_PATH) : this.root;
    if (setting === 'webroot') {
      this.description = `http-01 webroot ${this.root}`;
      this.failureHint = `make sure the web server serves the document root ${this.root} for http://<domain>/.well-known/acme-challenge/ (tokens go to ${this.dir})`;
    } else {
      this.description = `http-01 challengeDirectory ${this.root}`;
      this.failureHint = `make sure http://<domain>/.well-known/acme-challenge/ serves the files of ${this.root}`;
    }
  }

  async present(task: ChallengeTask): Promise<void> {
    if (!TOKEN.test(task.token)) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `the CA sent an unsafe http-01 token for ${task.identifier}`,
      );
    }
    const temporary = join(this.dir, `.${task.token}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await mkdirp(this.dir);
      await writeFile(temporary, task.value, { mode: 0o644 });
      await rename(temporary, join(this.dir, task.token));
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => {});
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `cannot write the http-01 token for ${task.identifier} into ${this.dir} (${this.setting} ${this.root}; ${code})`,
        { cause: error, hint: `check that the ${this.setting} exists and cert-renew may write to it` },
      );
    }
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    if (!TOKEN.test(task.token)) return;
    try {
      await rm(join(this.dir, task.token), { force: true });
    } catch (error) {
      this.context.logger.warn(
        `issuer ${this.context.issuerName}: cannot remove the http-01 token file from ${this.dir}: ${(error as Error).message}`,
      );
    }
  }

  /** Dry run: the directory exists and the deepest existing directory on the token path is writable. */
  async check(): Promise<string> {
    if (!(await isDirectory(this.root))) {
      throw new CertRenewError(ErrorCode.challengeFailed, `${this.setting} ${this.root} is not a directory`, {
        hint:
          this.setting === 'webroot'
            ? "create it, or name the web server's document root"
            : 'create it and have the web server serve it at /.well-known/acme-challenge/',
      });
    }
    // Probe where the token would be written, or where its missing directories would be created.
    let target = this.root;
    if (this.setting === 'webroot') {
      for (const candidate of [this.dir, join(this.root, ACME_CHALLENGE_PATH[0])]) {
        if (await isDirectory(candidate)) {
          target = candidate;
          break;
        }
      }
    }
    const probe = join(target, `.cert-renew-probe-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(probe, 'probe', { mode: 0o644 });
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `${this.setting} ${this.root}: ${target} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error, hint: 'let the user running cert-renew write there' },
      );
    } finally {
      await rm(probe, { force: true }).catch(() => {});
    }
    return `${this.description} is writable`;
  }
}
