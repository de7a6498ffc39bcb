/**
 * The adapter around acme-client, and the only file that touches it (or its internals).
 *
 * acme-client does the JWS signing and the RFC 8555 resource shapes; everything else is cert-renew's. Each
 * client sends through the connection's own transport (its `http.request` is replaced: per-issuer trust,
 * the certificate's deadline, problem documents kept whole) and starts from the directory the connector
 * already fetched. Every method is one named ACME step run through `AcmeConnection.call`: retried while
 * transient, and throwing only CertRenewError (acme-client throws plain errors; they are wrapped here).
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createRequire, Module } from 'node:module';
import type { Authorization, Client, Order } from 'acme-client';
import { InternalError } from '../../errors.js';
import type { Logger } from '../../runtime/logger.js';
import { ipVersion } from '../../util/ip.js';
import { dnValues, parseSubjectAltName } from '../../x509/inspect.js';
import { firstPemDer, splitPemChain } from '../../x509/pem.js';
import { downloadCertificate } from './chain.js';
import type { AcmeConnection } from './connection.js';
import { acmeError } from './errors.js';
import { once, type RetryPolicy } from './retry.js';

export type { Authorization, Order } from 'acme-client';
export type AcmeChallenge = Authorization['challenges'][number];

/** What the adapter takes from acme-client: its client, its JWK helper and its logger hook. */
interface AcmeModule {
  Client: typeof import('acme-client').Client;
  crypto: { getJwk: (key: string) => Record<string, string> };
  setLogger: (fn: (message: string) => void) => void;
}

let acmeModule: Promise<AcmeModule> | undefined;

/**
 * acme-client's own HTTP module (`src/axios.js`, an axios instance) in place of the real one. Every request
 * goes through the connection's transport (`AcmeClient.create` replaces `http.request`), and acme-client's
 * own challenge verification (`verify.js`, the only other user) is never called: the adapter brings its
 * own. Loading axios cost ~55 ms and several MB at the start of every issuing run for nothing.
 */
const unusedAxios = {
  defaults: { acmeSettings: {} },
  request: notUsed,
  get: notUsed,
};
function notUsed(): Promise<never> {
  return Promise.reject(
    new InternalError("acme-client's own HTTP client was called; cert-renew's transport replaces it"),
  );
}

/**
 * acme-client's crypto module (`src/crypto/index.js`) in place of the real one, which loads @peculiar/x509,
 * asn1js and their dependencies at its top (~80 ms of CPU and ~15 MB at the start of every issuing run) for
 * building CSRs and parsing certificates, which the adapter never asks of it: cert-renew writes its CSRs
 * itself (x509/csr.ts) and reads chains itself (chain.ts). What acme-client's own modules call on the
 * adapter's path is here, with node:crypto: `getJwk` (the account key's JWK, RFC 7517, members sorted as
 * acme-client sorts them for the RFC 7638 thumbprint; http.js), `getPemBodyAsB64u` (the DER of a PEM's
 * first block, base64url: finalize's CSR and revokeCert's certificate; client.js), and `splitPemChain` and
 * `readCertificateInfo` (util.js's search of the alternate chains for `preferredChain`, which reads each
 * certificate's issuer common name). The other exports (key generation, CSR and tls-alpn-01 certificate
 * building, CSR parsing: auto.js and verify.js, which the adapter never calls) throw InternalError.
 */
export const acmeCrypto = {
  getJwk(key: string | Buffer | KeyObject): Record<string, string> {
    const jwk = createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
    return Object.fromEntries(
      Object.keys(jwk)
        .sort()
        .map((name) => [name, jwk[name] as string]),
    );
  },
  getPemBodyAsB64u(pem: string | Buffer): string {
    const der = firstPemDer(pem.toString());
    if (der === undefined) throw new Error('Unable to parse PEM body from string');
    return der.toString('base64url');
  },
  splitPemChain(pem: string | Buffer): string[] {
    return splitPemChain(pem.toString());
  },
  /** The first certificate's issuer and subject common names (the last CN, as acme-client reads them). */
  readCertificateInfo(pem: string | Buffer) {
    const cert = new X509Certificate(pem);
    const names = parseSubjectAltName(cert.subjectAltName ?? '');
    return {
      issuer: { commonName: dnValues(cert.issuer, 'CN').at(-1) ?? null },
      domains: {
        commonName: dnValues(cert.subject, 'CN').at(-1) ?? null,
        altNames: [...names.dns, ...names.ip],
      },
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
    };
  },
  ...Object.fromEntries(
    [
      'getPrivateKey',
      'createPrivateRsaKey',
      'createPrivateKey',
      'createPrivateEcdsaKey',
      'getPublicKey',
      'readCsrDomains',
      'createCsr',
      'createAlpnCertificate',
      'isAlpnCertificateAuthorizationValid',
    ].map((name) => [
      name,
      () => {
        throw new InternalError(`acme-client's crypto.${name} was called; cert-renew does not load it`);
      },
    ]),
  ),
};

/** Puts `exports` in Node's module cache as the module `path` (before anything requires it). */
function standIn(require: NodeJS.Require, path: string, exports: unknown): void {
  const resolved = require.resolve(path);
  if (require.cache[resolved]) return;
  const stub = new Module(resolved);
  stub.filename = resolved;
  stub.loaded = true;
  stub.exports = exports;
  require.cache[resolved] = stub;
}

/**
 * acme-client, loaded on first use (start-up cost) and only in the parts the adapter uses: its files
 * `src/client.js` and `src/logger.js` rather than the package's index, which also loads node-forge (~23 ms)
 * for its deprecated `forge` export. Its `src/axios.js` and `src/crypto/index.js` are given to Node's module
 * cache as `unusedAxios` and `acmeCrypto` before they load, which Node documents for `require.cache`
 * ("adding or replacing entries is also possible"). The version is pinned in package.json: these file
 * names, like the HTTP client fields the adapter replaces, are acme-client's internals. Its logger is wired
 * once, to debug.
 */
function loadAcme(logger: Logger): Promise<AcmeModule> {
  acmeModule ??= (async () => {
    const require = createRequire(import.meta.url);
    standIn(require, 'acme-client/src/axios.js', unusedAxios);
    standIn(require, 'acme-client/src/crypto/index.js', acmeCrypto);
    const acme: AcmeModule = {
      Client: require('acme-client/src/client.js'),
      crypto: acmeCrypto,
      setLogger: require('acme-client/src/logger.js').setLogger,
    };
    acme.setLogger((message: string) => logger.debug(`acme-client: ${message}`));
    return acme;
  })();
  return acmeModule;
}

/** acme-client's HttpClient fields the adapter replaces (its transport) or seeds (the directory). */
interface AcmeHttpInternals {
  request: (
    url: string,
    method: string,
    opts?: { data?: unknown; headers?: Record<string, string> },
  ) => Promise<unknown>;
  directoryCache: unknown;
  directoryTimestamp: number;
  maxBadNonceRetries: number;
  /** The account key acme-client signs with (a PEM Buffer, or a KeyObject: node's sign takes either). */
  accountKey: unknown;
  /** The account key's JWK, computed on first use. */
  jwk: unknown;
}

/** RFC 8555 newOrder (§7.4) with `profile` (draft-aaron-acme-profiles) and `replaces` (RFC 9773 §5). */
export interface OrderPayload {
  identifiers: { type: 'dns' | 'ip'; value: string }[];
  profile?: string;
  replaces?: string;
}

/** The newOrder payload for `domains` (IP addresses become `ip` identifiers, RFC 8738). */
export function orderPayload(
  domains: readonly string[],
  extra: { profile?: string; replaces?: string } = {},
): OrderPayload {
  return {
    identifiers: domains.map((value) => ({ type: ipVersion(value) ? 'ip' : 'dns', value })),
    ...(extra.profile ? { profile: extra.profile } : {}),
    ...(extra.replaces ? { replaces: extra.replaces } : {}),
  };
}

export interface AccountKeyInit {
  /** The account key, PKCS#8 PEM. */
  keyPem: string;
  /** The account URL when known (kid of every JWS); without it only newAccount can be sent. */
  accountUrl?: string;
  /** External Account Binding (RFC 8555 §7.3.4), for newAccount. */
  externalAccountBinding?: { kid: string; hmacKey: string };
}

/** RFC 8555 §7.3 newAccount fields cert-renew sends. */
export interface NewAccountRequest {
  termsOfServiceAgreed?: boolean;
  contact?: string[];
  onlyReturnExisting?: boolean;
}

/** acme-client's API object, for a revokeCert signed with the certificate's key (a JWS with `jwk`). */
interface AcmeApiInternals {
  apiResourceRequest(
    resource: string,
    payload: unknown,
    validStatusCodes: number[],
    options: { includeJwsKid: boolean },
  ): Promise<unknown>;
}

/** One account's client on one connection. */
export class AcmeClient {
  private constructor(
    private readonly client: Client,
    private readonly connection: AcmeConnection,
  ) {}

  /**
   * A client for `account` on `connection`. Throws InternalError when acme-client's internals no longer
   * have the shape this adapter replaces (a dependency upgrade broke it).
   */
  static async create(connection: AcmeConnection, account: AccountKeyInit): Promise<AcmeClient> {
    const acme = await loadAcme(connection.runLogger);
    const client = new acme.Client({
      directoryUrl: connection.directoryUrl,
      accountKey: account.keyPem,
      ...(account.accountUrl ? { accountUrl: account.accountUrl } : {}),
      ...(account.externalAccountBinding ? { externalAccountBinding: account.externalAccountBinding } : {}),
    });
    const http = (client as unknown as { http?: Partial<AcmeHttpInternals> }).http;
    if (!http || typeof http.request !== 'function') {
      throw new InternalError('acme-client has no replaceable HTTP client (its internals changed)');
    }
    http.request = (url, method, opts) => connection.transport.request(url, method, opts);
    http.directoryCache = connection.directory;
    http.directoryTimestamp = Math.floor(connection.clock.now().getTime() / 1000);
    http.maxBadNonceRetries = 10;
    let parsed = connection.accountKeys.get(account.keyPem);
    if (!parsed) {
      const key = createPrivateKey(account.keyPem);
      parsed = { key, jwk: acme.crypto.getJwk(key as unknown as string) };
      connection.accountKeys.set(account.keyPem, parsed);
    }
    http.accountKey = parsed.key;
    http.jwk = parsed.jwk;
    return new AcmeClient(client, connection);
  }

  /** newAccount; for a key the CA knows, it answers with the existing account (idempotent). */
  async createAccount(request: NewAccountRequest, step: string, policy?: RetryPolicy): Promise<void> {
    await this.connection.call(step, () => this.client.createAccount(request), policy);
  }

  /** The account URL learnt from newAccount (or given at creation). */
  get accountUrl(): string {
    try {
      return this.client.getAccountUrl();
    } catch (error) {
      throw acmeError(error, this.connection.errorContext('reading the account URL'));
    }
  }

  createOrder(payload: OrderPayload): Promise<Order> {
    return this.connection.call('creating the order', () =>
      this.client.createOrder(payload as Parameters<Client['createOrder']>[0]),
    );
  }

  authorizations(order: Order): Promise<Authorization[]> {
    return this.connection.call('fetching the authorizations', () => this.client.getAuthorizations(order));
  }

  /** One authorization fetched again (polling, cleanup). */
  authorization(url: string, step: string, policy?: RetryPolicy): Promise<Authorization> {
    return this.connection.call(
      step,
      async () => {
        const [current] = await this.client.getAuthorizations({ authorizations: [url] } as Order);
        if (!current) throw new InternalError('acme-client returned no authorization');
        return current;
      },
      policy,
    );
  }

  /** The key authorization (http-01) or its digest (dns-01) for a challenge (RFC 8555 §8.1); no request. */
  async keyAuthorization(challenge: AcmeChallenge): Promise<string> {
    try {
      return await this.client.getChallengeKeyAuthorization(challenge);
    } catch (error) {
      throw acmeError(error, this.connection.errorContext('computing the key authorization'));
    }
  }

  /** Tells the CA the challenge is ready (RFC 8555 §7.5.1). */
  async completeChallenge(challenge: AcmeChallenge, identifier: string): Promise<void> {
    await this.connection.call(`asking the CA to validate ${identifier}`, () =>
      this.client.completeChallenge(challenge),
    );
  }

  /** Deactivates an authorization (RFC 8555 §7.5.2); one attempt, no retry. */
  async deactivateAuthorization(authorization: Authorization): Promise<void> {
    await this.connection.call(
      'deactivating an authorization',
      () => this.client.deactivateAuthorization(authorization),
      once(this.connection.retry),
    );
  }

  finalizeOrder(order: Order, csrPem: string): Promise<Order> {
    return this.connection.call('finalizing the order', () => this.client.finalizeOrder(order, csrPem));
  }

  getOrder(order: Order, step = 'fetching the order'): Promise<Order> {
    return this.connection.call(step, () => this.client.getOrder(order));
  }

  /**
   * revokeCert (RFC 8555 §7.6) with `reason` (RFC 5280 code). Signed with the account key (`kid`), or with
   * `byCertificateKey` as a JWS carrying the key itself (`jwk`): the client must then have been created with
   * the certificate's private key and no account URL. One attempt, no retry (a revocation that reached
   * the CA must not be sent twice only to be told `alreadyRevoked`).
   */
  async revokeCertificate(certPem: string, reason: number, byCertificateKey = false): Promise<void> {
    await this.connection.call(
      'revoking the certificate',
      async () => {
        if (!byCertificateKey) {
          await this.client.revokeCertificate(certPem, { reason });
          return;
        }
        const api = (this.client as unknown as { api?: Partial<AcmeApiInternals> }).api;
        if (!api || typeof api.apiResourceRequest !== 'function') {
          throw new InternalError(
            'acme-client has no signed request by resource name (its internals changed)',
          );
        }
        const certificate = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString(
          'base64url',
        );
        await api.apiResourceRequest('revokeCert', { certificate, reason }, [200], { includeJwsKid: false });
      },
      once(this.connection.retry),
    );
  }

  /**
   * The certificate chain (PEM, leaf first) of a valid order: the default chain, or the one
   * `preferredChain` picks among the alternates (chain.ts).
   */
  certificate(order: Order, preferredChain?: string): Promise<string> {
    return this.connection.call('downloading the certificate', () =>
      downloadCertificate((chain) => this.client.getCertificate(order, chain), preferredChain),
    );
  }
}
