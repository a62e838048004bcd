import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../../test/support/facteur.js';

/**
 * The HTTP edge on both databases: text with NUL or unpaired surrogates is refused with a 400
 * naming the field (PostgreSQL would fail with a 500, SQLite would store it), prototype keys are
 * refused as fields, routing errors and over-limit bodies answer in the API's error shape, and a
 * client still sending an over-limit body reads a 413 instead of a reset.
 */

const skip = await databaseSkipReason();

interface ErrorAnswer {
  error: { code: string; message: string; details: unknown };
}

describe.skipIf(skip)('the HTTP edge', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur({ FACTEUR_HTTP_BODY_LIMIT: '64kb' });
  });
  afterAll(async () => {
    await app?.close();
  });

  const fieldOf = (body: ErrorAnswer) => (body.error.details as Array<{ in: string; field: string }>)[0];

  it.each([
    ['a NUL', 'a\u0000b', /NUL \(U\+0000\) at position 1/],
    ['a lone high surrogate', 'x\ud800', /unpaired surrogate \(U\+D800\)/],
    ['a lone low surrogate', '\udc00', /unpaired surrogate \(U\+DC00\)/],
  ])('refuses %s in a JSON string, naming the field, and stores nothing', async (_name, subject, message) => {
    const answer = await app.request<ErrorAnswer>('POST', '/api/messages', {
      body: { to: ['bob@example.com'], subject, text: 'hi', idempotencyKey: `edge-${subject.length}` },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    expect(fieldOf(answer.body)).toMatchObject({ in: 'body', field: 'subject' });
    expect(answer.body.error.message).toMatch(message);
    const list = await app.request<{ messages: unknown[] }>('GET', '/api/messages');
    expect(list.body.messages).toHaveLength(0);
  });

  it('accepts text whose surrogates are paired (an emoji), and names a nested field', async () => {
    const ok = await app.request('POST', '/api/messages', {
      body: { to: ['bob@example.com'], subject: 'bravo \ud83c\udf89', text: 'hi' },
    });
    expect(ok.status).toBe(202);
    const nested = await app.request<ErrorAnswer>('POST', '/api/messages', {
      body: { to: ['bob@example.com'], subject: 's', text: 'hi', headers: { 'X-Tag': 'a\u0000' } },
    });
    expect(nested.status).toBe(400);
    expect(fieldOf(nested.body)).toMatchObject({ in: 'body', field: 'headers.X-Tag' });
  });

  it('refuses NUL in path parameters and query strings', async () => {
    const path = await app.request<ErrorAnswer>('GET', '/api/messages/abc%00def');
    expect(path.status).toBe(400);
    expect(fieldOf(path.body)).toMatchObject({ in: 'params', field: 'id' });
    const query = await app.request<ErrorAnswer>('GET', '/api/messages?before=a%00b');
    expect(query.status).toBe(400);
    expect(fieldOf(query.body)).toMatchObject({ in: 'querystring', field: 'before' });
  });

  it('refuses a __proto__ key as a field, not as invalid JSON', async () => {
    const answer = await app.request<ErrorAnswer>('POST', '/api/messages', {
      body: '{"to":["bob@example.com"],"subject":"s","text":"t","__proto__":{"admin":true}}',
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    expect(fieldOf(answer.body)).toMatchObject({ in: 'body', field: '__proto__' });
    const broken = await app.request<ErrorAnswer>('POST', '/api/messages', { body: '{"to":' });
    expect(broken.body.error.code).toBe('INVALID_JSON');
  });

  it('answers routing errors in the error shape, without echoing the URL', async () => {
    const badUrl = await app.request<ErrorAnswer>('GET', '/api/messages/%ff%fe');
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error.code).toBe('VALIDATION_FAILED');
    const long = 'x'.repeat(5000);
    const tooLong = await app.request<ErrorAnswer>('GET', `/api/messages/${long}`);
    expect(tooLong.status).toBe(414);
    expect(tooLong.body.error.code).toBe('URI_TOO_LONG');
    expect(JSON.stringify(tooLong.body)).not.toContain(long.slice(0, 200));
    const wrongMethod = await app.request<ErrorAnswer>('PUT', '/api/messages');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, POST');
    const missing = await app.request<ErrorAnswer>('GET', `/api/${long}/x`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.message.length).toBeLessThan(300);
  });

  it('names the media type a route takes, and the limit that applies', async () => {
    const plain = await app.request<ErrorAnswer>('POST', '/api/ingress/raw', {
      body: 'Subject: x\r\n\r\nhi',
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain.status).toBe(415);
    expect(plain.body.error.message).toContain('this route takes message/rfc822');
    expect(plain.body.error.message).not.toContain('application/json');
    const json = await app.request<ErrorAnswer>('POST', '/api/messages', {
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(json.body.error.message).toContain('this route takes application/json');
  });

  it('declares message/rfc822 as the request body of /api/ingress/raw', async () => {
    const doc = await app.request<{
      paths: Record<string, Record<string, { requestBody?: { content: object } }>>;
    }>('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths['/api/ingress/raw']?.post?.requestBody?.content ?? {})).toEqual([
      'message/rfc822',
    ]);
  });

  /**
   * Sends `size` bytes at `path` in one write and waits for both the answer and the end of the
   * upload: a server that answers and closes early makes the upload fail with EPIPE or a reset
   * even though a 413 was read.
   */
  function streamBody(path: string, size: number, contentType: string) {
    return new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
      const url = new URL(app.url + path);
      const outcome: { status?: number; body?: string; error?: string } = {};
      let answered = false;
      let uploaded = false;
      const settle = () => {
        if (answered && uploaded) resolve(outcome);
      };
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          headers: {
            'content-type': contentType,
            'content-length': size,
            authorization: `Bearer ${app.key}`,
          },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => {
            Object.assign(outcome, { status: res.statusCode, body });
            answered = true;
            settle();
          });
        },
      );
      req.on('error', (error) => {
        outcome.error = (error as NodeJS.ErrnoException).code ?? error.message;
        answered = true;
        uploaded = true;
        settle();
      });
      req.end(Buffer.alloc(size, 0x61), () => {
        uploaded = true;
        settle();
      });
    });
  }

  it('answers 413 to a client still sending an over-limit body, naming the limit that applies', async () => {
    const general = await streamBody('/api/messages', 4 * 1024 * 1024, 'application/json');
    expect(general.error).toBeUndefined();
    expect(general.status).toBe(413);
    const body = JSON.parse(general.body ?? '{}') as ErrorAnswer;
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.message).toContain('64 KiB (the limit set by FACTEUR_HTTP_BODY_LIMIT)');

    const raw = await streamBody('/api/ingress/raw', 27 * 1024 * 1024, 'message/rfc822');
    expect(raw.error).toBeUndefined();
    expect(raw.status).toBe(413);
    const rawBody = JSON.parse(raw.body ?? '{}') as ErrorAnswer;
    expect(rawBody.error.message).toContain("26 MiB (this route's own limit)");
    expect(rawBody.error.message).not.toContain('FACTEUR_HTTP_BODY_LIMIT');
    const health = await app.request('GET', '/healthz');
    expect(health.status).toBe(200);
  });

  it('decodes a JSON body whose characters are split between the chunks it arrives in', async () => {
    const name = 'Café 🎉 split';
    const bytes = Buffer.from(JSON.stringify({ name }), 'utf8');
    const cut = [bytes.indexOf(0xc3) + 1, bytes.indexOf(0xf0) + 2]; // inside é, inside the emoji
    const parts = [bytes.subarray(0, cut[0]), bytes.subarray(cut[0], cut[1]), bytes.subarray(cut[1])];
    const url = new URL(app.url);
    const answer = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: '/api/lists',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${app.key}` },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode, body }));
        },
      );
      req.on('error', reject);
      // Each part in its own chunk of the chunked encoding, written once the one before is out.
      const write = (index: number): void => {
        const part = parts[index];
        if (part === undefined) req.end();
        else req.write(part, () => write(index + 1));
      };
      write(0);
    });
    expect(answer.status).toBe(201);
    expect((JSON.parse(answer.body) as { name: string }).name).toBe(name);
  });

  it('takes a bare POST on a route whose body is optional', async () => {
    const created = await app.request<{ id: string }>('POST', '/api/endpoints', {
      body: { name: 'edge', url: 'https://example.com/hook' },
    });
    expect(created.status).toBe(201);
    for (const headers of [{ 'content-type': 'application/json' }, {}] as Array<Record<string, string>>) {
      const rotated = await app.request<{ secret: string }>(
        'POST',
        `/api/endpoints/${created.body.id}/rotate-secret`,
        {
          body: '',
          headers,
        },
      );
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
    }
    // The OpenAPI document says so: those bodies may be left out, the others are required.
    const doc = await app.request<{
      paths: Record<
        string,
        Record<string, { requestBody?: { required?: boolean } & Record<string, unknown> }>
      >;
    }>('GET', '/openapi.json');
    for (const path of ['/api/endpoints/{id}/rotate-secret', '/api/endpoints/{id}/test']) {
      expect(doc.body.paths[path]?.post?.requestBody?.required).toBe(false);
      expect(JSON.stringify(doc.body.paths[path])).not.toContain('x-facteur');
    }
    expect(doc.body.paths['/api/endpoints']?.post?.requestBody?.required).toBe(true);
  });
});
