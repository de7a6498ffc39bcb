/** Certificates, keys and CSRs. Reading uses node:crypto only; building (CSR, local CA) lazy-loads @peculiar/x509. */
export { createCsr } from './build.js';
export { type ChainVerdict, verifyChain } from './chain.js';
export {
  type CertInfo,
  certInfo,
  inspectCertificate,
  normalizeName,
  parseCertificate,
  sameDomains,
  sameSerial,
} from './inspect.js';
export {
  generateKey,
  keyMatchesCertificate,
  keyMatchesX509,
  keyTypeOf,
  type NewKey,
  newPrivateKey,
  parsePrivateKey,
  privateKeyMatches,
} from './keys.js';
export { joinPem, splitPemChain } from './pem.js';
