import { describe, expect, it } from 'vitest';
import {
  classifySmtpFailure,
  formatMailbox,
  messageInputSchema,
  newMessageIdHeader,
  parseMailbox,
  requestHash,
} from './model.js';

describe('parseMailbox', () => {
  it('accepts bare addresses, display names and quoted names', () => {
    expect(parseMailbox('ada@example.com')).toEqual({ address: 'ada@example.com' });
    expect(parseMailbox('Ada Lovelace <ada@example.com>')).toEqual({
      name: 'Ada Lovelace',
      address: 'ada@example.com',
    });
    expect(parseMailbox('"Lovelace, Ada" <ada@example.com>')).toEqual({
      name: 'Lovelace, Ada',
      address: 'ada@example.com',
    });
    expect(parseMailbox('root@localhost')).toEqual({ address: 'root@localhost' });
    expect(parseMailbox('x@[192.0.2.1]')).toEqual({ address: 'x@[192.0.2.1]' });
    expect(parseMailbox('josé@exemple.fr')).toEqual({ address: 'josé@exemple.fr' });
  });

  it('refuses what would break or inject into headers, saying why', () => {
    expect(parseMailbox('a@example.com\r\nBcc: x@y.z')).toEqual({ problem: 'must not contain line breaks' });
    expect(parseMailbox('no-at-sign')).toMatchObject({
      problem: expect.stringContaining('not an email address'),
    });
    expect(parseMailbox('a..b@example.com')).toMatchObject({
      problem: expect.stringContaining('local part'),
    });
    expect(parseMailbox('a@-bad-.com')).toMatchObject({ problem: expect.stringContaining('domain') });
    expect(parseMailbox('Ada <ada@example.com')).toMatchObject({
      problem: expect.stringContaining('angle brackets'),
    });
  });

  it('formats names that need quoting', () => {
    expect(formatMailbox({ name: 'Lovelace, Ada', address: 'a@b.c' })).toBe('"Lovelace, Ada" <a@b.c>');
    expect(formatMailbox({ name: 'Ada', address: 'a@b.c' })).toBe('Ada <a@b.c>');
  });
});

describe('messageInputSchema', () => {
  it('accepts a minimal message and rejects reserved headers and unknown fields', () => {
    expect(messageInputSchema.safeParse({ to: ['a@b.co'], subject: 's', html: '<p>x</p>' }).success).toBe(
      true,
    );
    const reserved = messageInputSchema.safeParse({
      to: ['a@b.co'],
      subject: 's',
      text: 't',
      headers: { Subject: 'x' },
    });
    expect(reserved.success).toBe(false);
    expect(reserved.error?.issues[0]?.message).toMatch(/set by Facteur/);
    expect(
      messageInputSchema.safeParse({ to: ['a@b.co'], subject: 's', text: 't', attachments: [] }).success,
    ).toBe(false);
  });

  it('caps recipients across to, cc and bcc', () => {
    const many = Array.from({ length: 60 }, (_, i) => `m${i}@example.com`);
    const result = messageInputSchema.safeParse({ to: many, cc: many, subject: 's', text: 't' });
    expect(result.error?.issues.map((i) => i.message)).toContainEqual(
      expect.stringMatching(/120 recipients/),
    );
  });
});

describe('requestHash', () => {
  it('ignores key order and the idempotency key, but not content', () => {
    const a = requestHash({ to: ['a@b.co'], subject: 's', text: 't', idempotencyKey: 'k1' });
    const b = requestHash({ text: 't', subject: 's', to: ['a@b.co'], idempotencyKey: 'k2' });
    expect(a).toBe(b);
    expect(requestHash({ to: ['a@b.co'], subject: 'S', text: 't' })).not.toBe(a);
  });
});

describe('newMessageIdHeader', () => {
  it('uses the sender domain, or a safe fallback', () => {
    expect(newMessageIdHeader('id1', 'Reports <r@mail.example.com>')).toBe('<id1@mail.example.com>');
    expect(newMessageIdHeader('id1', 'r@[192.0.2.1]')).toBe('<id1@facteur.local>');
  });
});

describe('classifySmtpFailure', () => {
  const cases: Array<[string, Parameters<typeof classifySmtpFailure>[0], string, boolean]> = [
    [
      '451 greylisting',
      { responseCode: 451, response: '451 4.7.1 try later', message: 'x', command: 'DATA' },
      'SMTP_TRANSIENT',
      true,
    ],
    [
      '550 unknown user',
      { responseCode: 550, response: '550 5.1.1 unknown', message: 'x', command: 'RCPT TO' },
      'SMTP_REJECTED',
      false,
    ],
    [
      '552 too big',
      { code: 'EMESSAGE', response: '552 5.3.4 too big', message: 'x' },
      'SMTP_REJECTED',
      false,
    ],
    [
      '535 bad credentials',
      { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 bad credentials', message: 'x' },
      'SMTP_AUTH',
      true,
    ],
    ['greeting timeout', { code: 'ETIMEDOUT', message: 'Greeting never received' }, 'SMTP_TIMEOUT', true],
    ['socket timeout', { code: 'ETIMEDOUT', message: 'Timeout' }, 'SMTP_TIMEOUT', true],
    ['refused', { code: 'ESOCKET', message: 'connect ECONNREFUSED 127.0.0.1:25' }, 'SMTP_CONNECT', true],
    ['dropped', { code: 'ECONNECTION', message: 'Connection closed unexpectedly' }, 'SMTP_CONNECT', true],
    ['dns', { code: 'EDNS', message: 'getaddrinfo ENOTFOUND smtp.nowhere' }, 'SMTP_CONNECT', true],
    [
      'bad certificate',
      { code: 'ESOCKET', message: 'self-signed certificate in certificate chain' },
      'SMTP_TLS',
      true,
    ],
    ['odd protocol', { code: 'EPROTOCOL', message: 'Invalid greeting' }, 'SMTP_PROTOCOL', true],
  ];
  it.each(cases)('%s', (_name, failure, code, retryable) => {
    const error = classifySmtpFailure(failure);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    if (failure.response) expect(error.message).toContain(failure.response);
  });
});
