/**
 * The manifest as the meaning checks see it: defaults applied once, issuer looked up, challenge and lifetime
 * chosen, each with the JSON pointer and the words that say where it came from. Unlike `resolve.ts` this
 * works on any JSON object, valid or not (the checks also run on manifests the schema rejected, to report
 * everything at once), so every field is optional and nothing here throws.
 */
import { escapePointerToken as esc } from '../positions.js';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const objectAt = (o: Json | undefined, key: string): Json | undefined => {
  const v = o && Object.hasOwn(o, key) ? o[key] : undefined;
  return isObject(v) ? v : undefined;
};
export const stringAt = (o: Json | undefined, key: string): string | undefined => {
  const v = o && Object.hasOwn(o, key) ? o[key] : undefined;
  return typeof v === 'string' ? v : undefined;
};
export const has = (o: Json | undefined, key: string): boolean => o !== undefined && Object.hasOwn(o, key);

/** The issuer a certificate uses, when its reference (own or the default) names a defined one. */
export interface IssuerView {
  name: string;
  /** Undefined when the issuer's value is not an object. */
  config: Json | undefined;
  type: string | undefined;
}

/** The challenge an ACME certificate answers: its own, else the defaults', else its issuer's. */
export interface ChallengeView {
  config: Json | undefined;
  type: string | undefined;
  /** For messages: "this certificate's challenge is", "issuer 'le' uses". */
  source: string;
}

/** The lifetime a certificate is expected to get, where it is written, and how to say so. */
export interface LifetimeView {
  /** The duration as written (or the issuer type's default); undefined when not a string. */
  text: string | undefined;
  pointer: string;
  /** "this certificate asks for", "issuer 'le' gives (assumed; …)". */
  description: string;
}

/** Where renewBefore / renewBeforePercent come from: the certificate's own, else the defaults' (together). */
export interface RenewalView {
  settings: Json | undefined;
  pointer: string;
}

export interface CertificateView {
  index: number;
  /** "/certificates/3" */
  pointer: string;
  entry: Json;
  name: string | undefined;
  /** "'web'", or "certificates/3" for an entry without a name. */
  label: string;
  issuer: IssuerView | undefined;
  /** Only for an ACME issuer. */
  challenge: ChallengeView | undefined;
  /** Only when the issuer and its type are known. */
  lifetime: LifetimeView | undefined;
  renewal: RenewalView;
}

export interface ManifestView {
  root: Json;
  issuers: Json;
  stores: Json;
  defaults: Json | undefined;
  /** The object entries of `certificates` (others are the schema's to report). */
  certificates: CertificateView[];
}

/** Builds the view of a parsed manifest (any JSON object). Pure; never throws. */
export function viewManifest(root: Json): ManifestView {
  const issuers = objectAt(root, 'issuers') ?? {};
  const stores = objectAt(root, 'stores') ?? {};
  const defaults = objectAt(root, 'defaults');
  const list = Array.isArray(root.certificates) ? (root.certificates as unknown[]) : [];
  const certificates: CertificateView[] = [];
  list.forEach((entry, index) => {
    if (isObject(entry)) certificates.push(viewCertificate(entry, index, issuers, defaults));
  });
  return { root, issuers, stores, defaults, certificates };
}

function viewCertificate(
  entry: Json,
  index: number,
  issuers: Json,
  defaults: Json | undefined,
): CertificateView {
  const pointer = `/certificates/${index}`;
  const name = stringAt(entry, 'name');
  const issuer = viewIssuer(entry, issuers, defaults);
  const own = has(entry, 'renewBefore') || has(entry, 'renewBeforePercent');
  return {
    index,
    pointer,
    entry,
    name,
    label: name === undefined ? `certificates/${index}` : `'${name}'`,
    issuer,
    challenge: issuer?.type === 'acme' ? viewChallenge(entry, issuer, defaults) : undefined,
    lifetime:
      issuer?.config && issuer.type !== undefined
        ? viewLifetime(entry, pointer, issuer, issuer.type, defaults)
        : undefined,
    renewal: own ? { settings: entry, pointer } : { settings: defaults, pointer: '/defaults' },
  };
}

/** The certificate's own issuer when it names a defined one; without one, the default issuer likewise. */
function viewIssuer(entry: Json, issuers: Json, defaults: Json | undefined): IssuerView | undefined {
  let name: string | undefined;
  if (has(entry, 'issuer')) name = stringAt(entry, 'issuer');
  else name = stringAt(defaults, 'issuer');
  if (name === undefined || !Object.hasOwn(issuers, name)) return undefined;
  const config = objectAt(issuers, name);
  return { name, config, type: stringAt(config, 'type') };
}

function viewChallenge(entry: Json, issuer: IssuerView, defaults: Json | undefined): ChallengeView {
  let config: Json | undefined;
  let source: string;
  if (has(entry, 'challenge')) {
    config = objectAt(entry, 'challenge');
    source = "this certificate's challenge is";
  } else if (has(defaults, 'challenge')) {
    config = objectAt(defaults, 'challenge');
    source = 'the default challenge (defaults/challenge) is';
  } else {
    config = objectAt(issuer.config, 'challenge');
    source = `issuer '${issuer.name}' uses`;
  }
  return { config, type: stringAt(config, 'type'), source };
}

/**
 * The certificate's lifetime (where the issuer lets the client choose: step-ca, local-ca), else the
 * defaults', else the issuer's, else the issuer type's default (step-ca 24h, local-ca 90d, ACME assumed 90d).
 */
function viewLifetime(
  entry: Json,
  pointer: string,
  issuer: IssuerView,
  type: string,
  defaults: Json | undefined,
): LifetimeView {
  const chooses = type === 'step-ca' || type === 'local-ca';
  const issuerPointer = `/issuers/${esc(issuer.name)}`;
  if (chooses && has(entry, 'lifetime')) {
    return {
      text: stringAt(entry, 'lifetime'),
      pointer: `${pointer}/lifetime`,
      description: 'this certificate asks for',
    };
  }
  if (chooses && has(defaults, 'lifetime')) {
    return {
      text: stringAt(defaults, 'lifetime'),
      pointer: '/defaults/lifetime',
      description: 'the defaults ask for',
    };
  }
  if (has(issuer.config, 'lifetime')) {
    return {
      text: stringAt(issuer.config, 'lifetime'),
      pointer: `${issuerPointer}/lifetime`,
      description: `issuer '${issuer.name}' gives`,
    };
  }
  const description =
    type === 'step-ca'
      ? `issuer '${issuer.name}' gives (step-ca's default; set its 'lifetime' if yours differs)`
      : type === 'acme'
        ? `issuer '${issuer.name}' gives (assumed; set its 'lifetime' if the CA gives another)`
        : `issuer '${issuer.name}' gives (local-ca's default)`;
  return { text: type === 'step-ca' ? '24h' : '90d', pointer: issuerPointer, description };
}
