import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.js';
import { mayFailOver, smtpNotTaken } from '../failover.js';
import { readMailgunAnswer } from './mailgun.js';
import { classifyNetworkFailure, type ProviderResponse, retryAfterMs } from './model.js';
import { inactiveAddresses, postmarkEmailBody, readPostmarkAnswer } from './postmark.js';
import { readSendgridAnswer, sendgridMailBody } from './sendgrid.js';
import { readSesAnswer, sesErrorType } from './ses.js';

const json = (status: number, body: unknown, headers: Record<string, string> = {}): ProviderResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const text = (status: number, body: string): ProviderResponse => ({ status, headers: {}, body });

/** The AppError `read` throws. */
function thrown(read: () => unknown): AppError {
  try {
    read();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}
const details = (error: AppError) => error.details as { notTaken: boolean; httpStatus: number | null };

const message = {
  from: 'Shop <shop@example.com>',
  to: ['Ann <ann@example.com>'],
  cc: ['cc@example.com'],
  bcc: ['bcc@example.com'],
  replyTo: 'help@example.com',
  subject: 'Hi',
  text: 'plain',
  html: '<p>h</p>',
  headers: { 'X-Campaign': 'daily' },
  messageId: '<id@example.com>',
};

describe('Postmark', () => {
  const recipients = ['ann@example.com', 'gone@example.com'];
  it('reads a success with its MessageID', () => {
    const result = readPostmarkAnswer(
      json(200, { ErrorCode: 0, Message: 'OK', MessageID: 'm-1', To: 'x', SubmittedAt: 'now' }),
      recipients,
    );
    expect(result).toMatchObject({ providerMessageId: 'm-1', accepted: recipients, rejected: [] });
  });
  it('ErrorCode 406 for one of several: a permanent per-recipient refusal, the others accepted', () => {
    const result = readPostmarkAnswer(
      json(200, {
        ErrorCode: 406,
        MessageID: 'm-2',
        Message:
          'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: gone@example.com. Inactive recipients are ones that have generated a hard bounce.',
      }),
      recipients,
    );
    expect(result.accepted).toEqual(['ann@example.com']);
    expect(result.rejected).toEqual([
      expect.objectContaining({ address: 'gone@example.com', providerCode: 'postmark:406', permanent: true }),
    ]);
  });
  it('ErrorCode 406 for every recipient: PROVIDER_REJECTED, not retried', () => {
    const error = thrown(() =>
      readPostmarkAnswer(
        json(422, { ErrorCode: 406, Message: 'Found inactive addresses: gone@example.com.' }),
        ['gone@example.com'],
      ),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', retryable: false });
  });
  it.each([
    [300, 'not a valid email'],
    [400, 'sender signature is not found'],
    [401, 'sender signature is not confirmed'],
  ])('ErrorCode %i is PROVIDER_REJECTED: %s', (code, why) => {
    const error = thrown(() => readPostmarkAnswer(json(422, { ErrorCode: code, Message: 'x' }), recipients));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(why);
  });
  it('ErrorCode 10 (bad token) is PROVIDER_AUTH, permanent, and names the setting', () => {
    const error = thrown(() =>
      readPostmarkAnswer(json(401, { ErrorCode: 10, Message: 'Bad or missing API token' }), recipients),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_AUTH', retryable: false });
    expect(error.message).toMatch(/FACTEUR_TRANSPORTS.*Not retried/);
  });
  it('429 and 5xx prove it was not taken: retryable and safe to fail over', () => {
    const limited = thrown(() =>
      readPostmarkAnswer(
        json(429, { ErrorCode: 429, Message: 'slow down' }, { 'retry-after': '30' }),
        recipients,
      ),
    );
    expect(limited).toMatchObject({ code: 'PROVIDER_RATE_LIMITED', retryable: true, retryAfterMs: 30_000 });
    expect(mayFailOver(limited)).toBe(true);
    const down = thrown(() => readPostmarkAnswer(text(503, 'Service Unavailable'), recipients));
    expect(down).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryable: true });
    expect(details(down)).toMatchObject({ notTaken: true, httpStatus: 503 });
  });
  it('an unreadable 200 is PROVIDER_PROTOCOL and not failed over (it may have been taken)', () => {
    const error = thrown(() => readPostmarkAnswer(text(200, '<html>'), recipients));
    expect(error.code).toBe('PROVIDER_PROTOCOL');
    expect(mayFailOver(error)).toBe(false);
  });
  it('builds the documented body, Facteur Message-ID first among the headers', () => {
    expect(postmarkEmailBody(message, undefined, 'outbound')).toEqual({
      From: 'Shop <shop@example.com>',
      To: 'Ann <ann@example.com>',
      Cc: 'cc@example.com',
      Bcc: 'bcc@example.com',
      ReplyTo: 'help@example.com',
      Subject: 'Hi',
      HtmlBody: '<p>h</p>',
      TextBody: 'plain',
      Headers: [
        { Name: 'Message-ID', Value: '<id@example.com>' },
        { Name: 'X-Campaign', Value: 'daily' },
      ],
      MessageStream: 'outbound',
    });
    expect(inactiveAddresses('Found inactive addresses: a@x.com, B@y.org. Inactive recipients ...')).toEqual([
      'a@x.com',
      'b@y.org',
    ]);
  });
});

describe('SendGrid', () => {
  it('202 with X-Message-Id is a success', () => {
    const result = readSendgridAnswer({ status: 202, headers: { 'x-message-id': 'sg-1' }, body: '' }, [
      'a@x.com',
    ]);
    expect(result).toMatchObject({ providerMessageId: 'sg-1', accepted: ['a@x.com'] });
  });
  it('400 with errors[] is PROVIDER_REJECTED quoting message and field', () => {
    const error = thrown(() =>
      readSendgridAnswer(
        json(400, {
          errors: [
            {
              message: 'Does not contain a valid address.',
              field: 'personalizations.0.to.0.email',
              help: null,
            },
          ],
        }),
        [],
      ),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', retryable: false });
    expect(error.message).toContain('Does not contain a valid address. (personalizations.0.to.0.email)');
  });
  it('401 is PROVIDER_AUTH; 403 for an unverified sender is PROVIDER_REJECTED', () => {
    expect(
      thrown(() =>
        readSendgridAnswer(
          json(401, { errors: [{ message: 'The provided authorization grant is invalid' }] }),
          [],
        ),
      ).code,
    ).toBe('PROVIDER_AUTH');
    const sender = thrown(() =>
      readSendgridAnswer(
        json(403, { errors: [{ message: 'The from address does not match a verified Sender Identity.' }] }),
        [],
      ),
    );
    expect(sender.code).toBe('PROVIDER_REJECTED');
  });
  it('413 is permanent, 429 and 500 are retryable', () => {
    expect(thrown(() => readSendgridAnswer(json(413, { errors: [] }), [])).retryable).toBe(false);
    expect(thrown(() => readSendgridAnswer(json(429, { errors: [] }), [])).code).toBe(
      'PROVIDER_RATE_LIMITED',
    );
    expect(thrown(() => readSendgridAnswer(text(500, ''), [])).code).toBe('PROVIDER_UNAVAILABLE');
  });
  it('puts text/plain first and the envelope of a retry alone', () => {
    const body = sendgridMailBody(message, ['cc@example.com']);
    expect(body.content).toEqual([
      { type: 'text/plain', value: 'plain' },
      { type: 'text/html', value: '<p>h</p>' },
    ]);
    expect(body.personalizations).toEqual([{ to: [{ email: 'cc@example.com' }] }]);
    expect(body.from).toEqual({ email: 'shop@example.com', name: 'Shop' });
  });
});

describe('Mailgun', () => {
  it('200 with an id is a success', () => {
    const result = readMailgunAnswer(
      json(200, { id: '<mg-1@mg.example.com>', message: 'Queued. Thank you.' }),
      ['a@x.com'],
    );
    expect(result.providerMessageId).toBe('<mg-1@mg.example.com>');
  });
  it.each([
    [400, 'PROVIDER_REJECTED'],
    [402, 'PROVIDER_REJECTED'],
    [404, 'PROVIDER_REJECTED'],
    [401, 'PROVIDER_AUTH'],
    [429, 'PROVIDER_RATE_LIMITED'],
    [502, 'PROVIDER_UNAVAILABLE'],
  ])('%i is %s', (status, code) => {
    const error = thrown(() =>
      readMailgunAnswer(status === 401 ? text(401, 'Forbidden') : json(status, { message: 'x' }), []),
    );
    expect(error.code).toBe(code);
  });
});

describe('SES v2', () => {
  const sesError = (status: number, type: string, message = 'why') =>
    json(
      status,
      { message },
      { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/` },
    );
  it('200 with MessageId is a success', () => {
    expect(readSesAnswer(json(200, { MessageId: 'ses-1' }), ['a@x.com']).providerMessageId).toBe('ses-1');
  });
  it.each([
    ['MessageRejected', 400, 'PROVIDER_REJECTED', false],
    ['MailFromDomainNotVerifiedException', 400, 'PROVIDER_REJECTED', false],
    ['BadRequestException', 400, 'PROVIDER_REJECTED', false],
    ['NotFoundException', 404, 'PROVIDER_REJECTED', false],
    ['AccountSuspendedException', 400, 'PROVIDER_AUTH', false],
    ['InvalidSignatureException', 403, 'PROVIDER_AUTH', false],
    ['SendingPausedException', 400, 'PROVIDER_UNAVAILABLE', true],
    ['TooManyRequestsException', 429, 'PROVIDER_RATE_LIMITED', true],
    ['LimitExceededException', 400, 'PROVIDER_RATE_LIMITED', true],
  ])('%s (%i) is %s', (type, status, code, retryable) => {
    const error = thrown(() => readSesAnswer(sesError(status, type), []));
    expect(error).toMatchObject({ code, retryable });
    expect(mayFailOver(error)).toBe(retryable);
  });
  it('reads the type from the body __type too', () => {
    expect(sesErrorType(json(400, { __type: 'com.amazon.coral#MessageRejected', message: 'x' }))).toBe(
      'MessageRejected',
    );
  });
});

describe('network failures and failover', () => {
  it('a connection that never opened is safe to fail over; a reset or a timeout is not', () => {
    const refused = classifyNetworkFailure(
      'postmark',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      false,
    );
    expect(refused.code).toBe('PROVIDER_UNAVAILABLE');
    expect(mayFailOver(refused)).toBe(true);
    const dns = classifyNetworkFailure(
      'ses',
      { message: 'fetch failed', cause: { code: 'ENOTFOUND' } },
      false,
    );
    expect(mayFailOver(dns)).toBe(true);
    const reset = classifyNetworkFailure(
      'ses',
      Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      false,
    );
    expect(reset.code).toBe('PROVIDER_TIMEOUT');
    expect(mayFailOver(reset)).toBe(false);
    const timeout = classifyNetworkFailure('ses', new Error('aborted'), true);
    expect(timeout).toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: true });
    expect(mayFailOver(timeout)).toBe(false);
  });
  it('SMTP: a 4xx for the whole message or a refused connection fails over; a timeout does not', () => {
    expect(smtpNotTaken(new AppError('SMTP_TRANSIENT', '451'))).toBe(true);
    expect(smtpNotTaken(new AppError('SMTP_CONNECT', 'refused', { details: { command: 'CONN' } }))).toBe(
      true,
    );
    expect(smtpNotTaken(new AppError('SMTP_CONNECT', 'reset', { details: { command: 'DATA' } }))).toBe(false);
    expect(mayFailOver(new AppError('SMTP_TIMEOUT', 'slow'))).toBe(false);
    expect(mayFailOver(new AppError('SMTP_REJECTED', '550'))).toBe(false);
  });
  it('reads Retry-After in seconds or as a date, bounded', () => {
    expect(retryAfterMs('5')).toBe(5000);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(
      10_000,
    );
    expect(retryAfterMs('99999')).toBe(3_600_000);
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
