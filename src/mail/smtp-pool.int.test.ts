import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import { SmtpPool, type SmtpPoolOptions } from './smtp-pool.js';

/** Facteur's SMTP pool against a real SMTP server (the scripted sink) on loopback. */

let sink: SmtpSink;
const pools: SmtpPool[] = [];

beforeAll(async () => {
  sink = await startSmtpSink({ users: { app: 'secret' } });
});
afterEach(() => {
  for (const pool of pools.splice(0)) pool.close();
  sink.reset();
});
afterAll(async () => {
  await sink.close();
});

function pool(overrides: Partial<SmtpPoolOptions> = {}): SmtpPool {
  const created = new SmtpPool({
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    requireTLS: false,
    ignoreTLS: true,
    tls: { rejectUnauthorized: false, servername: '127.0.0.1' },
    auth: { user: 'app', pass: 'secret' },
    size: 2,
    maxMessages: 500,
    connectionTimeout: 2000,
    greetingTimeout: 2000,
    socketTimeout: 5000,
    ...overrides,
  });
  pools.push(created);
  return created;
}

const raw = (n: number) => Buffer.from(`Subject: m${n}\r\nMessage-ID: <m${n}@test>\r\n\r\nbody ${n}\r\n`);
const envelope = (n: number) => ({ from: 'app@example.com', to: [`r${n}@example.com`] });

describe('SmtpPool', () => {
  it('sends many messages over at most `size` authenticated sessions, reusing them', async () => {
    const smtp = pool({ size: 2 });
    const infos = await Promise.all(
      Array.from({ length: 20 }, (_, n) => smtp.send(envelope(n), raw(n), { timeoutMs: 5000 })),
    );
    expect(infos.every((info) => info.response.startsWith('250'))).toBe(true);
    expect(infos[3]?.accepted).toEqual(['r3@example.com']);
    expect(sink.messages).toHaveLength(20);
    expect(new Set(sink.messages.map((m) => m.subject))).toEqual(new Set(infos.map((_, n) => `m${n}`)));
    expect(sink.messages.every((m) => m.user === 'app')).toBe(true);
    expect(sink.connections).toBe(2);
  });

  it('opens a new session once one has sent maxMessages', async () => {
    const smtp = pool({ size: 1, maxMessages: 3 });
    for (let n = 0; n < 7; n++) await smtp.send(envelope(n), raw(n), { timeoutMs: 5000 });
    expect(sink.messages).toHaveLength(7);
    expect(sink.connections).toBe(3);
  });

  it('keeps the session after a refused recipient, and says which one', async () => {
    const smtp = pool({ size: 1 });
    sink.onRcpt((ctx) =>
      ctx.address.startsWith('bad') ? { kind: 'reply', code: 550, message: 'no such user' } : 'accept',
    );
    const refused = await smtp
      .send({ from: 'app@example.com', to: ['bad@example.com'] }, raw(1), { timeoutMs: 5000 })
      .then(
        () => undefined,
        (error: { code?: string; responseCode?: number; rejectedErrors?: unknown[] }) => error,
      );
    expect(refused?.code).toBe('EENVELOPE');
    expect(refused?.responseCode).toBe(550);
    const partly = await smtp.send(
      { from: 'app@example.com', to: ['ok@example.com', 'bad2@example.com'] },
      raw(2),
      {
        timeoutMs: 5000,
      },
    );
    expect(partly.accepted).toEqual(['ok@example.com']);
    expect(partly.rejected).toEqual(['bad2@example.com']);
    expect(sink.messages).toHaveLength(1);
    expect(sink.connections).toBe(1);
  });

  it('gives up a message after timeoutMs and closes its session; the next one gets a new session', async () => {
    const smtp = pool({ size: 1 });
    sink.replyOnce('hang');
    await expect(smtp.send(envelope(1), raw(1), { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    await smtp.send(envelope(2), raw(2), { timeoutMs: 5000 });
    expect(sink.messages.map((m) => m.subject)).toEqual(['m2']);
    expect(sink.connections).toBe(2);
  });

  it('fails an aborted message with the reason, whether waiting for a session or on one', async () => {
    const smtp = pool({ size: 1 });
    sink.replyOnce('hang');
    const onSession = new AbortController();
    const waiting = new AbortController();
    const first = smtp.send(envelope(1), raw(1), { timeoutMs: 5000, signal: onSession.signal });
    const second = smtp.send(envelope(2), raw(2), { timeoutMs: 5000, signal: waiting.signal });
    await sink.waitForAttempts(1);
    waiting.abort(new Error('stopping'));
    await expect(second).rejects.toThrow('stopping');
    onSession.abort(new Error('lease lost'));
    await expect(first).rejects.toThrow('lease lost');
    await smtp.send(envelope(3), raw(3), { timeoutMs: 5000 });
    expect(sink.messages.map((m) => m.subject)).toEqual(['m3']);
  });

  it('fails the message of a dropped connection, and of a refused login', async () => {
    const smtp = pool({ size: 1 });
    sink.replyOnce('drop');
    await expect(smtp.send(envelope(1), raw(1), { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ECONNECTION',
    });
    const wrong = pool({ size: 1, auth: { user: 'app', pass: 'wrong' } });
    await expect(wrong.send(envelope(2), raw(2), { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'EAUTH',
    });
    await smtp.send(envelope(3), raw(3), { timeoutMs: 5000 });
    expect(sink.messages.map((m) => m.subject)).toEqual(['m3']);
  });

  it('fails what waits when closed, and refuses sends after', async () => {
    const smtp = pool({ size: 1 });
    sink.replyOnce('hang');
    const sending = smtp.send(envelope(1), raw(1), { timeoutMs: 5000 });
    const queued = smtp.send(envelope(2), raw(2), { timeoutMs: 5000 });
    await sink.waitForAttempts(1);
    smtp.close();
    await expect(queued).rejects.toMatchObject({ code: 'ECONNECTION' });
    await expect(sending).rejects.toMatchObject({ code: 'ECONNECTION' });
    await expect(smtp.send(envelope(3), raw(3), { timeoutMs: 5000 })).rejects.toThrow(/closed/);
    expect(sink.messages).toHaveLength(0);
  });

  it('verifies reachability and credentials without sending', async () => {
    await pool().verify();
    await expect(pool({ auth: { user: 'app', pass: 'wrong' } }).verify()).rejects.toMatchObject({
      code: 'EAUTH',
    });
    await expect(pool({ port: 1 }).verify()).rejects.toMatchObject({ code: 'ESOCKET' });
    expect(sink.messages).toHaveLength(0);
  });
});
