/**
 * An issuer's breaker for one run (ACME and step-ca use it): once one certificate found the CA unreachable,
 * the run's other certificates of that issuer fail at once with the same error, marked "not tried", so an
 * outage costs one wait per run instead of one per certificate, and the CA is not hammered.
 */
import { CertRenewError } from '../errors.js';

export class IssuerBreaker {
  #open: { error: CertRenewError; certName: string } | undefined;

  /** `why`: how the certificate that opens it found the CA, for the hint ("found this CA unreachable …"). */
  constructor(private readonly why: string) {}

  /**
   * Throws the open breaker's error for `certName`: the first failure's code and message (a leading
   * `certificate NAME: ` renamed to this certificate), transient, with a "not tried" hint. Nothing when closed.
   */
  throwIfOpen(certName: string): void {
    const open = this.#open;
    if (!open) return;
    const { error } = open;
    const own = `certificate ${open.certName}: `;
    const message = error.message.startsWith(own)
      ? `certificate ${certName}: ${error.message.slice(own.length)}`
      : error.message;
    throw new CertRenewError(error.code, message, {
      cause: error,
      transient: true,
      hint: `not tried: certificate ${open.certName} ${this.why}${error.hint ? `; ${error.hint}` : ''}`,
    });
  }

  /** Opens it with `error`, which `certName` met; true when this call opened it (the caller says so once). */
  trip(error: CertRenewError, certName: string): boolean {
    if (this.#open) return false;
    this.#open = { error, certName };
    return true;
  }
}
