import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { addressProblem } from '../../core/email-address.js';
import { hasForbiddenChars, replaceForbiddenChars, truncateText } from '../../core/text.js';
import type { Feedback, FeedbackKind } from '../feedback-model.js';

/**
 * What every provider's webhook reading shares (pure, no I/O): the batch a request is read
 * into, the cleaning of the text a provider sends (its routes take mail text: NUL and unpaired
 * surrogates are replaced here, not refused at the edge, so that one odd diagnostic does not
 * make the provider send a whole batch again), and the checks of signed timestamps.
 */

/** The providers whose webhooks Facteur reads. */
export const FEEDBACK_PROVIDERS = ['postmark', 'sendgrid', 'mailgun', 'ses'] as const;
export type FeedbackProvider = (typeof FEEDBACK_PROVIDERS)[number];

/** An item of a request that could not be read: where it is and why. */
export interface Unreadable {
  /** Its index in the request (SendGrid: the event; SES: the recipient; 0 for single records). */
  index: number;
  reason: string;
}

/** A request's body, read. */
export interface ReadBatch {
  /** Items in the request: events, records, or (SES) recipients. */
  received: number;
  /** The bounces, complaints and unsubscribes read from them. */
  items: Feedback[];
  /** Items that are not feedback (deliveries, opens, deferrals): taken and dropped. */
  ignored: number;
  unreadable: Unreadable[];
}

/** A batch of `received` items, none read yet. */
export function emptyBatch(received = 0): ReadBatch {
  return { received, items: [], ignored: 0, unreadable: [] };
}

/** Longest diagnostic kept, as `Feedback.diagnostic` says. */
export const MAX_DIAGNOSTIC = 1000;

/** `value` as text Facteur may store: forbidden characters replaced, trimmed, at most `max` long; undefined when empty or not a string. */
export function cleanText(value: unknown, max = MAX_DIAGNOSTIC): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = truncateText(replaceForbiddenChars(value).text.trim(), max);
  return text === '' ? undefined : text;
}

/** The first of `values` that is text, cleaned. */
export function firstText(...values: unknown[]): string | undefined {
  for (const value of values) {
    const text = cleanText(value);
    if (text !== undefined) return text;
  }
  return undefined;
}

/** A Message-ID without its angle brackets (`<a@b>` -> `a@b`), cleaned; undefined when empty. */
export function bareMessageId(value: unknown): string | undefined {
  const text = cleanText(value, 998);
  if (text === undefined) return undefined;
  const bare = text.replace(/^<\s*/, '').replace(/\s*>$/, '');
  return bare === '' ? undefined : bare;
}

/** Why `value` is not a recipient address Facteur can use, or undefined when it is one. */
export function recipientProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'is required (the recipient address)';
  const address = value.trim();
  if (hasForbiddenChars(address)) return 'contains NUL or an unpaired surrogate';
  return addressProblem(address);
}

/** A recipient address field of a provider's schema: trimmed, a valid address. */
export const recipientField = z
  .string()
  .max(1000)
  .transform((value) => value.trim())
  .superRefine((value, context) => {
    const problem = recipientProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

/** An instant from an ISO-8601 string or epoch seconds (a number or digits), or undefined. */
export function instantOf(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return instantOf(Number(value));
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** An enhanced status code (RFC 3463) such as `5.1.1`, found in `value`, or undefined. */
export function enhancedStatus(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(value)?.[1];
}

/** One Feedback, with the optional fields present only when known. */
export function feedbackOf(
  source: FeedbackProvider,
  kind: FeedbackKind,
  address: string,
  facts: {
    messageIdHeader?: string | undefined;
    providerMessageId?: string | undefined;
    status?: string | undefined;
    diagnostic?: string | undefined;
    occurredAt?: number | undefined;
  },
): Feedback {
  const out: Feedback = { kind, address: address.trim(), source };
  if (facts.messageIdHeader) out.messageIdHeader = facts.messageIdHeader;
  if (facts.providerMessageId) out.providerMessageId = facts.providerMessageId;
  if (facts.status) out.status = facts.status;
  if (facts.diagnostic) out.diagnostic = facts.diagnostic;
  if (facts.occurredAt !== undefined) out.occurredAt = facts.occurredAt;
  return out;
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
export function secretsEqual(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** How a signed timestamp (epoch seconds) stands against the clock. */
export type TimestampCheck = 'ok' | 'stale' | 'malformed';

/** Whether `seconds` (as the provider sent it) is within `maxAgeMs` of `now`, either way. */
export function checkSignedTimestamp(seconds: unknown, now: number, maxAgeMs: number): TimestampCheck {
  const text = typeof seconds === 'number' ? String(seconds) : seconds;
  if (typeof text !== 'string' || !/^\d{1,12}(\.\d+)?$/.test(text.trim())) return 'malformed';
  const at = Number(text) * 1000;
  return Math.abs(now - at) <= maxAgeMs ? 'ok' : 'stale';
}
