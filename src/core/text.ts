/**
 * The one rule for text from outside: NUL (U+0000) and unpaired UTF-16 surrogates (U+D800 to
 * U+DFFF not in a pair) are not text. PostgreSQL refuses NUL in a text column and SQLite would
 * store both and pass them on, so the databases would disagree. Input fields refuse them (the
 * HTTP edge, `core/http/input.ts`); text parsed from mail replaces them with U+FFFD and records
 * that it did (`replaceForbiddenChars`).
 */

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point.
const FORBIDDEN = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FORBIDDEN_ALL = new RegExp(FORBIDDEN.source, 'g');

/** The index of the first forbidden character of `text`, or -1 when it has none. */
export function findForbiddenChar(text: string): number {
  const match = FORBIDDEN.exec(text);
  return match ? match.index : -1;
}

/** Whether `text` holds NUL or an unpaired surrogate. */
export function hasForbiddenChars(text: string): boolean {
  return FORBIDDEN.test(text);
}

/** `NUL (U+0000)` or `an unpaired surrogate (U+D800)`, for the character at `index`. */
export function describeForbiddenChar(text: string, index: number): string {
  const code = text.charCodeAt(index);
  if (code === 0) return 'NUL (U+0000)';
  return `an unpaired surrogate (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** `text` with each forbidden character replaced by U+FFFD, and whether any was. */
export function replaceForbiddenChars(text: string): { text: string; replaced: boolean } {
  if (!FORBIDDEN.test(text)) return { text, replaced: false };
  return { text: text.replace(FORBIDDEN_ALL, '\uFFFD'), replaced: true };
}

/**
 * At most the first `max` UTF-16 units of `text`, one fewer when the cut would fall inside a
 * surrogate pair: `text.slice(0, max)` there leaves an unpaired surrogate, which the rule forbids.
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = max > 0 && /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return text.slice(0, Math.max(cut, 0));
}
