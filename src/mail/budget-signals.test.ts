import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import { isRateLimitReply, rateLimitSignal, refusalsSignal } from './budget-signals.js';

describe('rate-limit replies', () => {
  it.each([
    [421, '421 4.7.0 Try again later, closing connection.', true],
    [421, '421-4.7.28 Our system has detected an unusual rate of unsolicited mail', true],
    [451, '451 4.7.500 Server busy. Please try again later', true],
    [451, '451 Too many messages, slow down', true],
    [421, '421 Too many concurrent SMTP connections', true],
    [451, '451 4.3.0 Rate limit exceeded', true],
    [421, '421 4.3.2 Service shutting down', false],
    [451, '451 4.3.0 Temporary lookup failure', false],
    [451, '451 4.5.3 Too many recipients', false],
    [450, '450 4.7.1 Client host rejected: rate', false],
    [550, '550 5.7.1 Too many messages', false],
    [null, '4.7.0 rate', false],
  ])('%s %s: %s', (code, reply, expected) => {
    expect(isRateLimitReply(code, reply)).toBe(expected);
  });

  it('reads the reply to the message, or every refused recipient', () => {
    const whole = new AppError('SMTP_TRANSIENT', 'temporary SMTP failure', {
      details: { smtpCode: 421, smtpResponse: '421 4.7.0 Try again later' },
    });
    expect(rateLimitSignal(whole)).toEqual({ reply: '421 4.7.0 Try again later' });
    const everyRecipient = new AppError('SMTP_TRANSIENT', 'refused', {
      details: {
        smtpCode: null,
        refusedRecipients: [
          { address: 'a@x', smtpCode: 451, smtpResponse: '451 4.7.1 rate limited' },
          { address: 'b@x', smtpCode: 451, smtpResponse: '451 4.7.1 rate limited' },
        ],
      },
    });
    expect(rateLimitSignal(everyRecipient)).toEqual({ reply: '451 4.7.1 rate limited' });
    const mixed = new AppError('SMTP_TRANSIENT', 'refused', {
      details: {
        refusedRecipients: [
          { address: 'a@x', smtpCode: 451, smtpResponse: '451 4.7.1 rate limited' },
          { address: 'b@x', smtpCode: 452, smtpResponse: '452 mailbox full' },
        ],
      },
    });
    expect(rateLimitSignal(mixed)).toBeUndefined();
    expect(rateLimitSignal(new AppError('SMTP_REJECTED', '550 no'))).toBeUndefined();
    expect(refusalsSignal([{ address: 'a@x', smtpCode: 421, smtpResponse: '421 4.7.0 slow down' }])).toEqual({
      reply: '421 4.7.0 slow down',
    });
  });

  it("takes a provider's 429 with its Retry-After", () => {
    const limited = new AppError('PROVIDER_RATE_LIMITED', 'postmark answered 429', { retryAfterMs: 30_000 });
    expect(rateLimitSignal(limited)).toEqual({ reply: 'postmark answered 429', retryAfterMs: 30_000 });
  });
});
