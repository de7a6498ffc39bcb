/**
 * One command's view of the world: the loaded manifest, and the stores and issuers it names, each opened
 * once and only when used. The factories come in from the entry point (tests may pass their own).
 */
import { CertRenewError, ErrorCode, UsageError } from '../errors.js';
import { createIssuer as defaultCreateIssuer } from '../issuers/registry.js';
import type { Issuer } from '../issuers/types.js';
import { formatLocated, type LoadedManifest, loadManifest } from '../manifest/load.js';
import { type Env, readSecret, rememberManifestSecrets } from '../manifest/secrets.js';
import type { ResolvedCertificate } from '../manifest/types.js';
import { createStore as defaultCreateStore } from '../stores/registry.js';
import { HOST_ID_PATTERN, type Locker, type Store } from '../stores/types.js';
import type { Clock } from './clock.js';
import type { IssuerFactory, RuntimeContext, StoreFactory } from './context.js';
import { LARGE_RUN } from './heap.js';
import type { Logger } from './logger.js';
import type { ProcessRunner } from './process.js';

export interface SessionDeps {
  clock: Clock;
  logger: Logger;
  env: Env;
  hostname: string;
  pid: number;
  createStore?: StoreFactory;
  createIssuer?: IssuerFactory;
  /** Runs hooks and dns-01 exec commands; the real runner (src/runtime/process.ts) when absent. */
  runProcess?: ProcessRunner;
  /** Given the manifest's text before it is checked (CliIO.fitHeap); returns whether it sized the heap. */
  fitHeap?: (manifestText: string) => boolean;
}

export class Session {
  readonly context: RuntimeContext;
  private readonly stores = new Map<string, Promise<Store>>();
  private readonly issuers = new Map<string, Promise<Issuer>>();
  private readonly createStore: StoreFactory;
  private readonly createIssuer: IssuerFactory;

  private constructor(
    readonly loaded: LoadedManifest,
    deps: SessionDeps,
    options: { newLocalCa?: boolean; keepLoadCache?: boolean },
  ) {
    this.createStore = deps.createStore ?? defaultCreateStore;
    this.createIssuer = deps.createIssuer ?? defaultCreateIssuer;
    const baseDir = loaded.baseDir;
    rememberManifestSecrets(loaded.manifest, deps.env);
    this.context = {
      clock: deps.clock,
      logger: deps.logger,
      env: deps.env,
      baseDir,
      hostname: deps.hostname,
      pid: deps.pid,
      readSecret: (ref) => readSecret(ref, deps.env, baseDir),
      getStore: (name) => this.store(name),
      ...(deps.runProcess ? { runProcess: deps.runProcess } : {}),
      ...(options.newLocalCa ? { newLocalCa: true } : {}),
      ...(options.keepLoadCache ? { keepLoadCache: true } : {}),
    };
  }

  /**
   * Loads and checks the manifest (throws its CertRenewError, exit 2) and logs its warnings. `adopting`
   * (`import`): an empty `certificates` list is where a migration starts, not worth a warning.
   * `newLocalCa` (`run --new-local-ca`) and `keepLoadCache` (`run`): see RuntimeContext.
   */
  static async open(
    manifestPath: string,
    intervalMs: number,
    deps: SessionDeps,
    options: { adopting?: boolean; newLocalCa?: boolean; keepLoadCache?: boolean } = {},
  ): Promise<Session> {
    // A run over thousands of certificates keeps V8's heap tight from before the manifest is checked.
    const beforeCheck = (text: string) => {
      if (deps.fitHeap?.(text))
        deps.logger.debug(`at least ${LARGE_RUN} certificates: V8's heap kept tight for this run`);
    };
    const loaded = await loadManifest(manifestPath, { intervalMs, beforeCheck });
    for (const warning of loaded.warnings) {
      if (options.adopting && warning.pointer === '/certificates') continue;
      // As validate and the manifest's errors show it: file:line:column: pointer: message.
      deps.logger.warn(formatLocated(warning));
    }
    return new Session(loaded, deps, options);
  }

  get certificates(): ResolvedCertificate[] {
    return this.loaded.certificates;
  }

  store(name: string): Promise<Store> {
    let store = this.stores.get(name);
    if (!store) {
      const stores = this.loaded.manifest.stores;
      const config = Object.hasOwn(stores, name) ? stores[name] : undefined;
      store = config
        ? this.createStore(name, config, this.context)
        : Promise.reject(
            new CertRenewError(ErrorCode.manifestInvalid, `store '${name}' is not in the manifest`),
          );
      // A failed open is remembered (every certificate of that store fails the same way), but must not
      // surface as an unhandled rejection when nobody awaits it again.
      store.catch(() => {});
      this.stores.set(name, store);
    }
    return store;
  }

  issuer(name: string): Promise<Issuer> {
    let issuer = this.issuers.get(name);
    if (!issuer) {
      const issuers = this.loaded.manifest.issuers;
      const config = Object.hasOwn(issuers, name) ? issuers[name] : undefined;
      issuer = config
        ? this.createIssuer(name, config, this.context)
        : Promise.reject(
            new CertRenewError(ErrorCode.manifestInvalid, `issuer '${name}' is not in the manifest`),
          );
      issuer.catch(() => {});
      this.issuers.set(name, issuer);
    }
    return issuer;
  }

  /**
   * This host's id in the stores' deployment state (docs/hooks.md): `override` (`--host-id`), else the
   * manifest's `deployment.hostId`, else the hostname (its first label when the whole name is not a valid
   * id). Throws a UsageError for an id that is not letters, digits, '.', '_', '-' (at most 128).
   */
  hostId(override?: string): string {
    const configured = override ?? this.loaded.manifest.deployment?.hostId;
    const chosen = configured ?? this.context.hostname;
    if (HOST_ID_PATTERN.test(chosen)) return chosen;
    const label = chosen.split('.')[0] ?? '';
    if (configured === undefined && HOST_ID_PATTERN.test(label)) return label;
    throw new UsageError(`host id '${chosen}' is not valid (letters, digits, '.', '_', '-'; at most 128)`, {
      hint: 'set --host-id or deployment.hostId in the manifest',
    });
  }

  /**
   * The locker for a certificate: its store's (a filesystem store with `locks` hands out the named Redis
   * store's locks itself, see FilesystemStore.locker).
   */
  async locker(entry: ResolvedCertificate): Promise<Locker> {
    return (await this.store(entry.storeName)).locker();
  }

  /**
   * The command has read what it plans: every opened store may write what its reads learned and let go of
   * it (Store.readsDone). Never throws.
   */
  async readsDone(): Promise<void> {
    const settling = [...this.stores.values()].map((store) =>
      store.then((s) => s.readsDone?.()).catch(() => {}),
    );
    await Promise.all(settling);
  }

  /** Closes every store and issuer that was opened (connections would keep the process alive). */
  async close(): Promise<void> {
    const closing: Promise<unknown>[] = [];
    for (const store of this.stores.values()) closing.push(store.then((s) => s.close()).catch(() => {}));
    for (const issuer of this.issuers.values()) closing.push(issuer.then((i) => i.close?.()).catch(() => {}));
    await Promise.all(closing);
  }
}
