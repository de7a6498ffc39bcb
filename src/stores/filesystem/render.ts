/**
 * The files of one version of a certificate, rendered from what the issuer handed back: the PEMs (each
 * ending in a newline; `fullchain` is the leaf then the chain), meta.json, and the configured extra outputs
 * (combined PEM for HAProxy, PKCS#12). Nothing is written here.
 */
import { CertRenewError, describeError, ErrorCode } from '../../errors.js';
import { VERSION_FILES } from '../keys.js';
import type { CertificateBundle, StoredMeta } from '../types.js';
import type { FilesystemSettings } from './config.js';

export interface VersionFile {
  file: string;
  data: string | Uint8Array;
  /** Holds a private key: written with the key mode. */
  key: boolean;
}

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** The files of one version, with their modes. Throws STORE_WRITE_FAILED when PKCS#12 cannot be built. */
export async function renderVersion(
  settings: FilesystemSettings,
  name: string,
  bundle: CertificateBundle,
  meta: StoredMeta,
): Promise<VersionFile[]> {
  const certPem = withNewline(bundle.certPem);
  const chainPem = bundle.chainPem.trim() === '' ? '' : withNewline(bundle.chainPem);
  const keyPem = withNewline(bundle.keyPem);
  const fullchain = certPem + chainPem;
  const files: VersionFile[] = [
    { file: VERSION_FILES.cert, data: certPem, key: false },
    { file: VERSION_FILES.chain, data: chainPem, key: false },
    { file: VERSION_FILES.fullchain, data: fullchain, key: false },
    { file: VERSION_FILES.privkey, data: keyPem, key: true },
    { file: VERSION_FILES.meta, data: `${JSON.stringify(meta, null, 2)}\n`, key: false },
  ];
  if (settings.stable.has('combined'))
    files.push({ file: VERSION_FILES.combined, data: fullchain + keyPem, key: true });
  const pkcs12 = settings.config.outputs?.pkcs12;
  if (pkcs12) {
    const password = pkcs12.password ? await settings.context.readSecret(pkcs12.password) : '';
    const { buildPkcs12 } = await import('./pkcs12.js');
    let data: Uint8Array;
    try {
      data = buildPkcs12({ certPem, chainPem, keyPem, password, friendlyName: name });
    } catch (error) {
      throw new CertRenewError(
        ErrorCode.storeWrite,
        `certificate ${name}: cannot build the PKCS#12 bundle for store ${settings.storeName} (${describeError(error)})`,
        { cause: error, hint: 'check that the key and certificate are valid PEM' },
      );
    }
    files.push({ file: VERSION_FILES.pkcs12, data, key: true });
  }
  return files;
}
