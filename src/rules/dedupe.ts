import { localFields, normaliseForMatch } from './extractors.js';
import { isRecadrageSubject } from './presets.js';

/**
 * Replies, forwards and repeats. The replaced system skipped replies and forwards by subject
 * prefix, and meant to send one webhook per subject group per month (its de-duplication never
 * took effect); Facteur computes the group key here and the caller checks the month's ledger.
 */

/** `Re:`, `Fw:`, `Fwd:`, `RV:`, `TR:`, `Confirmation:`, any case, French spacing (`RE :`) allowed. */
const REPLY_PREFIX = /^\s*(?:re|fw|fwd|rv|tr|confirmation)\s*:/i;

/** True when `subject` starts with a reply or forward prefix. */
export function isReplyOrForward(subject: string): boolean {
  return REPLY_PREFIX.test(subject);
}

/** `subject` without any number of leading reply and forward prefixes. */
export function stripReplyPrefixes(subject: string): string {
  let rest = subject;
  // Each pass removes one prefix; the loop ends because every pass shortens the string.
  while (REPLY_PREFIX.test(rest)) rest = rest.replace(REPLY_PREFIX, '');
  return rest.trim();
}

/** The lot number of a recadrage subject, which alone identifies the group whatever else the subject says. */
const LOT_NUMBER = /\blot\s*(\d+)/;

/**
 * The de-duplication key of a subject in the calendar month of `now` in `timeZone`: prefixes
 * stripped, accents removed, lower-cased, runs of other characters as one `_`, then `:YYYY-MM`.
 * A recadrage subject with a lot number keys on the lot: `media_solution_missions_recadrage_lot_42`.
 */
export function subjectGroupKey(subject: string, now: number, timeZone: string): string {
  const normalised = normaliseForMatch(stripReplyPrefixes(subject));
  const lot = isRecadrageSubject(subject) ? LOT_NUMBER.exec(normalised) : null;
  const group = lot
    ? `media_solution_missions_recadrage_lot_${lot[1]}`
    : normalised.replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'no_subject';
  const { year, month } = localFields(timeZone, now);
  return `${group}:${year}-${String(month).padStart(2, '0')}`;
}

/**
 * Whether `address` may be processed: an empty allowlist allows everyone; an entry is an
 * address (case ignored) or `@domain` (that exact domain).
 */
export function senderAllowed(allowlist: readonly string[], address: string | null | undefined): boolean {
  if (allowlist.length === 0) return true;
  if (!address) return false;
  const lower = address.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf('@'));
  return allowlist.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    return wanted.startsWith('@') ? wanted === domain : wanted === lower;
  });
}
