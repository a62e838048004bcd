import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { createApiKey, revokeKey } from '../access/index.js';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/observability/index.js';

const skip = await databaseSkipReason();

interface ErrorAnswer {
  error: {
    code: string;
    message: string;
    details: Array<{ in: string; field: string; message: string }> | null;
  };
}
interface Accepted {
  id: string;
  status: string;
}
interface MessageAnswer {
  id: string;
  status: string;
  messageId: string;
  sentAt: string | null;
  attempts: Array<{ number: number; outcome: string; smtpCode: number | null; smtpResponse: string | null }>;
}
interface CaughtList {
  messages: Array<{ id: string; messageId: string; to: string[]; subject: string }>;
}

const message = { to: ['bob@example.com'], subject: 'Daily report', text: 'All good.' };

describe.skipIf(skip)('messages API on the built-in catcher', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur();
  });
  afterAll(async () => {
    await app?.close();
  });

  const waitForStatus = (id: string, status: string) =>
    vi.waitFor(
      async () => {
        const answer = await app.request<MessageAnswer>('GET', `/api/messages/${id}`);
        expect(answer.body.status).toBe(status);
        return answer.body;
      },
      { timeout: 10_000, interval: 50 },
    );

  it('answers 202 at once, delivers to the catcher, and reports sent with the Message-ID', async () => {
    const accepted = await app.request<Accepted>('POST', '/api/messages', { body: message });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({ id: expect.any(String), status: 'queued' });
    expect(accepted.headers.get('location')).toBe(`/api/messages/${accepted.body.id}`);
    const sent = await waitForStatus(accepted.body.id, 'sent');
    expect(sent.messageId).toMatch(/^<.+@localhost>$/);
    expect(sent.sentAt).not.toBeNull();
    expect(sent.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'sent', smtpCode: 250 })]);
    const caught = await app.request<CaughtList>('GET', '/api/catcher/messages');
    const found = caught.body.messages.find((m) => m.messageId === sent.messageId);
    expect(found).toMatchObject({ to: ['bob@example.com'], subject: 'Daily report' });
    const one = await app.request<{ raw: string }>('GET', `/api/catcher/messages/${found?.id}`);
    expect(one.body.raw).toContain('All good.');
    expect(one.body.raw).toContain(`Message-ID: ${sent.messageId}`);
  });

  it('returns the same message for a repeated idempotency key and sends it once', async () => {
    const body = { ...message, subject: 'Once only', idempotencyKey: 'report-2026-11-21' };
    const first = await app.request<Accepted>('POST', '/api/messages', { body });
    const second = await app.request<Accepted>('POST', '/api/messages', { body });
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const viaHeader = await app.request<Accepted>('POST', '/api/messages', {
      body: { ...message, subject: 'Once only' },
      headers: { 'idempotency-key': 'report-2026-11-21' },
    });
    expect(viaHeader.body.id).toBe(first.body.id);
    const sent = await waitForStatus(first.body.id, 'sent');
    const caught = await app.request<CaughtList>('GET', '/api/catcher/messages?limit=500');
    expect(caught.body.messages.filter((m) => m.messageId === sent.messageId)).toHaveLength(1);

    const conflict = await app.request<ErrorAnswer>('POST', '/api/messages', {
      body: { ...body, subject: 'Different' },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('lists messages newest first with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (await app.request<Accepted>('POST', '/api/messages', { body: { ...message, subject: `page ${i}` } }))
          .body.id,
      );
    const page = await app.request<{ messages: Array<{ id: string }>; nextBefore: string }>(
      'GET',
      '/api/messages?limit=2',
    );
    expect(page.body.messages.map((m) => m.id)).toEqual([ids[2], ids[1]]);
    const next = await app.request<{ messages: Array<{ id: string }> }>(
      'GET',
      `/api/messages?limit=2&before=${page.body.nextBefore}`,
    );
    expect(next.body.messages[0]?.id).toBe(ids[0]);
    // The last page says so: an exactly full page still gets nextBefore null when nothing follows.
    const all = await app.request<{ messages: Array<{ id: string }>; nextBefore: string | null }>(
      'GET',
      '/api/messages?limit=500',
    );
    const exact = await app.request<{ nextBefore: string | null }>(
      'GET',
      `/api/messages?limit=${all.body.messages.length}`,
    );
    expect(exact.body.nextBefore).toBeNull();
  });

  it('searches by subject, sender or recipient (ASCII case ignored), or the exact Message-ID', async () => {
    const send = async (body: Record<string, unknown>) =>
      (await app.request<Accepted>('POST', '/api/messages', { body: { ...message, ...body } })).body.id;
    const invoice = await send({ subject: 'Facture 100% payée', to: ['Claire.Dupont@example.fr'] });
    const other = await send({ subject: 'Facture_2 à régler', to: ['paul@example.org'] });
    const accented = await send({ subject: 'Réunion du bureau', to: ['bureau@example.org'] });
    const search = async (q: string) =>
      (
        await app.request<{ messages: Array<{ id: string }> }>(
          'GET',
          `/api/messages?limit=500&q=${encodeURIComponent(q)}`,
        )
      ).body.messages.map((m) => m.id);
    expect(await search('FACTURE')).toEqual([other, invoice]);
    expect(await search('claire.dupont@EXAMPLE')).toEqual([invoice]);
    // % and _ are literal, not wildcards.
    expect(await search('100%')).toEqual([invoice]);
    expect(await search('e_2')).toEqual([other]);
    expect(await search('e_1')).toEqual([]);
    // Accented letters match as written, on both databases.
    expect(await search('Réunion')).toEqual([accented]);
    const sent = await waitForStatus(invoice, 'sent');
    expect(await search(sent.messageId)).toEqual([invoice]);
    expect(await search(invoice)).toEqual([invoice]);
    const filtered = await app.request<{ messages: Array<{ id: string }> }>(
      'GET',
      '/api/messages?status=failed&q=facture',
    );
    expect(filtered.body.messages).toEqual([]);
    const bad = await app.request<ErrorAnswer>('GET', `/api/messages?q=${'x'.repeat(201)}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ in: 'querystring', field: 'q' })]);
  });

  describe('bad input', () => {
    const post = (body: unknown, headers?: Record<string, string>) =>
      app.request<ErrorAnswer>('POST', '/api/messages', { body, ...(headers ? { headers } : {}) });

    it('invalid JSON: 400 INVALID_JSON', async () => {
      const answer = await post('{"to": [', { 'content-type': 'application/json' });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_JSON');
    });

    it('missing to: 400 naming the field', async () => {
      const answer = await post({ subject: 's', text: 't' });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('VALIDATION_FAILED');
      expect(answer.body.error.details).toContainEqual({ in: 'body', field: 'to', message: 'is required' });
    });

    it('an invalid address: 400 naming the element', async () => {
      const answer = await post({ ...message, to: ['ok@example.com', 'not-an-address'] });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details).toEqual([
        expect.objectContaining({ field: 'to[1]', message: expect.stringContaining('not an email address') }),
      ]);
    });

    it('every bad field at once, unknown fields and header injection included', async () => {
      const answer = await post({
        to: [],
        subject: 'a\r\nBcc: victim@example.com',
        text: 't',
        tO: ['x@example.com'],
        headers: { 'Message-ID': '<x@y>' },
      });
      const fields = answer.body.error.details?.map((d) => d.field) ?? [];
      expect(answer.status).toBe(400);
      expect(fields).toEqual(expect.arrayContaining(['to', 'subject', 'headers.Message-ID', 'tO']));
      expect(answer.body.error.details).toContainEqual({
        in: 'body',
        field: 'tO',
        message: 'is not a known field',
      });
      expect(answer.body.error.details).toContainEqual({
        in: 'body',
        field: 'headers.Message-ID',
        message: 'is set by Facteur from the message fields and cannot be given as a header',
      });
    });

    it('neither text nor html: 400 on text', async () => {
      const answer = await post({ to: ['a@example.com'], subject: 's' });
      expect(answer.body.error.details).toContainEqual({
        in: 'body',
        field: 'text',
        message: 'text or html is required',
      });
    });

    it('an oversized body: 413', async () => {
      const answer = await post({ ...message, text: 'x'.repeat(6 * 1024 * 1024) });
      expect(answer.status).toBe(413);
      expect(answer.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('a body that is not JSON: 415', async () => {
      for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
        const answer = await post('to=a@example.com', { 'content-type': type });
        expect(answer.status, type).toBe(415);
        expect(answer.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('accepts nothing from bad input', async () => {
      const list = await app.request<{ messages: Array<{ subject: string }> }>(
        'GET',
        '/api/messages?limit=500',
      );
      expect(list.body.messages.some((m) => m.subject.includes('Bcc'))).toBe(false);
    });
  });

  describe('authentication', () => {
    it('no key: 401 AUTH_REQUIRED', async () => {
      const answer = await app.request<ErrorAnswer>('POST', '/api/messages', { body: message, auth: false });
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('AUTH_REQUIRED');
    });

    it('an unknown key: 401 AUTH_INVALID', async () => {
      const answer = await app.request<ErrorAnswer>('GET', '/api/messages', {
        auth: false,
        headers: { authorization: `Bearer fct_${'a'.repeat(43)}` },
      });
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('AUTH_INVALID');
      expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="facteur", error="invalid_token"');
    });

    it('keeps idempotency keys apart per API key', async () => {
      const other = await createApiKey(
        { store: app.facteur.store, clock: systemClock, logger: silentLogger() },
        'another client',
      );
      const body = { ...message, idempotencyKey: 'shared-key' };
      const mine = await app.request<Accepted>('POST', '/api/messages', { body });
      const theirs = await app.request<Accepted>('POST', '/api/messages', {
        body: { ...body, subject: 'their own message' },
        auth: false,
        headers: { authorization: `Bearer ${other.key}` },
      });
      expect(theirs.status).toBe(202);
      expect(theirs.body.id).not.toBe(mine.body.id);
    });

    it('a revoked key stops working at once', async () => {
      const deps = { store: app.facteur.store, clock: systemClock, logger: silentLogger() };
      const created = await createApiKey(deps, 'to revoke');
      const before = await app.request('GET', '/api/messages', {
        auth: false,
        headers: { authorization: `Bearer ${created.key}` },
      });
      expect(before.status).toBe(200);
      await revokeKey(deps, created.prefix);
      const after = await app.request<ErrorAnswer>('GET', '/api/messages', {
        auth: false,
        headers: { authorization: `Bearer ${created.key}` },
      });
      expect(after.status).toBe(401);
      expect(after.body.error).toMatchObject({ code: 'AUTH_INVALID', message: 'this API key was revoked' });
    });
  });

  it('answers 404 in the error shape for unknown messages, jobs and routes', async () => {
    for (const path of ['/api/messages/nope', '/api/jobs/nope', '/api/nothing-here']) {
      const answer = await app.request<ErrorAnswer>('GET', path);
      expect(answer.status, path).toBe(404);
      expect(answer.body.error.code).toBe('NOT_FOUND');
    }
  });

  it('shows the underlying job, and refuses to replay one that succeeded', async () => {
    const accepted = await app.request<Accepted>('POST', '/api/messages', { body: message });
    await waitForStatus(accepted.body.id, 'sent');
    const view = await app.request<{ jobId: string }>('GET', `/api/messages/${accepted.body.id}`);
    const job = await app.request<{ status: string; queue: string; attempts: number; payload: unknown }>(
      'GET',
      `/api/jobs/${view.body.jobId}`,
    );
    expect(job.body).toMatchObject({
      status: 'succeeded',
      queue: 'mail.send',
      attempts: 1,
      payload: { messageId: accepted.body.id },
    });
    const replay = await app.request<ErrorAnswer>('POST', `/api/jobs/${view.body.jobId}/replay`);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('JOB_NOT_REPLAYABLE');
  });

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    const health = await app.request<{ status: string }>('GET', '/healthz', { auth: false });
    expect(health.body.status).toBe('ok');
    const ready = await app.request<{ status: string; checks: Record<string, { status: string }> }>(
      'GET',
      '/readyz',
      { auth: false },
    );
    expect(ready.status).toBe(200);
    expect(Object.keys(ready.body.checks)).toEqual(
      expect.arrayContaining(['database', 'transport:catcher', 'catcher', 'jobs']),
    );
    expect(ready.body.checks.database?.status).toBe('ok');
    const metrics = await app.request<string>('GET', '/metrics', { auth: false });
    expect(metrics.body).toContain('facteur_http_request_duration_seconds_bucket');
    expect(metrics.body).toMatch(/facteur_jobs_settled_total\{queue="mail.send",outcome="succeeded"\} \d+/);
    const openapi = await app.request<{ paths: Record<string, Record<string, { security?: unknown }>> }>(
      'GET',
      '/openapi.json',
      { auth: false },
    );
    expect(openapi.body.paths['/api/messages']?.post?.security).toEqual([{ bearerAuth: [] }]);
    const responses =
      (openapi.body.paths['/api/messages']?.post as { responses?: Record<string, unknown> } | undefined)
        ?.responses ?? {};
    expect(Object.keys(responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '409', '413', '415']),
    );
    const getResponses =
      (openapi.body.paths['/api/messages/{id}']?.get as { responses?: Record<string, unknown> } | undefined)
        ?.responses ?? {};
    expect(Object.keys(getResponses)).toEqual(expect.arrayContaining(['200', '401', '404']));
    expect(Object.keys(getResponses)).not.toContain('413');
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining(['/api/messages/{id}', '/api/jobs/{id}', '/api/catcher/messages', '/readyz']),
    );
  });
});
