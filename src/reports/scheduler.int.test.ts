import { afterEach, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason, testDialect } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { ManualClock } from '../core/clock.js';
import type { RunView } from './reports.int.test.js';

const skip = await databaseSkipReason();
const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');
const ALERT_ENV = { FACTEUR_ALERT_EMAIL: 'ops@example.com', FACTEUR_SECRET_KEY: SECRET_KEY };

interface MessageSummary {
  id: string;
  subject: string;
  status: string;
}

/** Moves the clock and waits for the scheduler's tick to finish. */
async function moveTo(app: TestFacteur, clock: ManualClock, at: string | number): Promise<void> {
  clock.set(typeof at === 'number' ? at : Date.parse(at));
  await app.facteur.reports.scheduler.settled();
}

async function runsOf(app: TestFacteur, report: string): Promise<RunView[]> {
  const answer = await app.request<{ runs: RunView[] }>('GET', `/api/reports/${report}/runs?limit=200`);
  expect(answer.status).toBe(200);
  return answer.body.runs;
}

async function alertSubjects(app: TestFacteur): Promise<string[]> {
  const answer = await app.request<{ messages: MessageSummary[] }>('GET', '/api/messages?limit=100');
  return answer.body.messages.map((m) => m.subject).filter((s) => s.startsWith('[Facteur]'));
}

const daily = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  to: ['team@example.com'],
  subject: '{{ report.name }} for {{ date }}',
  text: 'numbers',
  ...extra,
});

describe.skipIf(skip)('report scheduler on an injected clock', () => {
  const apps: TestFacteur[] = [];
  let receiver: HttpReceiver | undefined;
  afterEach(async () => {
    // Newest first: an instance started on another's database stops before that database is dropped.
    for (const app of apps.splice(0).reverse()) await app.close();
    await receiver?.close();
    receiver = undefined;
  });

  it('19:00 Europe/Paris fires at the right UTC instant on every day of the two weeks around each DST change', async () => {
    const clock = new ManualClock(Date.parse('2026-03-22T12:00:00Z'));
    const app = await startTestFacteur({}, { clock });
    apps.push(app);
    for (const [start, change, winterFirst] of [
      ['2026-03-22T12:00:00Z', '2026-03-29', true],
      ['2026-10-18T12:00:00Z', '2026-10-25', false],
    ] as const) {
      await moveTo(app, clock, start);
      const created = await app.request<{ id: string }>('POST', '/api/reports', {
        body: daily(`paris-${change}`, { schedule: { cron: '0 19 * * *', timezone: 'Europe/Paris' } }),
      });
      expect(created.status).toBe(201);
      const id = created.body.id;
      for (let day = 0; day < 14; day++) {
        const date = new Date(Date.parse(start) + day * 86_400_000).toISOString().slice(0, 10);
        const summer = winterFirst ? date >= change : date < change;
        const slot = Date.parse(`${date}T${summer ? '17' : '18'}:00:00Z`);
        await moveTo(app, clock, slot - 1000);
        expect((await runsOf(app, id)).length, `no run before ${date}`).toBe(day);
        await moveTo(app, clock, slot);
        const runs = await runsOf(app, id);
        expect(runs.length, `one run on ${date}`).toBe(day + 1);
        expect(runs[0]).toMatchObject({ trigger: 'schedule', scheduledFor: new Date(slot).toISOString() });
      }
      await vi.waitFor(
        async () => expect((await runsOf(app, id)).every((r) => r.status === 'sent')).toBe(true),
        {
          timeout: 10_000,
        },
      );
      const sent = await app.request<{ messages: MessageSummary[] }>('GET', '/api/messages?limit=100');
      expect(
        sent.body.messages.filter((m) => m.subject.startsWith(`paris-${change} for`) && m.status === 'sent'),
      ).toHaveLength(14);
      expect((await app.request('DELETE', `/api/reports/${id}`)).status).toBe(204);
    }
  });

  it('02:30 Europe/Paris runs once on the spring day (at 03:00) and once on the autumn day', async () => {
    const clock = new ManualClock(Date.parse('2026-03-28T12:00:00Z'));
    const app = await startTestFacteur({}, { clock });
    apps.push(app);
    const created = await app.request<{ id: string }>('POST', '/api/reports', {
      body: daily('night', { schedule: { cron: '30 2 * * *', timezone: 'Europe/Paris' } }),
    });
    // Minute by minute through the spring night: 00:00 to 02:00 UTC (01:00 CET to 04:00 CEST).
    for (
      let at = Date.parse('2026-03-29T00:00:00Z');
      at <= Date.parse('2026-03-29T02:00:00Z');
      at += 60_000
    ) {
      await moveTo(app, clock, at);
    }
    expect((await runsOf(app, created.body.id)).map((r) => r.scheduledFor)).toEqual([
      '2026-03-29T01:00:00.000Z',
    ]);
    // Paused over the summer: its slots are not caught up when it is resumed.
    expect((await app.request('POST', `/api/reports/${created.body.id}/pause`)).status).toBe(200);
    await moveTo(app, clock, '2026-10-24T23:00:00Z');
    expect((await app.request('POST', `/api/reports/${created.body.id}/resume`)).status).toBe(200);
    await app.facteur.reports.scheduler.settled();
    expect(await runsOf(app, created.body.id)).toHaveLength(1);
    // Through the autumn night: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
    for (
      let at = Date.parse('2026-10-24T23:00:00Z');
      at <= Date.parse('2026-10-25T03:00:00Z');
      at += 60_000
    ) {
      await moveTo(app, clock, at);
    }
    expect((await runsOf(app, created.body.id)).map((r) => r.scheduledFor)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
    ]);
  });

  it('down at 19:00 and back at 19:20: the slot runs once on start; back at 21:00: it is recorded missed and alerts', async () => {
    for (const [back, expected] of [
      ['2026-06-10T19:20:00Z', 'sent'],
      ['2026-06-10T21:00:00Z', 'missed'],
    ] as const) {
      const clock = new ManualClock(Date.parse('2026-06-10T18:00:00Z'));
      const first = await startTestFacteur(ALERT_ENV, { clock });
      apps.push(first);
      const created = await first.request<{ id: string }>('POST', '/api/reports', {
        body: daily('evening', { schedule: { cron: '0 19 * * *', timezone: 'UTC' } }),
      });
      await first.stop();
      clock.set(Date.parse(back));
      const second = await startTestFacteur(
        { ...ALERT_ENV, FACTEUR_DATABASE_URL: first.database.url },
        { clock },
      );
      apps.push(second);
      await second.facteur.reports.scheduler.settled();
      const runs = await runsOf(second, created.body.id);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ trigger: 'schedule', scheduledFor: '2026-06-10T19:00:00.000Z' });
      if (expected === 'sent') {
        await vi.waitFor(async () => expect((await runsOf(second, created.body.id))[0]?.status).toBe('sent'));
        expect(await alertSubjects(second)).toEqual([]);
      } else {
        expect(runs[0]?.status).toBe('missed');
        expect(runs[0]?.error?.code).toBe('REPORT_MISSED');
        expect(await alertSubjects(second)).toEqual([
          '[Facteur] Report evening did not run at its scheduled time',
        ]);
        const ready = await second.request<{
          checks: Record<string, { status: string; detail: { reports: Record<string, { status: string }> } }>;
        }>('GET', '/readyz', { auth: false });
        expect(ready.body.checks.reports?.status).toBe('down');
        expect(ready.body.checks.reports?.detail.reports.evening?.status).toBe('down');
        // A later tick does not record or alert again.
        await moveTo(second, clock, Date.parse(back) + 60_000);
        expect(await runsOf(second, created.body.id)).toHaveLength(1);
        expect(await alertSubjects(second)).toHaveLength(1);
      }
    }
  });

  it('a run not sent by its deadline raises one alert and shows red', async () => {
    receiver = await startHttpReceiver();
    receiver.respond({ status: 503, body: 'down' });
    const clock = new ManualClock(Date.parse('2026-06-10T18:30:00Z'));
    const app = await startTestFacteur(ALERT_ENV, { clock });
    apps.push(app);
    const created = await app.request<{ id: string }>('POST', '/api/reports', {
      body: daily('late', {
        schedule: { cron: '0 19 * * *', timezone: 'UTC', deadline: '10m' },
        data: { type: 'http', url: `${receiver.url}/stats`, retries: 5 },
      }),
    });
    expect(created.status).toBe(201);
    await moveTo(app, clock, '2026-06-10T19:00:00Z');
    await receiver.waitForRequests(1);
    await moveTo(app, clock, '2026-06-10T19:09:00Z');
    expect(await alertSubjects(app)).toEqual([]);
    await moveTo(app, clock, '2026-06-10T19:10:00Z');
    await vi.waitFor(async () =>
      expect(await alertSubjects(app)).toEqual(['[Facteur] Report late was not sent by its deadline']),
    );
    const ready = await app.request<{ checks: Record<string, { status: string }> }>('GET', '/readyz', {
      auth: false,
    });
    expect(ready.body.checks.reports?.status).toBe('down');
    await moveTo(app, clock, '2026-06-10T19:11:00Z');
    expect(await alertSubjects(app)).toHaveLength(1);
  });

  it.skipIf(testDialect() !== 'postgres')(
    'two instances on one PostgreSQL run a slot once, and a trigger for the same slot sends nothing more',
    async () => {
      const clockA = new ManualClock(Date.parse('2026-06-10T18:00:00Z'));
      const clockB = new ManualClock(Date.parse('2026-06-10T18:00:00Z'));
      const a = await startTestFacteur({ FACTEUR_SECRET_KEY: SECRET_KEY }, { clock: clockA });
      apps.push(a);
      const b = await startTestFacteur(
        { FACTEUR_SECRET_KEY: SECRET_KEY, FACTEUR_DATABASE_URL: a.database.url },
        { clock: clockB },
      );
      apps.push(b);
      const created = await a.request<{ id: string }>('POST', '/api/reports', {
        body: daily('shared', { schedule: { cron: '0 19 * * *', timezone: 'UTC' } }),
      });
      // B sees the new report (notification) before the slot.
      await vi.waitFor(async () =>
        expect(await b.facteur.reports.registry.get(created.body.id)).toBeDefined(),
      );
      clockA.set(Date.parse('2026-06-10T19:00:00Z'));
      clockB.set(Date.parse('2026-06-10T19:00:00Z'));
      await Promise.all([a.facteur.reports.scheduler.settled(), b.facteur.reports.scheduler.settled()]);
      const runs = await runsOf(a, created.body.id);
      expect(runs).toHaveLength(1);
      const again = await b.request<RunView>('POST', `/api/reports/${created.body.id}/runs`, {
        body: { slot: 'latest' },
      });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(runs[0]?.id);
      await vi.waitFor(async () => expect((await runsOf(a, created.body.id))[0]?.status).toBe('sent'));
      const sent = await a.request<{ messages: MessageSummary[] }>('GET', '/api/messages?limit=100');
      expect(sent.body.messages.filter((m) => m.subject === 'shared for 2026-06-10')).toHaveLength(1);
    },
  );
});
