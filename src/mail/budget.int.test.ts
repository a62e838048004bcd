import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason, testDialect } from '../../test/support/database.js';
import { LOOPBACK_TARGETS, startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type SinkBehaviour, type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import { ManualClock } from '../core/clock.js';
import { parseBootConfig } from '../core/config/index.js';
import { uuidv7 } from '../core/ids.js';
import { getJob } from '../core/jobs/index.js';
import { silentLogger } from '../core/observability/index.js';
import { type Facteur, startFacteur } from '../main.js';
import { requestHash } from './model.js';
import { recordMessage } from './service.js';

const skip = await databaseSkipReason();

/** What the sink got, at the test clock's time (the budget's time), in order. */
interface Received {
  subject: string;
  at: number;
}

interface MessageAnswer {
  id: string;
  status: string;
  jobId: string;
  lastError: { code: string; message: string } | null;
  attempts: Array<{ outcome: string; errorCode: string | null; smtpCode: number | null }>;
}

/** Largest number of `times` in any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Moves the clock on in steps, letting the sends of each step happen, until `done` (or `maxSteps`). */
async function runClock(
  clock: ManualClock,
  done: () => boolean,
  stepMs: number,
  maxSteps = 2000,
): Promise<void> {
  for (let i = 0; i < maxSteps && !done(); i++) {
    clock.advance(stepMs);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A sink that notes each message with the clock's time and answers per `replies` (then accepts). */
async function recordingSink(
  clock: ManualClock,
): Promise<{ sink: SmtpSink; received: Received[]; replies: SinkBehaviour[] }> {
  const sink = await startSmtpSink();
  const received: Received[] = [];
  const replies: SinkBehaviour[] = [];
  sink.script((ctx) => {
    const reply = replies.shift() ?? 'accept';
    if (reply === 'accept') received.push({ subject: ctx.subject ?? '', at: clock.now() });
    return reply;
  });
  return { sink, received, replies };
}

describe.skipIf(skip)('transport rate budgets', () => {
  let sink: SmtpSink | undefined;
  const apps: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
    await sink?.close();
    sink = undefined;
  });

  const start = async (env: Record<string, string>, clock: ManualClock, logLines?: string[]) => {
    const app = await startTestFacteur(
      // The engine's safety-net poll never fires in these tests: sends start from their own timers.
      { FACTEUR_JOB_POLL_INTERVAL: '24h', ...env },
      { clock, ...(logLines ? { logLines } : {}) },
    );
    apps.push(app);
    return app;
  };
  const post = async (app: Pick<TestFacteur, 'request'>, subject: string): Promise<string> => {
    const answer = await app.request<{ id: string }>('POST', '/api/messages', {
      body: { to: [`${subject}@example.com`], subject, text: 't' },
    });
    expect(answer.status).toBe(202);
    return answer.body.id;
  };
  /** A campaign's message: the dispatcher records it with the bulk priority. */
  const bulk = async (facteur: Facteur, clock: ManualClock, subject: string): Promise<string> => {
    const id = uuidv7();
    const input = { to: [`${subject}@example.com`], subject, text: 't' };
    await facteur.store.transaction((tx) =>
      recordMessage(
        tx,
        { retryScheduleMs: [10_000] },
        {
          id,
          input,
          from: 'Facteur <facteur@localhost>',
          hash: requestHash(input),
          origin: { source: 'campaign' },
          now: clock.now(),
          job: { priority: -1 },
        },
      ),
    );
    return id;
  };
  const read = async (app: Pick<TestFacteur, 'request'>, id: string) =>
    (await app.request<MessageAnswer>('GET', `/api/messages/${id}`)).body;

  it("keeps every window of the server's receive times within the rate, and delivers everything", async () => {
    const clock = new ManualClock(Date.now());
    const recording = await recordingSink(clock);
    sink = recording.sink;
    const app = await start(
      { FACTEUR_SMTP_URL: `${sink.url}&rate=5/s`, FACTEUR_SEND_CONCURRENCY: '4' },
      clock,
    );
    const ids: string[] = [];
    for (let i = 0; i < 22; i++) ids.push(await post(app, `r${i}`));
    await runClock(clock, () => recording.received.length >= 22, 20);
    await vi.waitFor(() => expect(recording.received).toHaveLength(22));
    const times = recording.received.map((r) => r.at);
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(5);
    // 22 messages at 5 a second cannot all go within 4 windows.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(4000);
    await vi.waitFor(async () => {
      const messages = await Promise.all(ids.map((id) => read(app, id)));
      expect(messages.every((m) => m.status === 'sent' && m.attempts.length === 1)).toBe(true);
    });
    const metrics = (await app.request<string>('GET', '/metrics', { auth: false })).body;
    expect(metrics).toMatch(/facteur_budget_grants_total\{transport="smtp",wait="waited"\} \d+/);
  });

  it('slows down on a 421 4.7.0, then delivers the message without spending an attempt', async () => {
    const clock = new ManualClock(Date.now());
    const recording = await recordingSink(clock);
    sink = recording.sink;
    recording.replies.push({ kind: 'reply', code: 421, message: '4.7.0 Too many messages, slow down' });
    const lines: string[] = [];
    const app = await start(
      { FACTEUR_SMTP_URL: `${sink.url}&rate=10/s`, FACTEUR_SEND_CONCURRENCY: '1' },
      clock,
      lines,
    );
    const first = await post(app, 'limited');
    await vi.waitFor(async () => expect((await read(app, first)).lastError?.code).toBe('RATE_LIMITED'));
    const ids = [first];
    for (let i = 0; i < 8; i++) ids.push(await post(app, `after${i}`));
    await runClock(clock, () => recording.received.length >= 9, 20);
    await vi.waitFor(() => expect(recording.received).toHaveLength(9));

    const limited = await read(app, first);
    expect(limited.status).toBe('sent');
    expect(limited.attempts.map((a) => [a.outcome, a.errorCode, a.smtpCode])).toEqual([
      ['transient_failure', 'RATE_LIMITED', 421],
      ['sent', null, 250],
    ]);
    // The rate-limited run was a deferral: the job spent one attempt, the one that sent.
    expect((await getJob(app.facteur.store.db, limited.jobId))?.attempts).toBe(1);
    // Halved to 5 a second: no window holds more than 5 of the messages sent after the reply.
    expect(
      maxInWindow(
        recording.received.map((r) => r.at),
        1000,
      ),
    ).toBeLessThanOrEqual(5);
    const metrics = (await app.request<string>('GET', '/metrics', { auth: false })).body;
    expect(metrics).toContain('facteur_budget_rate_limited_total{transport="smtp",slowed="true"} 1');
    expect(metrics).toContain('facteur_budget_effective_rate{transport="smtp"} 5');
    const events = lines.map((l) => JSON.parse(l) as { event?: string });
    expect(events.some((e) => e.event === 'budget.slowed')).toBe(true);
    expect(events.some((e) => e.event === 'budget.rate_limited')).toBe(true);
  });

  it('defers past the hourly count to the next hour, wakes then, and serves transactional mail first', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 59, 0));
    const nextHour = Date.UTC(2026, 0, 5, 10, 0, 0);
    const recording = await recordingSink(clock);
    sink = recording.sink;
    const app = await start({ FACTEUR_SMTP_URL: `${sink.url}&hourly=3` }, clock);
    for (let i = 0; i < 3; i++) await post(app, `early${i}`);
    await vi.waitFor(() => expect(recording.received).toHaveLength(3));

    // The hour is used up: campaign messages first, then transactional ones, all wait for 10:00.
    const waiting = [
      await bulk(app.facteur, clock, 'bulk0'),
      await bulk(app.facteur, clock, 'bulk1'),
      await bulk(app.facteur, clock, 'bulk2'),
      await post(app, 'urgent0'),
      await post(app, 'urgent1'),
    ];
    await vi.waitFor(async () => {
      const messages = await Promise.all(waiting.map((id) => read(app, id)));
      expect(messages.map((m) => m.lastError?.code)).toEqual(Array(5).fill('BUDGET_EXHAUSTED'));
    });
    const job = await getJob(app.facteur.store.db, (await read(app, waiting[0] as string)).jobId);
    expect(job).toMatchObject({ status: 'queued', attempts: 0, runAt: nextHour });

    clock.set(nextHour - 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(recording.received).toHaveLength(3);
    clock.set(nextHour);
    await vi.waitFor(() => expect(recording.received).toHaveLength(6));
    // Both transactional messages, and one campaign message with the token left.
    const sentAtTen = recording.received.slice(3);
    expect(sentAtTen.every((r) => r.at === nextHour)).toBe(true);
    expect(sentAtTen.map((r) => r.subject).sort()).toEqual(expect.arrayContaining(['urgent0', 'urgent1']));
    expect(sentAtTen.filter((r) => r.subject.startsWith('bulk'))).toHaveLength(1);
    clock.advance(HOLD_WAIT_MS);
    await vi.waitFor(async () => {
      const messages = await Promise.all(waiting.map((id) => read(app, id)));
      expect(
        messages.filter((m) => m.status === 'queued' && m.lastError?.code === 'BUDGET_EXHAUSTED'),
      ).toHaveLength(2);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(recording.received).toHaveLength(6);
  });

  it.skipIf(testDialect() !== 'postgres')(
    'shares one budget between two instances on PostgreSQL: together they never exceed it',
    async () => {
      const clock = new ManualClock(Date.now());
      const recording = await recordingSink(clock);
      sink = recording.sink;
      const env = {
        FACTEUR_SMTP_URL: `${sink.url}&rate=4/s`,
        FACTEUR_SEND_CONCURRENCY: '4',
        // Instances sharing a database share the secret key (Facteur refuses to start otherwise).
        FACTEUR_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      };
      const a = await start(env, clock);
      const b = await startOnSameDatabase(a, env, clock);
      apps.push(b);
      for (let i = 0; i < 12; i++) await post(a, `a${i}`);
      for (let i = 0; i < 12; i++) await post(b.app, `b${i}`);
      await runClock(clock, () => recording.received.length >= 24, 20);
      await vi.waitFor(() => expect(recording.received).toHaveLength(24));
      expect(
        maxInWindow(
          recording.received.map((r) => r.at),
          1000,
        ),
      ).toBeLessThanOrEqual(4);
      // Each instance sent some: both drew on the one budget.
      const sentBy = async (app: { request: TestFacteur['request'] }) =>
        Number(
          /facteur_budget_grants_total\{transport="smtp",wait="(?:waited|none)"\} (\d+)/.exec(
            (await app.request<string>('GET', '/metrics', { auth: false })).body,
          )?.[1] ?? 0,
        );
      expect(await sentBy(a)).toBeGreaterThan(0);
      expect(await sentBy(b.app)).toBeGreaterThan(0);
    },
  );
});

/** How long past the hour the holds of waiting transactional sends keep a token from bulk ones. */
const HOLD_WAIT_MS = 1500;

/** A second instance on `first`'s database, with its own data directory and the same clock. */
async function startOnSameDatabase(
  first: TestFacteur,
  env: Record<string, string>,
  clock: ManualClock,
): Promise<{ app: Pick<TestFacteur, 'request'>; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'facteur-data-'));
  const parsed = parseBootConfig({
    FACTEUR_DATA_DIR: dataDir,
    FACTEUR_DATABASE_URL: first.database.url,
    FACTEUR_PORT: '0',
    FACTEUR_LOG_LEVEL: 'silent',
    FACTEUR_SHUTDOWN_TIMEOUT: '2s',
    FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    FACTEUR_JOB_POLL_INTERVAL: '24h',
    ...env,
  });
  if (!parsed.ok) throw new Error(`config invalid: ${JSON.stringify(parsed.problems)}`);
  const facteur = await startFacteur(parsed.config, { logger: silentLogger(), clock });
  const request: TestFacteur['request'] = async (method, path, options = {}) => {
    const response = await fetch(`${facteur.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${first.key}`,
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // metrics
    }
    return { status: response.status, headers: response.headers, body: body as never };
  };
  return {
    app: { request },
    close: async () => {
      await facteur.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
