/**
 * http-01 through a webroot: `webroot` is the directory the web server serves AT
 * `/.well-known/acme-challenge/`, so the token file is written directly into it as `<webroot>/<token>`
 * (not `<webroot>/.well-known/acme-challenge/<token>`). Written to a temporary name and renamed, so the
 * server never serves half a file; removed afterwards whatever happened.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../../../errors.js';
import type { ChallengeSolver, ChallengeTask, SolverContext } from './types.js';

/** ACME tokens are base64url; anything else must not become a path. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export class WebrootSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  readonly description: string;
  readonly failureHint: string;
  readonly dir: string;

  constructor(
    webroot: string,
    private readonly context: SolverContext,
  ) {
    this.dir = resolve(context.baseDir, webroot);
    this.description = `http-01 webroot ${this.dir}`;
    this.failureHint = `make sure http://<domain>/.well-known/acme-challenge/ serves the files of ${this.dir}`;
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
      await mkdir(this.dir, { recursive: true });
      await writeFile(temporary, task.value, { mode: 0o644 });
      await rename(temporary, join(this.dir, task.token));
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => {});
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `cannot write the http-01 token for ${task.identifier} into webroot ${this.dir} (${code})`,
        { cause: error, hint: 'check that the webroot exists and cert-renew may write to it' },
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

  async check(): Promise<string> {
    let isDir = false;
    try {
      isDir = (await stat(this.dir)).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      throw new CertRenewError(ErrorCode.challengeFailed, `webroot ${this.dir} is not a directory`, {
        hint: 'create it and have the web server serve it at /.well-known/acme-challenge/',
      });
    }
    const probe = join(this.dir, `.cert-renew-probe-${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(probe, 'probe', { mode: 0o644 });
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.challengeFailed,
        `webroot ${this.dir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error, hint: 'let the user running cert-renew write there' },
      );
    } finally {
      await rm(probe, { force: true }).catch(() => {});
    }
    return `${this.description} is writable`;
  }
}
