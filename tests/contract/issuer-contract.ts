/**
 * The behaviour every Issuer must show (the contract written on `Issuer` in src/issuers/types.ts), run
 * against a real CA. An issuer's test file is one call:
 *
 *   issuerContract('pebble', { remote: true }, async () => ({ makeIssuer, isIssuing, makeStore, … }));
 *
 * Every case makes its own issuer (nothing cached: no directory, root, account or CA yet) and its own
 * empty store, so no case depends on another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CertRenewError, ErrorCode } from '../../src/errors.js';
import type { IssueRequest, IssueResult, Issuer } from '../../src/issuers/types.js';
import type { IssuerConfig, ResolvedCertificate } from '../../src/manifest/types.js';
import { silentLogger } from '../../src/runtime/logger.js';
import type { Store } from '../../src/stores/types.js';
import {
  createCsr,
  generateKey,
  inspectCertificate,
  keyMatchesCertificate,
  verifyChain,
} from '../../src/x509/index.js';

/** One HTTP request an issuer sent to its CA. */
export interface CaRequest {
  method: string;
  url: string;
}

export interface IssuerFixture {
  /**
   * A new issuer whose every request to the CA is first shown to `observe` (which may abort the signal
   * of the call it belongs to).
   */
  makeIssuer(observe?: (request: CaRequest) => void): Issuer;
  /** Whether a request orders, signs or registers something (a dry run sends none). */
  isIssuing(request: CaRequest): boolean;
  /** A new, empty store (it keeps the issuer's own state: ACME account, local CA). */
  makeStore(): Promise<Store>;
  /** The manifest entry `name` for `domains`, issued by this fixture's issuer. */
  entry(name: string, domains: string[]): ResolvedCertificate;
  /** Names this CA issues for (the first is the subject). */
  domains: string[];
  /** The CA's roots, known out of band, for an issuer without `trustAnchors` (ACME). */
  externalRoots?(): Promise<string[]>;
  /** Blob keys where the issuer keeps its own state; a dry run creates none of them. */
  stateKeys: string[];
  cleanup(): Promise<void>;
}

/** A manifest entry for `domains` issued by `issuerName` (ECDSA P-256, no hooks). */
export function entryFor(
  issuerName: string,
  issuer: IssuerConfig,
  name: string,
  domains: string[],
): ResolvedCertificate {
  return {
    index: 0,
    name,
    domains,
    issuerName,
    issuer,
    storeName: 'files',
    store: { type: 'filesystem', path: 'unused' },
    keyType: 'ecdsa-p256',
    reuseKey: undefined,
    hooks: { postRenew: [], onFailure: [], rollbackOnHookFailure: false },
  };
}

/** Generous: it only guards against a hang (machines are shared and slow). */
const HANG_GUARD_MS = 120_000;

export interface ContractOptions {
  /**
   * Whether the issuer talks to a CA over the network. One that does not (local-ca) has no request to
   * abort in the middle: the already-aborted cases cover its cancellation.
   */
  remote: boolean;
}

export function issuerContract(
  label: string,
  options: ContractOptions,
  open: () => Promise<IssuerFixture>,
): void {
  describe(`issuer contract: ${label}`, () => {
    let fixture: IssuerFixture | undefined;
    const made: Issuer[] = [];
    let counter = 0;

    const f = (): IssuerFixture => {
      assert.ok(fixture, 'fixture was not opened');
      return fixture;
    };
    const newIssuer = (observe?: (request: CaRequest) => void): Issuer => {
      const issuer = f().makeIssuer(observe);
      made.push(issuer);
      return issuer;
    };
    const newEntry = (): ResolvedCertificate => f().entry(`contract-${++counter}`, f().domains);

    before(async () => {
      fixture = await open();
    });
    after(async () => {
      for (const issuer of made) await issuer.close?.();
      await fixture?.cleanup();
    });

    async function issue(
      issuer: Issuer,
      store: Store,
      entry: ResolvedCertificate,
      signal: AbortSignal = AbortSignal.timeout(HANG_GUARD_MS),
    ): Promise<IssueResult & { keyPem: string }> {
      const keyPem = await generateKey(entry.keyType);
      const request: IssueRequest = {
        entry,
        keyPem,
        csrPem: await createCsr(keyPem, entry.domains),
        current: undefined,
        store,
        now: new Date(),
        signal,
        logger: silentLogger,
      };
      return { ...(await issuer.issue(request)), keyPem };
    }

    const isTimeout = (error: unknown): boolean => {
      assert.ok(error instanceof CertRenewError, `not a CertRenewError: ${String(error)}`);
      assert.equal(error.code, ErrorCode.issuerTimeout, error.message);
      return true;
    };

    test('issues for a CSR: our key, every name, valid now, a chain that verifies against the trust anchors', async () => {
      const issuer = newIssuer();
      const store = await f().makeStore();
      const entry = newEntry();
      const issued = await issue(issuer, store, entry);
      assert.ok(issued.via.length > 0, 'says how it was obtained');
      assert.ok(keyMatchesCertificate(issued.keyPem, issued.certPem), 'the certificate is for our key');
      const info = inspectCertificate(issued.certPem);
      const names = new Set([...info.dnsNames, ...info.ipAddresses]);
      for (const domain of entry.domains) assert.ok(names.has(domain), `${domain} is covered`);
      const now = Date.now();
      assert.ok(info.notBefore.getTime() <= now + 60_000, 'valid now (notBefore)');
      assert.ok(info.notAfter.getTime() > now, 'valid now (notAfter)');

      const anchors = issuer.trustAnchors
        ? await issuer.trustAnchors(store)
        : await (f().externalRoots?.() ?? Promise.resolve([]));
      assert.ok(anchors.length > 0, 'trust anchors are known once a certificate was issued');
      const verdict = verifyChain(issued.certPem, issued.chainPem, anchors, new Date());
      assert.ok(verdict.ok, verdict.ok ? '' : verdict.reason);
    });

    test('each call obtains a new certificate; a call after a failed one succeeds', async () => {
      const issuer = newIssuer();
      const store = await f().makeStore();
      const entry = newEntry();
      await assert.rejects(issue(issuer, store, entry, AbortSignal.abort()), isTimeout);
      const first = await issue(issuer, store, entry);
      const second = await issue(issuer, store, entry);
      assert.notEqual(
        inspectCertificate(first.certPem).serial,
        inspectCertificate(second.certPem).serial,
        'nothing of an earlier call is returned again',
      );
    });

    const reasons: [string, unknown][] = [
      ['no reason', undefined],
      ['a plain Error', new Error('plain reason')],
      ['a TimeoutError', new DOMException('timed out', 'TimeoutError')],
      ['a CertRenewError of another code', new CertRenewError(ErrorCode.interrupted, 'interrupted')],
    ];
    for (const [what, reason] of reasons) {
      test(`an already-aborted signal (${what}) rejects with ISSUER_TIMEOUT before the CA is contacted`, async () => {
        const requests: CaRequest[] = [];
        const issuer = newIssuer((request) => requests.push(request));
        const store = await f().makeStore();
        const signal = reason === undefined ? AbortSignal.abort() : AbortSignal.abort(reason);
        await assert.rejects(issue(issuer, store, newEntry(), signal), (error) => {
          assert.notEqual(error, reason, "the signal's reason is not thrown as it is");
          return isTimeout(error);
        });
        assert.deepEqual(requests, [], 'no request was sent');
      });
    }

    if (options.remote) {
      test('a signal that aborts at the first issuing request rejects with ISSUER_TIMEOUT and sends nothing more', async () => {
        const controller = new AbortController();
        const later: CaRequest[] = [];
        const issuer = newIssuer((request) => {
          if (controller.signal.aborted) later.push(request);
          else if (f().isIssuing(request)) controller.abort();
        });
        const store = await f().makeStore();
        const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(HANG_GUARD_MS)]);
        await assert.rejects(issue(issuer, store, newEntry(), signal), isTimeout);
        assert.ok(controller.signal.aborted, 'an issuing request was seen');
        assert.deepEqual(later, [], 'no request after the abort');
      });
    }

    test('check answers in a dry run without ordering, registering or writing anything', async () => {
      const requests: CaRequest[] = [];
      const issuer = newIssuer((request) => requests.push(request));
      const store = await f().makeStore();
      const entry = newEntry();
      const line = await issuer.check({ store, certs: [entry], signal: AbortSignal.timeout(HANG_GUARD_MS) });
      assert.equal(typeof line, 'string');
      assert.ok(line.length > 0, 'says what it checked');
      assert.ok(!line.includes('\n'), 'one line');
      for (const key of f().stateKeys) {
        assert.equal(await store.getBlob(key), undefined, `${key} was not created`);
      }
      const issuing = requests.filter((request) => f().isIssuing(request));
      assert.deepEqual(issuing, [], 'nothing ordered, signed or registered');
      if (issuer.trustAnchors) {
        // Trust anchors never create anything either (a local CA that does not exist has none yet).
        await issuer.trustAnchors(store);
        for (const key of f().stateKeys) assert.equal(await store.getBlob(key), undefined);
      }
    });

    test('check answers once the issuer has state, still without issuing', async () => {
      const store = await f().makeStore();
      const entry = newEntry();
      await issue(newIssuer(), store, entry);
      const requests: CaRequest[] = [];
      const issuer = newIssuer((request) => requests.push(request));
      const line = await issuer.check({ store, certs: [entry], signal: AbortSignal.timeout(HANG_GUARD_MS) });
      assert.ok(line.length > 0);
      assert.deepEqual(
        requests.filter((request) => f().isIssuing(request)),
        [],
        'nothing ordered, signed or registered',
      );
    });
  });
}
