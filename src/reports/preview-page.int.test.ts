import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';

const skip = await databaseSkipReason();

/** `GET /api/reports/{id}/preview.html`: the rendered body as a framed page, on both databases. */
describe.skipIf(skip)('reports: the preview page', () => {
  let sink: SmtpSink;
  let app: TestFacteur;

  beforeAll(async () => {
    sink = await startSmtpSink();
    app = await startTestFacteur({ FACTEUR_SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
  });

  const create = async (body: Record<string, unknown>) => {
    const answer = await app.request<{ id: string }>('POST', '/api/reports', { body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body.id;
  };
  const page = (id: string, query = '') =>
    app.request<string>('GET', `/api/reports/${encodeURIComponent(id)}/preview.html${query}`);

  it('answers the rendered HTML with the framed-body headers (sandboxed CSP) and the subject', async () => {
    const id = await create({
      name: 'html-page',
      to: ['team@example.com'],
      subject: 'Total: {{ data.n }}',
      html: '<style>p { color: red; }</style><p>{{ data.n }} <b>orders</b></p><script>alert(1)</script>',
      text: '{{ data.n }} orders',
      data: { type: 'none' },
    });
    const answer = await page(id, `?data=${encodeURIComponent(JSON.stringify({ n: 7 }))}`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = answer.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/(^|; )sandbox(;|$)/);
    expect(csp).toContain("frame-ancestors 'self'");
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('cache-control')).toBe('private, no-store');
    expect(decodeURIComponent(answer.headers.get('x-report-subject') ?? '')).toBe('Total: 7');
    expect(answer.body).toContain('7 <b>orders</b>');
    expect(answer.body).toContain('style="color: red;"'); // the same rendering as a run: CSS inlined
    // Without data, a report with no source renders with empty data, like the POST preview.
    const empty = await page(id);
    expect(empty.status).toBe(200);
    expect(empty.body).toContain(' <b>orders</b>');
    expect(sink.messages).toHaveLength(0); // a preview sends nothing
  });

  it('answers the text part as escaped preformatted text when the report has no HTML', async () => {
    const id = await create({
      name: 'text-page',
      to: ['team@example.com'],
      subject: 'Plain',
      text: 'a < b & {{ data.word }}',
      data: { type: 'none' },
    });
    const answer = await page('text-page', `?data=${encodeURIComponent('{"word":"<i>x</i>"}')}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^<!doctype html>/);
    expect(answer.body).toContain('<pre');
    expect(answer.body).toContain('a &#60; b &#38; &#60;i&#62;x&#60;/i&#62;');
    expect(answer.body).not.toContain('<i>');
    expect((await page(id)).status).toBe(200);
  });

  it('a push report uses the data of its newest run with data, and says what to do before any', async () => {
    const id = await create({
      name: 'push-page',
      to: ['team@example.com'],
      subject: 'Sign-ups: {{ data.count }}',
      html: '<h1>{{ data.count }} sign-ups</h1>',
      data: { type: 'push' },
    });
    const before = await page(id);
    expect(before.status).toBe(400);
    expect(before.headers.get('content-type')).toMatch(/^application\/json/);
    const error = (before.body as unknown as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('REPORT_DATA_MISSING');
    expect(error.message).toMatch(/run it with data first, or use POST .*preview with data/);

    for (const count of [3, 5]) {
      const run = await app.request('POST', `/api/reports/${id}/runs`, { body: { data: { count } } });
      expect(run.status).toBe(202);
    }
    const after = await page(id);
    expect(after.status).toBe(200);
    expect(after.body).toContain('<h1>5 sign-ups</h1>');
    // Data given in the query wins over the pushed data.
    const given = await page(id, `?data=${encodeURIComponent('{"count":9}')}`);
    expect(given.body).toContain('<h1>9 sign-ups</h1>');
  });

  it('refuses data that is not a JSON object, naming the field', async () => {
    const id = await create({
      name: 'bad-data',
      to: ['team@example.com'],
      subject: 'x',
      text: 'y',
      data: { type: 'none' },
    });
    for (const data of ['not json', '[1,2]', '3']) {
      const answer = await page(id, `?data=${encodeURIComponent(data)}`);
      expect(answer.status).toBe(400);
      const body = answer.body as unknown as { error: { code: string; details: Array<{ field: string }> } };
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.details[0]?.field).toBe('data');
    }
  });

  it('answers 404 for an unknown report', async () => {
    const answer = await page('01900000-0000-7000-8000-000000000000');
    expect(answer.status).toBe(404);
    expect((answer.body as unknown as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});
