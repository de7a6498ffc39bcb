import type { Issuer } from '../issuers/types.js';
import type { Env } from '../manifest/secrets.js';
import type { IssuerConfig, SecretRef, StoreConfig } from '../manifest/types.js';
import type { Store } from '../stores/types.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { ProcessRunner } from './process.js';

/**
 * What issuers and stores get from the outside world. Built once per command by the entry point; nothing
 * below it reads `process` or the real clock.
 */
export interface RuntimeContext {
  clock: Clock;
  logger: Logger;
  env: Env;
  /** Directory of the manifest: relative paths in it are resolved against this. */
  baseDir: string;
  hostname: string;
  pid: number;
  readSecret(ref: SecretRef): Promise<string>;
  /** Opens (once) the named store of the manifest. Issuers use it for challenge stores. */
  getStore(name: string): Promise<Store>;
  /**
   * `run --new-local-ca`: a local-ca issuer whose CA is gone while certificates it issued are stored
   * creates a new CA instead of refusing (docs/issuers.md "When the local CA is gone").
   */
  newLocalCa?: boolean;
  /**
   * The command may write what its store reads learned (a filesystem store's load cache, docs/stores.md):
   * `run`, not `plan`, `status` or `run --dry-run`, which promise to write nothing.
   */
  keepLoadCache?: boolean;
  /** Runs other programs (hooks, dns-01 exec); the real runner (src/runtime/process.ts) when absent. */
  runProcess?: ProcessRunner;
}

export type StoreFactory = (name: string, config: StoreConfig, context: RuntimeContext) => Promise<Store>;
export type IssuerFactory = (name: string, config: IssuerConfig, context: RuntimeContext) => Promise<Issuer>;
