import type { AppError } from '../core/errors.js';
import type { RefusedRecipient } from './transport.js';

/**
 * Which replies of a transport's server mean "you send too fast": pure. An SMTP 421 or 451
 * whose enhanced status is 4.7.x (the security and policy class, where servers put their
 * throttling: Gmail's 421 4.7.28, Microsoft's 451 4.7.500, Postfix's policy limits) or whose
 * text speaks of a rate, of too many messages or connections, or of throttling; and a
 * provider's 429 or throttling error (`PROVIDER_RATE_LIMITED`). "Too many recipients" is about
 * the message, not the pace, and is not one.
 */

/** A rate-limit reply: what the server said, and how long it asked to wait, if it did. */
export interface RateLimitSignal {
  reply: string | null;
  retryAfterMs?: number;
}

const RATE_CODES = new Set([421, 451]);
const POLICY_STATUS = /(?:^|[\s-])4\.7\.\d{1,3}\b/;
const RATE_WORDS = /\brate\b|rate[- ]limit|too many|throttl|slow down/i;
const NOT_ABOUT_PACE = /too many recipients/i;

/** Whether one SMTP reply (code and text) asks to slow down. */
export function isRateLimitReply(code: number | null | undefined, reply: string | null | undefined): boolean {
  if (code === null || code === undefined || !RATE_CODES.has(code)) return false;
  const text = reply ?? '';
  if (NOT_ABOUT_PACE.test(text)) return false;
  return POLICY_STATUS.test(text) || RATE_WORDS.test(text);
}

/**
 * Whether a failed send met a rate-limit reply: for SMTP, the reply to the message, or every
 * recipient refused with one; for a provider, its 429 or throttling error.
 */
export function rateLimitSignal(error: AppError): RateLimitSignal | undefined {
  if (error.code === 'PROVIDER_RATE_LIMITED')
    return {
      reply: error.message,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  if (error.code !== 'SMTP_TRANSIENT') return undefined;
  const details = (error.details ?? {}) as {
    smtpCode?: number | null;
    smtpResponse?: string | null;
    refusedRecipients?: RefusedRecipient[];
  };
  if (isRateLimitReply(details.smtpCode, details.smtpResponse))
    return { reply: details.smtpResponse ?? null };
  const refused = details.refusedRecipients ?? [];
  if (refused.length > 0 && refused.every((r) => isRateLimitReply(r.smtpCode, r.smtpResponse)))
    return { reply: refused[0]?.smtpResponse ?? null };
  return undefined;
}

/** Whether some recipients of a message that went out were deferred with a rate-limit reply. */
export function refusalsSignal(refused: readonly RefusedRecipient[]): RateLimitSignal | undefined {
  const limited = refused.find((r) => r.permanent !== true && isRateLimitReply(r.smtpCode, r.smtpResponse));
  return limited ? { reply: limited.smtpResponse } : undefined;
}
