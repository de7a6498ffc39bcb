/**
 * How a manifest's values are quoted in messages, apart from the schema (schema.ts) so that the stores that
 * quote values (Redis) do not bring the manifest's checks into the daily code (docs/performance.md,
 * fifteenth round).
 */
import { redactUrls } from '../util/text.js';

/** A short rendering of a value for messages (never more than ~60 characters, URL userinfo hidden). */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    // Userinfo goes before anything is cut: a cut could drop the '@' that marks a password.
    const redacted = redactUrls(value);
    const cut = redacted.length > 60 ? `${redacted.slice(0, 57)}...` : redacted;
    return `'${cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
