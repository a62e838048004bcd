import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_REPLY, delayedReply, type HttpReceiver, startHttpReceiver } from './http-receiver.js';

describe('http receiver', () => {
  let receiver: HttpReceiver;
  beforeAll(async () => {
    receiver = await startHttpReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });
  beforeEach(() => receiver.reset());

  it('answers 200 with {"success":true} by default and records the request', async () => {
    const res = await fetch(`${receiver.url}/hook?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': 'abc' },
      body: JSON.stringify({ event: 'sent', id: 7 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true });
    const [req] = await receiver.waitForRequests(1);
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/hook?x=1');
    expect(req?.headers['x-signature']).toBe('abc');
    expect(req?.json<{ event: string; id: number }>()).toEqual({ event: 'sent', id: 7 });
    expect(req?.text()).toBe('{"event":"sent","id":7}');
    expect(receiver.url).toBe(`http://127.0.0.1:${receiver.port}`);
  });

  it('answers a scripted 500 with headers and a text body', async () => {
    receiver.respond({ status: 500, headers: { 'Retry-After': '3' }, body: 'boom' });
    const res = await fetch(receiver.url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.text()).toBe('boom');
  });

  it('answers a sequence in turn, then repeats the last reply', async () => {
    receiver.sequence({ status: 503 }, { status: 429 }, { status: 204 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await fetch(receiver.url, { method: 'POST', body: `${i}` })).status);
    expect(statuses).toEqual([503, 429, 204, 204]);
    expect(receiver.requests.map((r) => r.text())).toEqual(['0', '1', '2', '3']);
  });

  it('decides from the request with a handler', async () => {
    receiver.respond((req) => ({ status: req.path === '/ok' ? 201 : 404, body: { path: req.path } }));
    const ok = await fetch(`${receiver.url}/ok`);
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ path: '/ok' });
    expect((await fetch(`${receiver.url}/missing`)).status).toBe(404);
  });

  it('resets the connection', async () => {
    receiver.respond({ kind: 'reset' });
    await expect(fetch(receiver.url, { method: 'POST', body: 'x' })).rejects.toThrow(/fetch failed/);
    expect(receiver.requests).toHaveLength(1);
  });

  it('hangs until the client gives up', async () => {
    receiver.respond({ kind: 'hang' });
    const started = Date.now();
    await expect(fetch(receiver.url, { signal: AbortSignal.timeout(300) })).rejects.toThrow(
      /aborted|timeout/i,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(receiver.requests).toHaveLength(1);
  });

  it('delays then answers', async () => {
    receiver.respond(delayedReply(150, { status: 202 }));
    const started = Date.now();
    expect((await fetch(receiver.url)).status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('redirects', async () => {
    receiver.respond((req) =>
      req.path === '/old' ? { kind: 'redirect', location: '/new', status: 308 } : DEFAULT_REPLY,
    );
    const followed = await fetch(`${receiver.url}/old`, { method: 'POST', body: 'payload' });
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(`${receiver.url}/new`);
    expect(receiver.requests.map((r) => [r.method, r.path, r.text()])).toEqual([
      ['POST', '/old', 'payload'],
      ['POST', '/new', 'payload'],
    ]);
    const manual = await fetch(`${receiver.url}/old`, { redirect: 'manual' });
    expect(manual.status).toBe(308);
    expect(manual.headers.get('location')).toBe('/new');
  });

  it('times out waiting with a clear message', async () => {
    await expect(receiver.waitForRequests(1, 50)).rejects.toThrow('expected 1 requests within 50 ms, got 0');
  });
});
