/**
 * The manifest's text as read from disk: the size above which it is refused unparsed, and the byte-order
 * mark an editor may put first. Apart from the checks (validate.ts), so that a run taking a kept verdict
 * (verdicts.ts) initialises none of their modules.
 */

/** Larger files are refused without being parsed (bytes). */
export const MAX_MANIFEST_BYTES = 5 * 1024 * 1024;

/** The text without a leading byte-order mark (JSON.parse refuses it; the checks skip it). */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
