import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import { ManualClock } from '../core/clock.js';

const skip = await databaseSkipReason();

interface Attempt {
  number: number;
  outcome: string;
  smtpCode: number | null;
  smtpResponse: string | null;
  errorCode: string | null;
  rejected: Array<{ address: string; smtpCode: number | null; smtpResponse: string | null }> | null;
}
interface MessageAnswer {
  id: string;
  status: string;
  messageId: string;
  nextAttemptAt: string | null;
  sentAt: string | null;
  lastError: { code: string; message: string } | null;
  attempts: Attempt[];
}

/** Retries 10 s and 1 min after a failure (±10% jitter), on a clock the tests move. */
const RETRY_ENV = {
  FACTEUR_SEND_RETRY_SCHEDULE: '10s,1m',
  FACTEUR_SMTP_SOCKET_TIMEOUT: '500ms',
  FACTEUR_SMTP_GREETING_TIMEOUT: '500ms',
};
const FIRST_RETRY_MS = 11_000;

describe.skipIf(skip)('sending through an SMTP server', () => {
  let sink: SmtpSink;
  let app: TestFacteur;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    sink = await startSmtpSink();
    app = await startTestFacteur({ FACTEUR_SMTP_URL: sink.url, ...RETRY_ENV }, { clock });
  });
  afterEach(() => sink.reset());
  afterAll(async () => {
    await app?.close();
    await sink?.close();
  });

  async function send(to: string[] = ['bob@example.com']): Promise<string> {
    const answer = await app.request<{ id: string }>('POST', '/api/messages', {
      body: { to, subject: 'Report', text: 'Numbers.' },
    });
    expect(answer.status).toBe(202);
    return answer.body.id;
  }
  const read = async (id: string) => (await app.request<MessageAnswer>('GET', `/api/messages/${id}`)).body;
  const until = (id: string, check: (m: MessageAnswer) => void) =>
    vi.waitFor(
      async () => {
        const message = await read(id);
        check(message);
        return message;
      },
      { timeout: 10_000, interval: 25 },
    );

  it('451 then 250: sent, with both attempts and their replies', async () => {
    sink.replyOnce({ kind: 'reply', code: 451, message: '4.7.1 Greylisted, try again later' });
    const id = await send();
    const waiting = await until(id, (m) =>
      expect(m).toMatchObject({ status: 'queued', attempts: [{ outcome: 'transient_failure' }] }),
    );
    expect(waiting.attempts[0]).toMatchObject({
      smtpCode: 451,
      smtpResponse: expect.stringContaining('Greylisted'),
      errorCode: 'SMTP_TRANSIENT',
    });
    expect(waiting.lastError?.code).toBe('SMTP_TRANSIENT');
    const retryAt = Date.parse(waiting.nextAttemptAt ?? '');
    expect(retryAt - clock.now()).toBeGreaterThanOrEqual(9000);
    expect(retryAt - clock.now()).toBeLessThanOrEqual(11_000);
    clock.advance(FIRST_RETRY_MS);
    const sent = await until(id, (m) => expect(m.status).toBe('sent'));
    expect(sent.attempts.map((a) => [a.number, a.outcome, a.smtpCode])).toEqual([
      [1, 'transient_failure', 451],
      [2, 'sent', 250],
    ]);
    expect(sent.lastError).toBeNull();
    expect(sink.messages.map((m) => m.messageId)).toEqual([sent.messageId]);
  });

  it('550: failed at once with the server reply, no retry', async () => {
    sink.replyOnce({ kind: 'reply', code: 550, message: '5.1.1 <bob@example.com>: user unknown' });
    const id = await send();
    const failed = await until(id, (m) => expect(m.status).toBe('failed'));
    expect(failed.attempts).toEqual([
      expect.objectContaining({ outcome: 'permanent_failure', smtpCode: 550 }),
    ]);
    expect(failed.lastError).toMatchObject({
      code: 'SMTP_REJECTED',
      message: expect.stringContaining('550 5.1.1 <bob@example.com>: user unknown'),
    });
    clock.advance(FIRST_RETRY_MS * 10);
    await new Promise((r) => setTimeout(r, 100));
    expect((await read(id)).attempts).toHaveLength(1);
    expect(sink.messages).toHaveLength(0);
  });

  it('a server that hangs: the attempt times out and is retried, and the API answers meanwhile', async () => {
    sink.replyOnce('hang');
    const id = await send();
    await sink.waitForAttempts(1);
    // While the SMTP conversation hangs, the API keeps answering and accepting work.
    const during = await read(id);
    expect(during).toMatchObject({ status: 'sending', attempts: [{ outcome: 'in_progress' }] });
    expect((await app.request('GET', '/healthz', { auth: false })).status).toBe(200);
    const other = await send(['carol@example.com']);
    const timedOut = await until(id, (m) => expect(m.attempts[0]?.outcome).toBe('transient_failure'));
    expect(timedOut.attempts[0]?.errorCode).toBe('SMTP_TIMEOUT');
    await until(other, (m) => expect(m.status).toBe('sent'));
    clock.advance(FIRST_RETRY_MS);
    const sent = await until(id, (m) => expect(m.status).toBe('sent'));
    expect(sent.attempts.map((a) => a.outcome)).toEqual(['transient_failure', 'sent']);
  });

  it('a dropped connection is a retryable connection error', async () => {
    sink.replyOnce('drop');
    const id = await send();
    const dropped = await until(id, (m) => expect(m.attempts[0]?.outcome).toBe('transient_failure'));
    expect(dropped.attempts[0]?.errorCode).toBe('SMTP_CONNECT');
    clock.advance(FIRST_RETRY_MS);
    await until(id, (m) => expect(m.status).toBe('sent'));
  });

  it('a recipient refused with a 5xx among others: sent, with the refusal recorded', async () => {
    sink.onRcpt((ctx) =>
      ctx.address === 'gone@example.com'
        ? { kind: 'reply', code: 550, message: '5.1.1 no such user' }
        : 'accept',
    );
    const id = await send(['bob@example.com', 'gone@example.com']);
    const sent = await until(id, (m) => expect(m.status).toBe('sent'));
    expect(sent.attempts).toHaveLength(1);
    expect(sent.attempts[0]).toMatchObject({
      outcome: 'sent',
      rejected: [
        { address: 'gone@example.com', smtpCode: 550, smtpResponse: expect.stringContaining('no such user') },
      ],
    });
    expect(sink.messages[0]?.to).toEqual(['bob@example.com']);
  });

  it('a recipient deferred with a 4xx among others: the next attempt goes to that recipient alone', async () => {
    let refusals = 0;
    sink.onRcpt((ctx) =>
      ctx.address === 'busy@example.com' && refusals++ === 0
        ? { kind: 'reply', code: 452, message: '4.2.2 mailbox full, try later' }
        : 'accept',
    );
    const id = await send(['bob@example.com', 'busy@example.com']);
    const partial = await until(id, (m) =>
      expect(m).toMatchObject({ status: 'queued', attempts: [{ outcome: 'partial' }] }),
    );
    expect(partial.attempts[0]?.rejected).toEqual([
      { address: 'busy@example.com', smtpCode: 452, smtpResponse: expect.stringContaining('mailbox full') },
    ]);
    expect(partial.sentAt).not.toBeNull(); // some recipients have it
    expect(partial.lastError?.code).toBe('SMTP_TRANSIENT');
    clock.advance(FIRST_RETRY_MS);
    const sent = await until(id, (m) => expect(m.status).toBe('sent'));
    expect(sent.attempts.map((a) => a.outcome)).toEqual(['partial', 'sent']);
    expect(sink.messages.map((m) => m.to)).toEqual([['bob@example.com'], ['busy@example.com']]);
    expect(new Set(sink.messages.map((m) => m.messageId)).size).toBe(1); // the same message, not a new one
  });

  it('every recipient refused, some for now and some for good: only the deferred ones are retried', async () => {
    let busy = 0;
    sink.onRcpt((ctx) => {
      if (ctx.address === 'gone@example.com')
        return { kind: 'reply', code: 550, message: '5.1.1 no such user' };
      return busy++ === 0 ? { kind: 'reply', code: 451, message: '4.3.0 try later' } : 'accept';
    });
    const id = await send(['gone@example.com', 'busy@example.com']);
    await until(id, (m) =>
      expect(m).toMatchObject({ status: 'queued', attempts: [{ outcome: 'transient_failure' }] }),
    );
    clock.advance(FIRST_RETRY_MS);
    await until(id, (m) => expect(m.status).toBe('sent'));
    expect(sink.messages.map((m) => m.to)).toEqual([['busy@example.com']]);
  });
});

describe.skipIf(skip)('a settlement batch that fails', () => {
  it('is written again item by item, and each send still records its attempt and marks its message sent', async () => {
    const sink = await startSmtpSink();
    const app = await startTestFacteur({ FACTEUR_SMTP_URL: sink.url });
    try {
      // A follower that fails the first time it runs: the whole batch rolls back and the engine
      // writes each settlement alone. The send's own hook must find its run the second time too.
      let failed: string | undefined;
      app.facteur.engine.follow<{ messageId: string }>('mail.send', async (_tx, settled) => {
        if (failed === undefined) {
          failed = settled[0]?.job.payload.messageId;
          throw new Error('a follower failed');
        }
      });
      const ids: string[] = [];
      for (const to of ['a@example.com', 'b@example.com', 'c@example.com']) {
        const answer = await app.request<{ id: string }>('POST', '/api/messages', {
          body: { to: [to], subject: 's', text: 't' },
        });
        expect(answer.status).toBe(202);
        ids.push(answer.body.id);
      }
      for (const id of ids) {
        const done = await vi.waitFor(
          async () => {
            const m = (await app.request<MessageAnswer>('GET', `/api/messages/${id}`)).body;
            expect(m.status).toBe('sent');
            return m;
          },
          { timeout: 10_000, interval: 25 },
        );
        expect(done.attempts.map((a) => a.outcome)).toEqual(['sent']);
      }
      expect(ids).toContain(failed);
      expect(sink.messages).toHaveLength(3);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});

describe.skipIf(skip)('an SMTP server that never greets', () => {
  it('costs the greeting timeout, then the message is retried', async () => {
    const sink = await startSmtpSink();
    let connections = 0;
    sink.onConnect(() => (++connections === 1 ? 'hang' : 'accept'));
    const clock = new ManualClock(Date.now());
    const app = await startTestFacteur({ FACTEUR_SMTP_URL: sink.url, ...RETRY_ENV }, { clock });
    try {
      const answer = await app.request<{ id: string }>('POST', '/api/messages', {
        body: { to: ['a@example.com'], subject: 's', text: 't' },
      });
      const read = async () =>
        (await app.request<MessageAnswer>('GET', `/api/messages/${answer.body.id}`)).body;
      const waiting = await vi.waitFor(async () => {
        const m = await read();
        expect(m.attempts[0]?.outcome).toBe('transient_failure');
        return m;
      });
      expect(waiting.attempts[0]?.errorCode).toBe('SMTP_TIMEOUT');
      clock.advance(FIRST_RETRY_MS);
      await vi.waitFor(async () => expect((await read()).status).toBe('sent'));
      expect(connections).toBe(2);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});

describe.skipIf(skip)('SMTP credentials refused', () => {
  it('is retried (fixing the password lets queued mail through) and says why', async () => {
    const sink = await startSmtpSink({ users: { reports: 'right-password' } });
    const clock = new ManualClock(Date.now());
    const app = await startTestFacteur(
      { FACTEUR_SMTP_URL: `smtp://reports:wrong@127.0.0.1:${sink.port}?starttls=off`, ...RETRY_ENV },
      { clock },
    );
    try {
      const answer = await app.request<{ id: string }>('POST', '/api/messages', {
        body: { to: ['a@example.com'], subject: 's', text: 't' },
      });
      const message = await vi.waitFor(
        async () => {
          const m = (await app.request<MessageAnswer>('GET', `/api/messages/${answer.body.id}`)).body;
          expect(m.status).toBe('queued');
          expect(m.attempts[0]?.errorCode).toBe('SMTP_AUTH');
          return m;
        },
        { timeout: 10_000, interval: 25 },
      );
      expect(message.lastError?.message).toMatch(/refused authentication/);
      expect(message.nextAttemptAt).not.toBeNull();
      expect(sink.messages).toHaveLength(0);
    } finally {
      await app.close();
      await sink.close();
    }
  });
});
