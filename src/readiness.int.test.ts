import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../test/support/facteur.js';
import { type SmtpSink, startSmtpSink } from '../test/support/smtp-sink.js';
import { ManualClock } from './core/clock.js';

const skip = await databaseSkipReason();

interface Readiness {
  status: string;
  checks: Record<
    string,
    {
      status: string;
      message?: string;
      lastError?: { message: string; at: string } | null;
      detail?: Record<string, unknown>;
    }
  >;
}

/**
 * What an operator sees when things go wrong: /readyz names the failing part with its last error,
 * turns the job engine red when due work stops moving, and the logs carry event names but never
 * a key or a password.
 */
describe.skipIf(skip)('readiness and logs', () => {
  let sink: SmtpSink;
  let app: TestFacteur;
  const logLines: string[] = [];
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    sink = await startSmtpSink({ users: { reports: 'hunter2-secret' } });
    app = await startTestFacteur(
      {
        FACTEUR_SMTP_URL: `smtp://reports:hunter2-secret@127.0.0.1:${sink.port}?starttls=off`,
        FACTEUR_SEND_CONCURRENCY: '1',
        FACTEUR_SMTP_SOCKET_TIMEOUT: '10m',
        FACTEUR_SMTP_SEND_TIMEOUT: '10m',
      },
      { clock, logLines },
    );
  });
  afterAll(async () => {
    // A send is still hanging: the drain deadline runs on the test clock, so move it along.
    const closing = app?.close();
    const drive = setInterval(() => clock.advance(1000), 10);
    try {
      await closing;
    } finally {
      clearInterval(drive);
    }
    await sink?.close();
  });

  const readiness = async () => (await app.request<Readiness>('GET', '/readyz', { auth: false })).body;
  const send = async (subject: string) =>
    (
      await app.request<{ id: string }>('POST', '/api/messages', {
        body: { to: ['a@example.com'], subject, text: 't' },
      })
    ).body.id;

  it('shows the transport degraded with the server reply as its last error', async () => {
    sink.replyOnce({ kind: 'reply', code: 452, message: '4.3.1 Insufficient system storage' });
    await send('first');
    await vi.waitFor(async () => {
      const transport = (await readiness()).checks['transport:smtp'];
      expect(transport?.status).toBe('degraded');
      expect(transport?.lastError?.message).toContain('452 4.3.1 Insufficient system storage');
    }, 5000); // the first send connects and logs in: slow on a loaded machine
    expect((await readiness()).status).toBe('degraded'); // still serving: only the database is critical
  });

  it('turns the job engine red when due jobs stop moving', async () => {
    sink.script('hang'); // the one sending slot stays busy
    await send('stuck');
    await sink.waitForAttempts(2);
    await send('waiting behind it');
    expect((await readiness()).checks.jobs?.status).toBe('ok');
    clock.advance(3 * 60_000);
    await vi.waitFor(async () => {
      const jobs = (await readiness()).checks.jobs;
      expect(jobs?.status).toBe('degraded');
      expect(jobs?.message).toMatch(/due jobs have waited \d+ s and no job finished/);
    });
  });

  it('logs JSON lines with event names and never a key or a password', async () => {
    await app.request('GET', '/api/messages', {
      auth: false,
      headers: { authorization: `Bearer ${app.key}` },
    });
    await app.request('GET', '/api/messages', {
      auth: false,
      headers: { authorization: 'Bearer fct_wrong' },
    });
    const events = logLines.map((line) => (JSON.parse(line) as { event?: string }).event);
    expect(events).toEqual(
      expect.arrayContaining(['engine.started', 'facteur.started', 'smtp.failed', 'job.retry_scheduled']),
    );
    const all = logLines.join('\n');
    expect(all).not.toContain(app.key);
    expect(all).not.toContain('hunter2-secret');
  });
});
