import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { delayedSinkReply, type SmtpSink, startSmtpSink } from './smtp-sink.js';

type SmtpError = Error & { responseCode?: number; code?: string };

function transport(
  sink: SmtpSink,
  extra: { socketTimeout?: number; auth?: { user: string; pass: string } } = {},
) {
  return nodemailer.createTransport({
    host: sink.host,
    port: sink.port,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 2000,
    greetingTimeout: 2000,
    ...extra,
  });
}

function mail(subject: string, messageId = `<${subject.replace(/\W/g, '-')}@test.local>`) {
  return { from: 'sender@test.local', to: 'rcpt@test.local', subject, text: 'Hello', messageId };
}

async function sendError(promise: Promise<unknown>): Promise<SmtpError> {
  try {
    await promise;
  } catch (error) {
    return error as SmtpError;
  }
  throw new Error('expected the send to fail');
}

describe('smtp sink', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  beforeEach(() => sink.reset());

  it('records an accepted message with its envelope, Message-ID and folded Subject', async () => {
    const long = `A subject long enough to be folded by the mail composer ${'word '.repeat(20)}end`;
    const info = await transport(sink).sendMail(mail(long, '<first@test.local>'));
    expect(info.response).toMatch(/^250 /);
    const [message] = await sink.waitForMessages(1);
    expect(message?.messageId).toBe('<first@test.local>');
    expect(message?.raw.toString()).toMatch(/^Subject: [^\r\n]*\r\n[ \t]/m); // really folded
    expect(message?.subject).toBe(long.trim());
    expect(message?.from).toBe('sender@test.local');
    expect(message?.to).toEqual(['rcpt@test.local']);
    expect(message?.raw.toString()).toContain('Hello');
    expect(sink.connections).toBe(1);
    expect(sink.url).toBe(`smtp://127.0.0.1:${sink.port}?starttls=off`);
  });

  it('answers 451 once then accepts', async () => {
    sink.replyOnce({ kind: 'reply', code: 451, message: 'Try again later' });
    const first = await sendError(transport(sink).sendMail(mail('retry')));
    expect(first.responseCode).toBe(451);
    expect(sink.messages).toHaveLength(0);
    await transport(sink).sendMail(mail('retry'));
    expect(sink.messages.map((m) => m.messageId)).toEqual(['<retry@test.local>']);
    expect(sink.attempts.map((a) => [a.attempt, a.code])).toEqual([
      [1, 451],
      [2, 250],
    ]);
  });

  it('answers 550 from a script', async () => {
    sink.script(({ to }) =>
      to.includes('rcpt@test.local') ? { kind: 'reply', code: 550, message: 'No such user' } : 'accept',
    );
    const error = await sendError(transport(sink).sendMail(mail('rejected')));
    expect(error.responseCode).toBe(550);
    expect(sink.messages).toHaveLength(0);
  });

  it('hangs one connection at end of DATA while another one is served', async () => {
    sink.replyOnce('hang');
    const hung = sendError(transport(sink, { socketTimeout: 500 }).sendMail(mail('hung')));
    await sink.waitForAttempts(1);
    await transport(sink).sendMail(mail('concurrent'));
    const error = await hung;
    expect(error.code).toBe('ETIMEDOUT');
    expect(sink.messages.map((m) => m.messageId)).toEqual(['<concurrent@test.local>']);
    expect(sink.connections).toBe(2);
  });

  it('drops the connection at end of DATA', async () => {
    sink.script('drop');
    const error = await sendError(transport(sink).sendMail(mail('dropped')));
    expect(error.code).toBe('ECONNECTION');
    expect(error.responseCode).toBeUndefined();
    expect(sink.attempts).toHaveLength(1);
    expect(sink.messages).toHaveLength(0);
  });

  it('delays the answer, then accepts', async () => {
    sink.replyOnce(
      delayedSinkReply(200, { kind: 'reply', code: 452, message: 'Full' }),
      delayedSinkReply(200),
    );
    const started = Date.now();
    const error = await sendError(transport(sink).sendMail(mail('slow')));
    expect(error.responseCode).toBe(452);
    await transport(sink).sendMail(mail('slow'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(sink.attempts.map((a) => a.code)).toEqual([452, 250]);
    expect(sink.messages).toHaveLength(1);
  });

  it('rejects a recipient at RCPT', async () => {
    sink.onRcpt(({ address }) =>
      address === 'rcpt@test.local' ? { kind: 'reply', code: 550, message: 'Unknown' } : 'accept',
    );
    const error = await sendError(transport(sink).sendMail(mail('bad-rcpt')));
    expect(error.responseCode).toBe(550);
    expect(sink.attempts).toHaveLength(0);
  });

  it('hangs or drops connections at greeting', async () => {
    sink.onConnect('hang');
    const hung = await sendError(transport(sink, { socketTimeout: 500 }).verify());
    expect(hung.code).toBe('ETIMEDOUT');
    sink.onConnect('drop');
    const dropped = await sendError(transport(sink).verify());
    expect(dropped.code).toBe('ECONNECTION');
    sink.onConnect({ kind: 'reply', code: 421, message: 'Too busy' });
    const refused = await sendError(transport(sink).verify());
    expect(refused.responseCode).toBe(421);
    sink.onConnect('accept');
    await expect(transport(sink).verify()).resolves.toBe(true);
  });
});

describe('smtp sink with AUTH', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink({ users: { 'user@x': 'p@ss:word' } });
  });
  afterAll(async () => {
    await sink.close();
  });

  it('accepts the right password and refuses a wrong one or none', async () => {
    expect(sink.url).toBe(`smtp://user%40x:p%40ss%3Aword@127.0.0.1:${sink.port}?starttls=off`);
    await transport(sink, { auth: { user: 'user@x', pass: 'p@ss:word' } }).sendMail(mail('authed'));
    const [message] = await sink.waitForMessages(1);
    expect(message?.user).toBe('user@x');
    const wrong = await sendError(
      transport(sink, { auth: { user: 'user@x', pass: 'nope' } }).sendMail(mail('x')),
    );
    expect(wrong.responseCode).toBe(535);
    const none = await sendError(transport(sink).sendMail(mail('anonymous')));
    expect(none.responseCode).toBe(530);
    expect(sink.messages).toHaveLength(1);
  });
});
