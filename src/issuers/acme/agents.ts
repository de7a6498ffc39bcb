/**
 * The HTTP agents of one ACME issuer for one run, shared by planning's renewal-information lookups
 * (renewal-info.ts) and by issuing (connection.ts): keep-alive sockets opened for one are reused by the
 * other, and the issuer's `caBundle` is trusted beside the system roots.
 *
 * Trust is built in two steps. A TLS context holding node's ~150 system roots costs ~35 ms of CPU to build,
 * and a caBundle is there for a private CA, whose server it verifies alone. So the first connections trust
 * only the bundle; when a server's certificate does not verify against it (TLS_TRUST_CODES), the request is
 * sent again through agents that trust the bundle and the system roots, and those serve the rest of the
 * run. The servers trusted are the same as trusting both from the start. A request refused at the TLS
 * handshake was never sent, so sending it again is safe for a signed ACME POST too (its nonce is unused).
 *
 * node:http, node:https and node:tls are imported on first use: a plan that asks nothing loads none of them.
 */

import { readFile } from 'node:fs/promises';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { resolve } from 'node:path';
import { CertRenewError, ErrorCode } from '../../errors.js';
import { TLS_TRUST_CODES } from '../../util/tls.js';

export interface Agents {
  https: HttpsAgent;
  http: HttpAgent;
}

export interface IssuerAgentsOptions {
  issuerName: string;
  /** The issuer's `caBundle` (a PEM file, relative to `baseDir`), or undefined: the system roots only. */
  caBundle: string | undefined;
  baseDir: string;
}

/** Most sockets per origin. The callers bound their own concurrency below this. */
const MAX_SOCKETS = 16;

export class IssuerAgents {
  /** Trusting the bundle alone (without a caBundle, node's default trust), and the bundle's text. */
  #first: Promise<{ agents: Agents; bundle: string | undefined }> | undefined;
  /** Trusting the bundle and the system roots, once a server did not verify against the bundle alone. */
  #full: Promise<Agents> | undefined;

  constructor(private readonly options: IssuerAgentsOptions) {}

  /**
   * Runs `send` (one HTTP request) with the agents, and once more with the bundle and the system roots
   * when the server's certificate did not verify against the bundle alone. Throws what `send` throws, or
   * CertRenewError ISSUER_UNAVAILABLE when the caBundle cannot be read or holds no certificate.
   */
  async send<T>(send: (agents: Agents) => Promise<T>): Promise<T> {
    if (this.#full) return send(await this.#full);
    const { agents, bundle } = await this.first();
    try {
      return await send(agents);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      // A certificate not valid yet by this machine's clock is not valid against the system roots either.
      if (bundle === undefined || code === undefined || !TLS_TRUST_CODES.has(code)) throw error;
      if (code === 'CERT_NOT_YET_VALID') throw error;
      this.#full ??= build(bundle, true);
      return send(await this.#full);
    }
  }

  /** Resolves once the first agents are built; throws as `send` does for an unreadable caBundle. */
  async ready(): Promise<void> {
    if (!this.#full) await this.first();
  }

  /** Destroys every agent's keep-alive sockets; the next request builds new agents. */
  async close(): Promise<void> {
    const first = this.#first;
    const full = this.#full;
    this.#first = undefined;
    this.#full = undefined;
    for (const agents of [
      (await first?.catch(() => undefined))?.agents,
      await full?.catch(() => undefined),
    ]) {
      agents?.https.destroy();
      agents?.http.destroy();
    }
  }

  private first(): Promise<{ agents: Agents; bundle: string | undefined }> {
    let first = this.#first;
    if (!first) {
      const pending = this.readBundle().then(async (bundle) => ({
        agents: await build(bundle, false),
        bundle,
      }));
      // A failure (an unreadable bundle) is not kept: the next request reads the file again.
      pending.catch(() => {
        if (this.#first === pending) this.#first = undefined;
      });
      this.#first = pending;
      first = pending;
    }
    return first;
  }

  private async readBundle(): Promise<string | undefined> {
    const { caBundle, baseDir, issuerName } = this.options;
    if (caBundle === undefined) return undefined;
    const path = resolve(baseDir, caBundle);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.issuerUnavailable,
        `ACME issuer ${issuerName}: caBundle ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error, hint: 'caBundle is a PEM file, relative to the manifest' },
      );
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CertRenewError(
        ErrorCode.issuerUnavailable,
        `ACME issuer ${issuerName}: caBundle ${path} holds no PEM certificate`,
      );
    }
    return text;
  }
}

/** Keep-alive agents trusting `bundle` (with the system roots when `withRoots`), or node's default trust. */
async function build(bundle: string | undefined, withRoots: boolean): Promise<Agents> {
  const [{ Agent: HttpsAgentClass }, { Agent: HttpAgentClass }] = await Promise.all([
    import('node:https'),
    import('node:http'),
  ]);
  let secureContext: import('node:tls').SecureContext | undefined;
  if (bundle !== undefined) {
    const tls = await import('node:tls');
    // One context per agent set: passing `ca` to the agent instead would rebuild it on every connection.
    secureContext = tls.createSecureContext({ ca: withRoots ? [...tls.rootCertificates, bundle] : bundle });
  }
  return {
    https: new HttpsAgentClass({
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      ...(secureContext ? { secureContext } : {}),
    }),
    http: new HttpAgentClass({ keepAlive: true, maxSockets: MAX_SOCKETS }),
  };
}
