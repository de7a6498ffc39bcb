/**
 * The one-time token (OTT) a JWK provisioner signs for step-ca's `/1.0/sign`. The provisioner's private
 * key is served encrypted (a compact JWE under the provisioner password) by `/1.0/provisioners`; it is
 * decrypted here, in memory only, and never logged.
 */
import { randomBytes } from 'node:crypto';
import { compactDecrypt, importJWK, type JWK, SignJWT } from 'jose';

/** What `/1.0/provisioners` lists for one provisioner (only the fields cert-renew reads). */
export interface StepCaProvisioner {
  type: string;
  name: string;
  key?: JWK;
  encryptedKey?: string;
}

export type ProvisionerSigningKey = Awaited<ReturnType<typeof importJWK>>;

export interface ProvisionerKey {
  kid: string;
  alg: string;
  key: ProvisionerSigningKey;
}

/** step's default PBES2 count is 100000; allow more (a hardened provisioner) but not unbounded work. */
const MAX_PBES2_COUNT = 1_000_000;
/** How long a token is valid: step-ca checks nbf/exp with one minute of leeway. */
const TOKEN_LIFETIME_S = 300;

/** Thrown by `decryptProvisionerKey` when the password does not open the key. */
export class WrongProvisionerPassword extends Error {}

/** Decrypts the provisioner's `encryptedKey` with its password and imports it for signing. */
export async function decryptProvisionerKey(
  provisioner: StepCaProvisioner,
  password: string,
): Promise<ProvisionerKey> {
  if (!provisioner.encryptedKey) throw new Error(`provisioner '${provisioner.name}' serves no encrypted key`);
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(provisioner.encryptedKey, new TextEncoder().encode(password), {
      keyManagementAlgorithms: ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'],
      maxPBES2Count: MAX_PBES2_COUNT,
    }));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWE_DECRYPTION_FAILED') throw new WrongProvisionerPassword('decryption failed');
    throw error;
  }
  const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
  const publicJwk = provisioner.key;
  const kid = jwk.kid ?? publicJwk?.kid;
  if (!kid) throw new Error(`provisioner '${provisioner.name}' key has no kid`);
  const alg = jwk.alg ?? publicJwk?.alg ?? defaultAlgorithm(jwk);
  const key = await importJWK(jwk, alg);
  return { kid, alg, key };
}

function defaultAlgorithm(jwk: JWK): string {
  if (jwk.kty === 'EC') return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}

export interface TokenClaims {
  provisioner: string;
  /** `<CA URL>/1.0/sign` */
  audience: string;
  /** The CSR's common name (the first domain). */
  subject: string;
  /** Exactly the CSR's subject alternative names. */
  sans: readonly string[];
  now: Date;
}

/** Signs a single-use token (fresh `jti`) for one `/1.0/sign` call. */
export async function signToken(key: ProvisionerKey, claims: TokenClaims): Promise<string> {
  const now = Math.floor(claims.now.getTime() / 1000);
  return new SignJWT({ sans: [...claims.sans] })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(claims.provisioner)
    .setAudience(claims.audience)
    .setSubject(claims.subject)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + TOKEN_LIFETIME_S)
    .setJti(randomBytes(32).toString('hex'))
    .sign(key.key);
}
