import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseSkipReason, testDialect } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import { ManualClock } from '../core/clock.js';

const skip = await databaseSkipReason();

interface StageView {
  stage: string;
  outcome: string;
  errorCode: string | null;
  message: string | null;
  hint: string | null;
  detail: Record<string, unknown>;
  retryAt: string | null;
}
export interface RunView {
  id: string;
  status: string;
  trigger: string;
  scheduledFor: string | null;
  stages: StageView[];
  messageId: string | null;
  smtpResponse: string | null;
  error: { code: string; message: string | null } | null;
}

const stage = (run: RunView, name: string) => run.stages.find((s) => s.stage === name) as StageView;

describe.skipIf(skip)('reports: definition, trigger, run stages', () => {
  let sink: SmtpSink;
  let receiver: HttpReceiver;
  let app: TestFacteur;
  const clock = new ManualClock(Date.parse('2026-06-01T10:00:00Z'));
  const sqliteDir = mkdtempSync(join(tmpdir(), 'facteur-report-sqlite-'));

  beforeAll(async () => {
    sink = await startSmtpSink();
    receiver = await startHttpReceiver();
    const source = new Database(join(sqliteDir, 'app.db'));
    source.exec(
      "create table signups (email text, plan text); insert into signups values ('a@example.com', 'pro'), ('b@example.com', 'free'), ('c@example.com', 'pro')",
    );
    source.close();
    app = await startTestFacteur(
      {
        FACTEUR_REPORT_SQLITE_DIR: sqliteDir,
        FACTEUR_SMTP_URL: sink.url,
        FACTEUR_SEND_RETRY_SCHEDULE: '10s',
        FACTEUR_SMTP_SEND_TIMEOUT: '1s',
        FACTEUR_SMTP_SOCKET_TIMEOUT: '1s',
        FACTEUR_SMTP_GREETING_TIMEOUT: '1s',
      },
      { clock },
    );
  });
  afterEach(() => {
    sink.reset();
    receiver.reset();
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
    await receiver?.close();
  });

  const create = async (body: Record<string, unknown>) => {
    const answer = await app.request<{ id: string; triggerToken: string }>('POST', '/api/reports', { body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body;
  };
  const readRun = async (id: string) => (await app.request<RunView>('GET', `/api/report-runs/${id}`)).body;
  const untilRun = (id: string, check: (run: RunView) => void, timeout = 10_000) =>
    vi.waitFor(
      async () => {
        const run = await readRun(id);
        check(run);
        return run;
      },
      { timeout, interval: 50 },
    );

  it('refuses bad definitions with a 400 naming each field', async () => {
    const base = { name: 'bad', to: ['team@example.com'], subject: 'Daily', text: 'x' };
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ schedule: { cron: '0 25 * * *' } }, 'schedule.cron', /not a valid cron/],
      [{ schedule: { cron: 'every day at 7' } }, 'schedule.cron', /five fields/],
      [{ schedule: { cron: '0 19 * * *', timezone: 'Europe/Pariss' } }, 'schedule.timezone', /IANA/],
      [{ subject: 'Daily {{ data.count ' }, 'subject', /Liquid/],
      [{ html: '{% for x in data.rows %}' }, 'html', /Liquid/],
      [
        { data: { type: 'sql', url: 'postgres://u:p@127.0.0.1/db', query: 'delete from users' } },
        'data.query',
        /read-only/,
      ],
      [
        { data: { type: 'sql', url: 'postgres://u:p@127.0.0.1/db', query: 'select 1; drop table x' } },
        'data.query',
        /single statement/,
      ],
      [{ data: { type: 'http', url: 'http://10.1.2.3/stats.json' } }, 'data.url', /private/],
      [{ data: { type: 'http', url: 'http://169.254.169.254/latest/meta-data' } }, 'data.url', /metadata/],
      [{ pingUrl: 'http://192.168.1.10/ping/abc' }, 'pingUrl', /private/],
      [{ to: ['not an address'] }, 'to[0]', /./],
    ];
    for (const [patch, field, message] of cases) {
      const answer = await app.request<{ error: { code: string; message: string; details: unknown } }>(
        'POST',
        '/api/reports',
        { body: { ...base, ...patch } },
      );
      expect(answer.status, `${field}: ${JSON.stringify(answer.body)}`).toBe(400);
      const { error } = answer.body;
      // VALIDATION_FAILED lists every bad field; TARGET_FORBIDDEN names its one field.
      const details = Array.isArray(error.details)
        ? (error.details as Array<{ field: string; message: string }>)
        : [{ field: (error.details as { field: string }).field, message: error.message }];
      const detail = details.find((d) => d.field === field);
      expect(detail, `${field} in ${JSON.stringify(error)}`).toBeDefined();
      expect(detail?.message).toMatch(message);
    }
    const list = await app.request<{ reports: unknown[] }>('GET', '/api/reports');
    expect(list.body.reports).toHaveLength(0);
  });

  it('a trigger answers 202 at once; the run fetches, renders, queues and sends, each stage recorded', async () => {
    const report = await create({
      name: 'daily-signups',
      to: ['team@example.com'],
      subject: 'Sign-ups on {{ date }}: {{ data.count }}',
      html: '<style>p { color: red; }</style><p>{{ data.count }} new sign-ups</p>',
      text: '{{ data.count }} new sign-ups',
      data: { type: 'push' },
      attachCsv: { filename: 'signups.csv', rows: 'rows' },
    });
    expect(report.triggerToken).toMatch(/^[\w-]{20,}$/);
    const answer = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, {
      body: {
        data: {
          count: 42,
          rows: [
            { email: 'a@example.com', plan: 'pro' },
            { email: 'b@example.com', plan: '=1+1' },
          ],
        },
      },
    });
    expect(answer.status).toBe(202);
    expect(answer.headers.get('location')).toBe(`/api/report-runs/${answer.body.id}`);
    expect(answer.body.status).toBe('queued');

    const run = await untilRun(answer.body.id, (r) => expect(r.status).toBe('sent'));
    expect(run.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['fetch', 'ok'],
      ['render', 'ok'],
      ['queue', 'ok'],
      ['send', 'ok'],
    ]);
    expect(run.smtpResponse).toMatch(/^250/);
    expect(stage(run, 'send').detail.smtpCode).toBe(250);
    const [message] = await sink.waitForMessages(1);
    const raw = message?.raw.toString('utf8') ?? '';
    expect(headerValue(message?.raw as Buffer, 'subject')).toBe('Sign-ups on 2026-06-01: 42');
    expect(raw).toContain('style="color: red;"'); // CSS inlined for mail clients
    expect(raw).toContain('signups.csv');
    expect(headerValue(message?.raw as Buffer, 'x-facteur-report-run')).toBe(run.id);

    const runs = await app.request<{ runs: RunView[] }>('GET', `/api/reports/${report.id}/runs`);
    expect(runs.body.runs.map((r) => r.id)).toEqual([run.id]);
    // By name too, for cron jobs that know the report by its name.
    const byName = await app.request<{ runs: RunView[] }>('GET', '/api/reports/daily-signups/runs');
    expect(byName.body.runs).toHaveLength(1);
  });

  it('a push report triggered without data is refused, naming the field', async () => {
    const report = await create({
      name: 'needs-data',
      to: ['team@example.com'],
      subject: 'x',
      text: 'y',
      data: { type: 'push' },
    });
    const answer = await app.request<{ error: { code: string; details: Array<{ field: string }> } }>(
      'POST',
      `/api/reports/${report.id}/runs`,
      { body: {} },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('REPORT_DATA_MISSING');
    expect(answer.body.error.details[0]?.field).toBe('data');
  });

  it('the trigger token works without an API key, for its own report only', async () => {
    const a = await create({ name: 'token-a', to: ['team@example.com'], subject: 'A', text: 'a' });
    const b = await create({ name: 'token-b', to: ['team@example.com'], subject: 'B', text: 'b' });
    const trigger = (id: string, token: string) =>
      app.request<RunView>('POST', `/api/reports/${id}/runs`, {
        auth: false,
        headers: { 'x-report-token': token },
        body: {},
      });
    expect((await trigger(a.id, a.triggerToken)).status).toBe(202);
    expect((await trigger('token-a', a.triggerToken)).status).toBe(202);
    expect((await trigger(b.id, a.triggerToken)).status).toBe(401);
    expect((await trigger(a.id, 'wrong')).status).toBe(401);
    // The token opens the trigger route only.
    const other = await app.request('GET', `/api/reports/${a.id}`, {
      auth: false,
      headers: { 'x-report-token': a.triggerToken },
    });
    expect(other.status).toBe(401);
    // Never shown again in full; rotated, the old one stops working.
    const shown = await app.request<{ triggerToken: string }>('GET', `/api/reports/${a.id}`);
    expect(shown.body.triggerToken).not.toBe(a.triggerToken);
    expect(shown.body.triggerToken).not.toContain(a.triggerToken.slice(8));
    const rotated = await app.request<{ triggerToken: string }>('POST', `/api/reports/${a.id}/rotate-token`);
    expect((await trigger(a.id, a.triggerToken)).status).toBe(401);
    expect((await trigger(a.id, rotated.body.triggerToken)).status).toBe(202);
    await sink.waitForMessages(3);
  });

  it('an idempotency key answers the same run', async () => {
    const report = await create({ name: 'idem', to: ['team@example.com'], subject: 'I', text: 'i' });
    const first = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, {
      body: { idempotencyKey: 'k-1' },
    });
    const again = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, {
      headers: { 'idempotency-key': 'k-1' },
      body: {},
    });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await untilRun(first.body.id, (r) => expect(r.status).toBe('sent'));
    await sink.waitForMessages(1);
    expect(sink.messages).toHaveLength(1);
  });

  it('an HTTP data source is fetched with its bearer token, which is never shown', async () => {
    receiver.respond({ status: 200, body: { count: 7, title: 'Weekly' } });
    const report = await create({
      name: 'from-http',
      to: ['team@example.com'],
      subject: '{{ data.title }}: {{ data.count }}',
      text: 'n={{ data.count }}',
      data: {
        type: 'http',
        url: `${receiver.url}/stats.json`,
        bearerToken: 'tok-secret-123',
        headers: { 'X-Api-Key': 'k-secret' },
      },
    });
    const view = await app.request<{ data: Record<string, unknown> }>('GET', `/api/reports/${report.id}`);
    expect(JSON.stringify(view.body)).not.toContain('tok-secret-123');
    expect(JSON.stringify(view.body)).not.toContain('k-secret');

    const preview = await app.request<{ subject: string; text: string }>(
      'POST',
      `/api/reports/${report.id}/preview`,
    );
    expect(preview.status).toBe(200);
    expect(preview.body.subject).toBe('Weekly: 7');
    expect(receiver.requests[0]?.headers.authorization).toBe('Bearer tok-secret-123');
    expect(receiver.requests[0]?.headers['x-api-key']).toBe('k-secret');
    expect(sink.messages).toHaveLength(0); // a preview sends nothing

    const given = await app.request<{ subject: string }>('POST', `/api/reports/${report.id}/preview`, {
      body: { data: { title: 'Given', count: 1 } },
    });
    expect(given.body.subject).toBe('Given: 1');

    const run = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, { body: {} });
    const done = await untilRun(run.body.id, (r) => expect(r.status).toBe('sent'));
    expect(stage(done, 'fetch').detail).toMatchObject({ source: 'http', status: 200 });
  });

  it('a data source that fails is retried, then the run fails at the fetch stage with a hint', async () => {
    receiver.respond({ status: 503, body: 'down' });
    const report = await create({
      name: 'flaky-source',
      to: ['team@example.com'],
      subject: 'x',
      text: 'y',
      data: { type: 'http', url: `${receiver.url}/stats.json`, retries: 1 },
    });
    const run = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, { body: {} });
    const retrying = await untilRun(run.body.id, (r) => expect(stage(r, 'fetch').outcome).toBe('retrying'));
    expect(stage(retrying, 'fetch').errorCode).toBe('REPORT_DATA_HTTP');
    expect(stage(retrying, 'fetch').hint).toMatch(/HTTP error/);
    clock.advance(10_000);
    const failed = await untilRun(run.body.id, (r) => expect(r.status).toBe('failed'));
    expect(stage(failed, 'fetch').outcome).toBe('failed');
    expect(stage(failed, 'render').outcome).toBe('skipped');
    expect(failed.error?.code).toBe('REPORT_DATA_HTTP');
    expect(receiver.requests).toHaveLength(2);
  });

  it('answers 202 while the SMTP server hangs; the send stage fails with a timeout and a hint; the /fail ping arrives', async () => {
    sink.script('hang');
    const report = await create({
      name: 'hanging-smtp',
      to: ['team@example.com'],
      subject: 'x',
      text: 'y',
      pingUrl: `${receiver.url}/ping/abc-123`,
    });
    const started = performance.now();
    const answer = await app.request<RunView>('POST', `/api/reports/${report.id}/runs`, { body: {} });
    expect(answer.status).toBe(202);
    expect(performance.now() - started).toBeLessThan(900); // before the SMTP timeout could fire
    const retrying = await untilRun(answer.body.id, (r) => expect(stage(r, 'send').outcome).toBe('retrying'));
    expect(stage(retrying, 'send').errorCode).toBe('SMTP_TIMEOUT');
    expect(stage(retrying, 'send').hint).toMatch(/doctor smtp/);
    clock.advance(11_000);
    const failed = await untilRun(answer.body.id, (r) => expect(r.status).toBe('failed'));
    expect(stage(failed, 'send')).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_TIMEOUT' });
    const pings = await receiver.waitForRequests(2);
    expect(pings.map((p) => p.path)).toEqual(['/ping/abc-123/start', '/ping/abc-123/fail']);
    expect(pings[1]?.text()).toContain('SMTP_TIMEOUT');
    const ready = await app.request<{
      checks: Record<string, { status: string; detail: { reports: Record<string, { status: string }> } }>;
    }>('GET', '/readyz', { auth: false });
    expect(ready.body.checks.reports?.detail.reports['hanging-smtp']?.status).toBe('degraded');
  });

  it('a SQLite query source: rows in the template and as CSV; the row cap and the directory are enforced', async () => {
    const report = await create({
      name: 'from-sqlite',
      to: ['team@example.com'],
      subject: '{{ data.rowCount }} sign-ups',
      text: '{% for row in data.rows %}{{ row.email }} {% endfor %}',
      data: {
        type: 'sql',
        url: `sqlite:${join(sqliteDir, 'app.db')}`,
        query: "select email, plan from signups where plan = 'pro' order by email",
      },
      attachCsv: { filename: 'pro.csv', rows: 'rows' },
    });
    const preview = await app.request<{ subject: string; text: string; attachment: { content: string } }>(
      'POST',
      `/api/reports/${report.id}/preview`,
    );
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.subject).toBe('2 sign-ups');
    expect(preview.body.text).toBe('a@example.com c@example.com ');
    expect(preview.body.attachment.content).toBe('email,plan\r\na@example.com,pro\r\nc@example.com,pro\r\n');

    const capped = await create({
      name: 'too-many-rows',
      to: ['team@example.com'],
      subject: 'x',
      text: 'y',
      data: {
        type: 'sql',
        url: `sqlite:${join(sqliteDir, 'app.db')}`,
        query: 'select * from signups',
        maxRows: 2,
      },
    });
    const refused = await app.request<{ error: { code: string } }>(
      'POST',
      `/api/reports/${capped.id}/preview`,
    );
    expect(refused.body.error.code).toBe('REPORT_DATA_INVALID');

    const outside = await app.request<{ error: { details: Array<{ field: string; message: string }> } }>(
      'POST',
      '/api/reports',
      {
        body: {
          name: 'outside',
          to: ['team@example.com'],
          subject: 'x',
          text: 'y',
          data: { type: 'sql', url: 'sqlite:/etc/passwd.db', query: 'select 1' },
        },
      },
    );
    expect(outside.status).toBe(400);
    expect(outside.body.error.details[0]).toMatchObject({ field: 'data.url' });
    expect(outside.body.error.details[0]?.message).toMatch(/FACTEUR_REPORT_SQLITE_DIR/);
  });

  it.skipIf(testDialect() !== 'postgres')(
    'a PostgreSQL query source runs read-only, with its statement timeout',
    async () => {
      const database = await createTestDatabase();
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query(
        'create table orders (id int, total numeric); insert into orders values (1, 10.5), (2, 20)',
      );
      // A function that writes: a query calling it passes the word check, not the read-only transaction.
      await client.query(
        'create function bump() returns int as $$ insert into orders values (3, 1) returning id $$ language sql',
      );
      try {
        const report = await create({
          name: 'from-postgres',
          to: ['team@example.com'],
          subject: '{{ data.rows[0].n }} orders',
          text: 'total {{ data.rows[0].total }}',
          data: {
            type: 'sql',
            url: database.url,
            query: 'select count(*)::int as n, sum(total)::text as total from orders',
          },
        });
        const preview = await app.request<{ subject: string; text: string }>(
          'POST',
          `/api/reports/${report.id}/preview`,
        );
        expect(preview.status, JSON.stringify(preview.body)).toBe(200);
        expect(preview.body.subject).toBe('2 orders');
        expect(preview.body.text).toBe('total 30.5');
        // The database URL holds a password: it is never shown.
        const view = await app.request<{ data: { url: string } }>('GET', `/api/reports/${report.id}`);
        expect(view.body.data.url).not.toContain('@');

        const slow = await create({
          name: 'slow-postgres',
          to: ['team@example.com'],
          subject: 'x',
          text: 'y',
          data: { type: 'sql', url: database.url, query: 'select pg_sleep(5)', timeout: '300ms' },
        });
        const timedOut = await app.request<{ error: { code: string } }>(
          'POST',
          `/api/reports/${slow.id}/preview`,
        );
        expect(timedOut.body.error.code).toBe('REPORT_DATA_TIMEOUT');
        // A write that passes the word check is still refused by the read-only transaction.
        const writer = await create({
          name: 'sneaky-writer',
          to: ['team@example.com'],
          subject: 'x',
          text: 'y',
          data: { type: 'sql', url: database.url, query: 'select bump()' },
        });
        const refused = await app.request<{ error: { code: string; message: string } }>(
          'POST',
          `/api/reports/${writer.id}/preview`,
        );
        expect(refused.body.error.code).toBe('REPORT_DATA_SQL');
        expect(refused.body.error.message).toMatch(/read-only/);
        expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(2);
      } finally {
        await client.end();
        await database.drop();
      }
    },
  );
});
