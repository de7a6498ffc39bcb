/**
 * A batch read (`loadMany`, `loadDeployments`) that could read some names but not others — a Redis Cluster
 * with one master down while the others serve their slots (`cluster-require-full-coverage no`). The
 * caller keeps what was read and fails only the names that could not be (gather.ts).
 */
import { CertRenewError, ErrorCode } from '../errors.js';

/**
 * Rejection of a batch read where some names were read: `loaded` has what was read for those, `failed`
 * one error per name that could not be (each one line naming the store, the node and the name). It is
 * the first failure itself (code, message, hint), so a caller that does not know this class fails the
 * whole batch with it, as before.
 */
export class PartialLoadError<T> extends CertRenewError {
  constructor(
    readonly loaded: ReadonlyMap<string, T>,
    readonly failed: ReadonlyMap<string, CertRenewError>,
  ) {
    const first = [...failed.values()][0];
    super(first?.code ?? ErrorCode.storeUnavailable, first?.message ?? 'some names could not be read', {
      transient: first?.transient ?? true,
      ...(first?.hint === undefined ? {} : { hint: first.hint }),
      cause: first,
    });
  }
}
