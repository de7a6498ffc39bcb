/**
 * PKCS#10 certificate requests (RFC 2986) written directly in DER with node:crypto signing: a CSR has one
 * fixed shape here (CN, the SAN extension request, one signature), so building it needs no ASN.1 library.
 * Issuing one certificate used to spend several milliseconds of CPU (and the first one ~0.1 s of module
 * loading) in @peculiar/x509 for it.
 */
import { createPublicKey, type KeyObject, sign } from 'node:crypto';
import { ipVersion } from '../util/ip.js';

/** A DER element: tag, definite length, contents. */
function tlv(tag: number, contents: Buffer): Buffer {
  const n = contents.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else if (n < 0x100) length = Buffer.from([0x81, n]);
  else if (n < 0x10000) length = Buffer.from([0x82, n >> 8, n & 0xff]);
  else length = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, contents]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

/** An OBJECT IDENTIFIER from its dotted form. */
function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** The IP address as the 4 or 16 bytes of an iPAddress GeneralName. */
function ipBytes(address: string): Buffer {
  if (ipVersion(address) === 4) return Buffer.from(address.split('.').map(Number));
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    // An IPv4 tail (::ffff:192.0.2.1) as its two 16-bit groups.
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail = ''] = text.includes('::') ? text.split('::') : [text, ''];
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(all[i] ?? '0', 16), i * 2);
  return out;
}

/** The signature algorithm for a key: ECDSA with SHA-256 (SHA-384 for P-384), or RSA PKCS#1 v1.5 SHA-256. */
function algorithmFor(key: KeyObject): { hash: 'sha256' | 'sha384'; identifier: Buffer } {
  if (key.asymmetricKeyType === 'ec') {
    const p384 = key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
    return p384
      ? { hash: 'sha384', identifier: seq(oid('1.2.840.10045.4.3.3')) }
      : { hash: 'sha256', identifier: seq(oid('1.2.840.10045.4.3.2')) };
  }
  return { hash: 'sha256', identifier: seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])) };
}

/**
 * The DER of a CSR for `domains` signed with `key` (a private KeyObject): subject CN `commonName` (none when
 * undefined), one SAN entry per domain (iPAddress for an IP address, dNSName otherwise).
 */
export function csrDer(key: KeyObject, domains: readonly string[], commonName: string | undefined): Buffer {
  const subject =
    commonName === undefined
      ? seq()
      : seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const names = domains.map((d) =>
    ipVersion(d) ? tlv(0x87, ipBytes(d)) : tlv(0x82, Buffer.from(d, 'ascii')),
  );
  const extensions = seq(seq(oid('2.5.29.17'), tlv(0x04, seq(...names))));
  const attributes = tlv(0xa0, seq(oid('1.2.840.113549.1.9.14'), set(extensions)));
  const info = seq(Buffer.from([0x02, 0x01, 0x00]), subject, spki, attributes);
  const { hash, identifier } = algorithmFor(key);
  const signature = sign(hash, info, key);
  return seq(info, identifier, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

/** PEM armour for a CSR's DER. */
export function csrPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
