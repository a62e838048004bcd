import { afterEach, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import { ManualClock } from '../core/clock.js';
import { openStore } from '../core/db/index.js';
import { getJob } from '../core/jobs/index.js';

const skip = await databaseSkipReason();

interface MessageAnswer {
  id: string;
  status: string;
  lastError: { code: string; message: string } | null;
  attempts: Array<{ outcome: string; errorCode: string | null }>;
}

describe.skipIf(skip)('resilience of sending', () => {
  let sink: SmtpSink | undefined;
  let app: TestFacteur | undefined;
  afterEach(async () => {
    await app?.close();
    await sink?.close();
    app = undefined;
    sink = undefined;
  });

  const sendMany = async (target: TestFacteur, count: number) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await target.request<{ id: string }>('POST', '/api/messages', {
        body: { to: [`m${i}@example.com`], subject: `n${i}`, text: 't' },
      });
      ids.push(answer.body.id);
    }
    return ids;
  };
  const readAll = (target: TestFacteur, ids: string[]) =>
    Promise.all(
      ids.map(async (id) => (await target.request<MessageAnswer>('GET', `/api/messages/${id}`)).body),
    );

  it('defers sends without spending attempts while the breaker is open, and resumes them when a probe succeeds', async () => {
    sink = await startSmtpSink();
    sink.onConnect('drop');
    const clock = new ManualClock(Date.now());
    const started = clock.now();
    app = await startTestFacteur(
      { FACTEUR_SMTP_URL: sink.url, FACTEUR_SEND_RETRY_SCHEDULE: '10s,1m' },
      { clock },
    );
    const running = app;
    const ids = await sendMany(running, 8);
    // Connection failures open the breaker (threshold 5); sends that start after that are
    // deferred without an attempt, and say why.
    let failedAttempts = 0;
    await vi.waitFor(async () => {
      const messages = await readAll(running, ids);
      expect(
        messages.every((m) => ['SMTP_CONNECT', 'SMTP_UNAVAILABLE'].includes(m.lastError?.code ?? '')),
      ).toBe(true);
      failedAttempts = messages.reduce((n, m) => n + m.attempts.length, 0);
      expect(failedAttempts).toBeGreaterThanOrEqual(5);
    });
    sink.onConnect('accept');

    clock.advance(11_000); // the retries are due, but the circuit is open: deferred, no attempt spent
    await vi.waitFor(async () => {
      const messages = await readAll(running, ids);
      expect(messages.every((m) => m.status === 'queued' && m.lastError?.code === 'SMTP_UNAVAILABLE')).toBe(
        true,
      );
      expect(messages.reduce((n, m) => n + m.attempts.length, 0)).toBe(failedAttempts);
    });
    const ready = await running.request<{
      checks: Record<string, { status: string; detail?: { breaker?: string } }>;
    }>('GET', '/readyz', { auth: false });
    expect(ready.body.checks['transport:smtp']).toMatchObject({
      status: 'down',
      detail: { breaker: 'open' },
    });

    // Half-open: one probe goes and the others wait behind it (until started + 60 s); when the
    // probe succeeds they go at once, without the clock moving.
    clock.set(started + 30_000);
    await vi.waitFor(
      async () => expect((await readAll(running, ids)).every((m) => m.status === 'sent')).toBe(true),
      { timeout: 10_000 },
    );
    expect(clock.now()).toBe(started + 30_000);
    expect(sink.messages).toHaveLength(8);
    // One more attempt per message, the one that sent it: none was spent while the circuit was open.
    expect((await readAll(running, ids)).reduce((n, m) => n + m.attempts.length, 0)).toBe(failedAttempts + 8);
  });

  it('puts a send cut off by the shutdown deadline back in the queue, its attempt marked interrupted', async () => {
    sink = await startSmtpSink();
    sink.script('hang');
    const clock = new ManualClock(Date.now());
    app = await startTestFacteur(
      { FACTEUR_SMTP_URL: sink.url, FACTEUR_SHUTDOWN_TIMEOUT: '5s', FACTEUR_SMTP_SOCKET_TIMEOUT: '10m' },
      { clock },
    );
    const [id] = await sendMany(app, 1);
    await sink.waitForAttempts(1);
    const stopping = app.stop();
    const drive = setInterval(() => clock.advance(1000), 10);
    await stopping.finally(() => clearInterval(drive));

    const store = openStore(app.database.config);
    try {
      const message = await store.db
        .selectFrom('messages')
        .selectAll()
        .where('id', '=', id as string)
        .executeTakeFirstOrThrow();
      expect(message).toMatchObject({ status: 'queued', last_error_code: 'JOB_INTERRUPTED' });
      const attempts = await store.db
        .selectFrom('message_attempts')
        .selectAll()
        .where('message_id', '=', id as string)
        .execute();
      expect(attempts).toEqual([
        expect.objectContaining({ outcome: 'interrupted', error_code: 'JOB_INTERRUPTED' }),
      ]);
      const job = await getJob(store.db, message.job_id);
      expect(job).toMatchObject({ status: 'queued', attempts: 0, leaseOwner: null });
    } finally {
      await store.close();
    }
  });
});
