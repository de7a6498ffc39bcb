/**
 * PKCS#12 (`.p12`/`.pfx`) bundles for the filesystem store's `outputs.pkcs12`, for every key type.
 * node-forge's own PKCS#12 writer only takes RSA keys, so the bundle is assembled here from its parts:
 * the private key is encrypted by node:crypto (PKCS#8 EncryptedPrivateKeyInfo, PBES2 with AES-256-CBC and
 * PBKDF2-HMAC-SHA256, whatever the key type) into a shrouded key bag, the certificates go into cert bags,
 * and the whole is protected by an HMAC-SHA256 integrity MAC with the PKCS#12 key derivation (RFC 7292).
 * OpenSSL 3, Java's keytool and Windows read the result.
 */
import { createHash, createHmac, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

const { asn1 } = forge;
const { Class, Type } = asn1;

const OID = {
  data: '1.2.840.113549.1.7.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  localKeyId: '1.2.840.113549.1.9.21',
  friendlyName: '1.2.840.113549.1.9.20',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

const MAC_ITERATIONS = 2048;

type Node = forge.asn1.Asn1;

const seq = (items: Node[]): Node => asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
const set = (items: Node[]): Node => asn1.create(Class.UNIVERSAL, Type.SET, true, items);
const oid = (value: string): Node =>
  asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(value).getBytes());
const octets = (bytes: string): Node => asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bytes);
const explicit0 = (inner: Node): Node => asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const integer = (value: number): Node =>
  asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(value).getBytes());
const der = (node: Node): string => asn1.toDer(node).getBytes();
const binary = (buffer: Buffer): string => buffer.toString('binary');

/** A ContentInfo of type `data` wrapping the DER of `content`. */
const dataInfo = (content: Node): Node => seq([oid(OID.data), explicit0(octets(der(content)))]);

const attribute = (type: string, value: Node): Node => seq([oid(type), set([value])]);

/** Splits PEM text into the DER of each certificate, in order. */
function certificatesDer(pem: string): Buffer[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block).raw);
}

export interface Pkcs12Input {
  certPem: string;
  chainPem: string;
  keyPem: string;
  password: string;
  /** Shown by keystores as the entry's alias. */
  friendlyName?: string;
}

/** Builds a password-protected PKCS#12 bundle (leaf + chain + key). */
export function buildPkcs12(input: Pkcs12Input): Buffer {
  const [leaf, ...rest] = certificatesDer(input.certPem);
  if (!leaf) throw new Error('no certificate in the PEM');
  const chain = [...rest, ...certificatesDer(input.chainPem)];

  const localKeyId = createHash('sha1').update(leaf).digest();
  const attributes: Node[] = [attribute(OID.localKeyId, octets(binary(localKeyId)))];
  if (input.friendlyName) {
    attributes.push(
      attribute(OID.friendlyName, asn1.create(Class.UNIVERSAL, Type.BMPSTRING, false, input.friendlyName)),
    );
  }

  const certBag = (certificate: Buffer, attrs: Node[] | undefined): Node => {
    const value = explicit0(seq([oid(OID.x509Certificate), explicit0(octets(binary(certificate)))]));
    return seq(attrs ? [oid(OID.certBag), value, set(attrs)] : [oid(OID.certBag), value]);
  };
  const certs = seq([
    certBag(leaf, attributes),
    ...chain.map((certificate) => certBag(certificate, undefined)),
  ]);

  const encryptedKey = createPrivateKey(input.keyPem).export({
    type: 'pkcs8',
    format: 'der',
    cipher: 'aes-256-cbc',
    passphrase: input.password,
  });
  const keyBag = seq([
    oid(OID.shroudedKeyBag),
    explicit0(asn1.fromDer(binary(encryptedKey))),
    set(attributes),
  ]);

  const authenticatedSafe = seq([dataInfo(certs), dataInfo(seq([keyBag]))]);
  const safeDer = der(authenticatedSafe);

  const salt = randomBytes(16);
  const macKey = forge.pkcs12.generateKey(
    input.password,
    forge.util.createBuffer(binary(salt)),
    3,
    MAC_ITERATIONS,
    32,
    forge.md.sha256.create(),
  );
  const mac = createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary'))
    .update(Buffer.from(safeDer, 'binary'))
    .digest();
  const macData = seq([
    seq([seq([oid(OID.sha256), asn1.create(Class.UNIVERSAL, Type.NULL, false, '')]), octets(binary(mac))]),
    octets(binary(salt)),
    integer(MAC_ITERATIONS),
  ]);

  const pfx = seq([integer(3), seq([oid(OID.data), explicit0(octets(safeDer))]), macData]);
  return Buffer.from(der(pfx), 'binary');
}
