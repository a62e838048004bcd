import { describe, expect, it } from 'vitest';
import { hintFor } from './hints.js';
import { readOnlyQueryProblem, reportCreateSchema } from './model.js';
import { renderContext, renderReport, toCsv } from './render.js';

describe('read-only report queries', () => {
  it('accepts one query', () => {
    for (const query of [
      'select * from signups',
      'SELECT count(*) FROM orders;',
      "with recent as (select * from orders where created_at > now() - interval '1 day') select count(*) from recent",
      'values (1), (2)',
      "select 'insert into x' as text -- a comment saying delete",
      '(select 1) union (select 2)',
    ]) {
      expect(readOnlyQueryProblem(query), query).toBeNull();
    }
  });

  it('refuses writes, several statements and locks, saying which', () => {
    expect(readOnlyQueryProblem('delete from users')).toMatch(/starting with SELECT/);
    expect(readOnlyQueryProblem('select 1; drop table users')).toMatch(/single statement/);
    expect(readOnlyQueryProblem('with d as (delete from users returning *) select * from d')).toMatch(
      /DELETE/,
    );
    expect(readOnlyQueryProblem('select * into backup from users')).toMatch(/INTO/);
    expect(readOnlyQueryProblem('select * from users for share')).toMatch(/row locks/);
    expect(readOnlyQueryProblem("select nextval('ids')")).toMatch(/NEXTVAL/);
    expect(readOnlyQueryProblem('pragma table_info(users)')).toMatch(/starting with SELECT/);
  });
});

describe('report definitions', () => {
  const base = { name: 'daily', to: ['team@example.com'], subject: 'Daily', text: 'x' };

  it('fills the defaults', () => {
    const parsed = reportCreateSchema.parse({ ...base, schedule: { cron: '0 19 * * *' } });
    expect(parsed.schedule).toEqual({ cron: '0 19 * * *', timezone: 'UTC', misfireGrace: 3_600_000 });
    expect(parsed.data).toEqual({ type: 'none' });
    expect(parsed.inlineCss).toBe(true);
  });

  it('names every bad field', () => {
    const result = reportCreateSchema.safeParse({
      ...base,
      text: undefined,
      schedule: { cron: '0 19 * *', timezone: 'Mars/Olympus', misfireGrace: 'soon' },
      data: { type: 'http', url: 'https://example.com', timeout: '10 years' },
    });
    expect(result.success).toBe(false);
    const fields = result.error?.issues.map((i) => i.path.join('.'));
    expect(fields).toEqual(
      expect.arrayContaining(['schedule.cron', 'schedule.timezone', 'schedule.misfireGrace', 'data.timeout']),
    );
    const bodiless = reportCreateSchema.safeParse({ ...base, text: undefined });
    expect(bodiless.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['html', 'html or text is required'],
    ]);
  });

  it('gives a hint for the failures people hit', () => {
    expect(hintFor('SMTP_AUTH', { stage: 'send' })).toMatch(/app password/);
    expect(hintFor('SMTP_TIMEOUT', { stage: 'send' })).toMatch(/doctor smtp/);
    expect(hintFor('REPORT_DATA_TIMEOUT', { stage: 'fetch' })).toMatch(/data\.timeout/);
    expect(hintFor('SOMETHING_ELSE', { stage: 'fetch' })).toBeNull();
  });
});

describe('rendering', () => {
  const settings = {
    name: 'daily',
    schedule: { cron: '0 19 * * *', timezone: 'Europe/Paris', misfireGraceMs: 3_600_000, deadlineMs: null },
    scheduleSince: 0,
    to: ['team@example.com'],
    cc: [],
    bcc: [],
    subject: '{{ report.name }} {{ date }}\n{{ data.n }}',
    html: '<style>b { font-weight: 700 }</style><b>{{ data.n }}</b>',
    inlineCss: true,
    data: { type: 'none' as const },
    attachCsv: { filename: 'r.csv', rows: 'rows' },
    ping: false,
  };

  it('renders in the report time zone, keeps the subject on one line, inlines CSS', async () => {
    // 23:30 UTC on 31 May is already 1 June in Paris.
    const at = Date.parse('2026-05-31T23:30:00Z');
    const rendered = await renderReport(
      settings,
      renderContext(settings, { n: 5, rows: [] }, { id: 'r', trigger: 'manual', slotAt: null }, at),
    );
    expect(rendered.subject).toBe('daily 2026-06-01 5');
    expect(rendered.html).toBe('<b style="font-weight: 700;">5</b>');
  });

  it('names the template that fails', async () => {
    await expect(
      renderReport(
        settings,
        renderContext(settings, { n: 1, rows: 'nope' }, { id: 'r', trigger: 'manual', slotAt: null }, 0),
      ),
    ).rejects.toThrow(/attachCsv\.rows/);
  });

  it('writes CSV that spreadsheets read as data', () => {
    expect(
      toCsv([
        { name: 'Ada, Countess', note: 'said "hi"' },
        { name: '=HYPERLINK("x")', extra: 1 },
      ]),
    ).toBe('name,note,extra\r\n"Ada, Countess","said ""hi""",\r\n"\'=HYPERLINK(""x"")",,1\r\n');
  });
});
