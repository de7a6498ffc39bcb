/**
 * The JSON Schema formats the manifest's schema uses, `uri` (RFC 3986) and `email`, with exactly the
 * meaning ajv-formats' full formats give them: for ajv at build time (the generated validator requires this
 * module) and at run time (the fallback compile). CommonJS, because the generated validator is.
 *
 * ajv-formats' module builds every format it has when it loads (~3.5 ms) and its `uri` expression is large
 * enough that V8 takes ~3 ms to compile it on first use: together ~7 ms of every run that reads a manifest
 * with an ACME directory, a step-ca or a Redis URL, next to ~25 ms for node itself. So each format here
 * first tries a small expression that accepts only a plain, common subset of what the full format accepts
 * (`https://host:port/path?query#fragment` with unreserved, sub-delim and percent-encoded characters; an
 * address of dot-separated atoms and labels), and asks ajv-formats, loaded then, for anything else. A value
 * is valid exactly when ajv-formats says it is; tests/unit/schema-formats.test.ts checks that each small
 * expression accepts nothing the full format refuses.
 *
 * A new `format` in the schema needs a function here (ajv refuses a format it does not know).
 */

/** ajv-formats' full formats, loaded on first need. */
let full: { uri: (value: string) => boolean; email: RegExp } | undefined;
function fullFormats(): { uri: (value: string) => boolean; email: RegExp } {
  full ??= (require('ajv-formats/dist/formats') as { fullFormats: NonNullable<typeof full> }).fullFormats;
  return full;
}

/** scheme "://" reg-name [":" port] path-abempty ["?" query] ["#" fragment] (RFC 3986 §3), no userinfo or IP literal. */
const PLAIN_URI =
  /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?(?:\/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?(?:#(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$/;

/** Dot-separated atoms of letters, digits and `_%+-`, "@", dot-separated DNS labels. */
const PLAIN_EMAIL =
  /^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** JSON Schema `uri`: an absolute URI (RFC 3986), as ajv-formats' full `uri`. */
function uri(value: string): boolean {
  return PLAIN_URI.test(value) || fullFormats().uri(value);
}

/** JSON Schema `email`, as ajv-formats' full `email`. */
function email(value: string): boolean {
  return PLAIN_EMAIL.test(value) || fullFormats().email.test(value);
}

export = { uri, email, PLAIN_URI, PLAIN_EMAIL };
