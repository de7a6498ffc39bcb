/**
 * The JWK provisioner the step-ca issuer signs tokens with: found by name in `/1.0/provisioners` (every
 * page), and its key decrypted with the provisioner password — read only now, after the root is pinned.
 */
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import { describeSecretRef } from '../../manifest/secrets.js';
import type { SecretRef } from '../../manifest/types.js';
import type { StepCaApi } from './http.js';
import {
  decryptProvisionerKey,
  type ProvisionerKey,
  type StepCaProvisioner,
  WrongProvisionerPassword,
} from './token.js';

/** Pages of `/1.0/provisioners` to read at most (100 each) before giving up on a name. */
const MAX_PROVISIONER_PAGES = 50;

/**
 * The provisioner named `wanted`, trusting only `root`. Throws ISSUER_REJECTED when there is none of that
 * name or it is not a JWK provisioner with an encrypted key; what the calls throw otherwise.
 */
export async function findProvisioner(
  api: StepCaApi,
  wanted: string,
  root: string,
  signal: AbortSignal,
): Promise<StepCaProvisioner> {
  const seen: StepCaProvisioner[] = [];
  let cursor = '';
  for (let page = 0; page < MAX_PROVISIONER_PAGES; page++) {
    const query = cursor === '' ? '?limit=100' : `?limit=100&cursor=${encodeURIComponent(cursor)}`;
    const response = await api.call({
      method: 'GET',
      path: `/1.0/provisioners${query}`,
      trust: { ca: root },
      signal,
    });
    if (response.status !== 200) throw api.answerError(response, undefined, 'provisioners');
    const body = (response.json ?? {}) as { provisioners?: unknown; nextCursor?: unknown };
    const list = Array.isArray(body.provisioners) ? (body.provisioners as StepCaProvisioner[]) : [];
    seen.push(...list);
    const found = list.find((p) => p.name === wanted);
    if (found) {
      if (found.type !== 'JWK' || !found.encryptedKey) {
        throw new CertRenewError(
          ErrorCode.issuerRejected,
          `step-ca issuer '${api.issuerName}': provisioner '${wanted}' is of type ${found.type}; cert-renew signs with a JWK provisioner that has an encrypted key`,
          { hint: 'name a JWK provisioner, or use an acme issuer for an ACME provisioner' },
        );
      }
      return found;
    }
    const next = typeof body.nextCursor === 'string' ? body.nextCursor : '';
    if (next === '' || next === cursor || list.length === 0) break;
    cursor = next;
  }
  const names = seen.map((p) => `${p.name} (${p.type})`).join(', ');
  throw new CertRenewError(
    ErrorCode.issuerRejected,
    `step-ca issuer '${api.issuerName}': ${api.url} has no provisioner named '${wanted}'; it has: ${names || 'none'}`,
    { hint: 'set provisioner to one of those names' },
  );
}

/**
 * Reads the password and decrypts the provisioner's key. Throws SECRET_UNAVAILABLE when the password
 * cannot be read, ISSUER_REJECTED when it does not open the key or the key cannot be used.
 */
export async function unlockProvisionerKey(
  issuerName: string,
  provisioner: StepCaProvisioner,
  password: SecretRef,
  readSecret: (ref: SecretRef) => Promise<string>,
): Promise<ProvisionerKey> {
  const secret = await readSecret(password);
  try {
    return await decryptProvisionerKey(provisioner, secret);
  } catch (error) {
    if (error instanceof WrongProvisionerPassword) {
      throw new CertRenewError(
        ErrorCode.issuerRejected,
        `wrong provisioner password for step-ca issuer '${issuerName}': it does not decrypt the key of provisioner '${provisioner.name}'`,
        { hint: `check the secret in ${describeSecretRef(password)}` },
      );
    }
    throw new CertRenewError(
      ErrorCode.issuerRejected,
      `step-ca issuer '${issuerName}': the key of provisioner '${provisioner.name}' cannot be used (${describeError(error)})`,
      { cause: error },
    );
  }
}
