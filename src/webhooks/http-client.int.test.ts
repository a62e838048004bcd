import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type LookupFunction, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { AppError } from '../core/errors.js';
import { PUBLIC_TARGETS_ONLY, TargetGuard } from '../core/net/ssrf.js';
import { WebhookHttpClient, type WebhookHttpClientOptions, type WebhookHttpRequest } from './http-client.js';

/** A raw node:http server on 127.0.0.1, for answers the receiver cannot script. */
async function startRawServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => req.resume().once('end', () => handler(req, res)));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A base lookup answering `first` the first time and `then` on every later call. */
function rebindingLookup(first: string, then: string): LookupFunction & { calls: number } {
  const lookup = ((_hostname, options, callback) => {
    lookup.calls += 1;
    const address = lookup.calls === 1 ? first : then;
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as LookupFunction & { calls: number };
  lookup.calls = 0;
  return lookup;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

async function appError(promise: Promise<unknown>): Promise<AppError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('WebhookHttpClient', () => {
  let receiver: HttpReceiver;
  const clients: WebhookHttpClient[] = [];
  /** A client whose guard allows every private target (the receivers are on loopback), or none when `strict`. */
  const client = (
    options: Omit<WebhookHttpClientOptions, 'guard'> & { lookup?: LookupFunction; strict?: boolean } = {},
  ) => {
    const { lookup, strict, ...rest } = options;
    const guard = new TargetGuard(strict ? PUBLIC_TARGETS_ONLY : { allowed: 'all' }, lookup);
    const created = new WebhookHttpClient({ ...rest, guard });
    clients.push(created);
    return created;
  };
  const post = (url: string, extra: Partial<WebhookHttpRequest> = {}): WebhookHttpRequest => ({
    url,
    headers: { 'Content-Type': 'application/json' },
    body: '{"event":"mail.received"}',
    connectTimeoutMs: 2_000,
    timeoutMs: 5_000,
    ...extra,
  });

  beforeAll(async () => {
    receiver = await startHttpReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });
  afterEach(async () => {
    receiver.reset();
    await Promise.all(clients.splice(0).map((created) => created.close()));
  });

  it('POSTs once and captures status, headers and body', async () => {
    receiver.respond({ status: 200, headers: { 'X-Request-Id': 'r-1' }, body: { success: true } });
    const body = JSON.stringify({ event: 'mail.received', subject: 'Café' });
    const response = await client().send(
      post(`${receiver.url}/hooks/a?token=secret`, { body, headers: { 'Webhook-Id': 'msg_1' } }),
    );
    expect(response).toEqual({
      statusCode: 200,
      headers: expect.objectContaining({ 'x-request-id': 'r-1', 'content-type': 'application/json' }),
      body: '{"success":true}',
      bodyTruncated: false,
      latencyMs: expect.any(Number),
    });
    expect(response.latencyMs).toBeGreaterThan(0);
    const [request] = await receiver.waitForRequests(1);
    expect(receiver.requests).toHaveLength(1);
    expect(request).toMatchObject({ method: 'POST', path: '/hooks/a?token=secret' });
    expect(request!.headers).toMatchObject({
      'user-agent': 'Facteur-Webhooks/1.0',
      'content-length': String(Buffer.byteLength(body)),
      'webhook-id': 'msg_1',
    });
    expect(request!.text()).toBe(body);
  });

  it('joins repeated response headers and honours a custom user agent', async () => {
    const raw = await startRawServer((req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Agent', req.headers['user-agent'] ?? '');
      res.end('ok');
    });
    try {
      const response = await client({ userAgent: 'Test/2' }).send(post(raw.url));
      expect(response.headers['set-cookie']).toBe('a=1, b=2');
      expect(response.headers['x-agent']).toBe('Test/2');
    } finally {
      await raw.close();
    }
  });

  it('keeps at most maxBodyBytes, drops a cut character, and reuses the connection', async () => {
    const ports: number[] = [];
    const raw = await startRawServer((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.end(req.url === '/long' ? 'é'.repeat(5_000) : 'short');
    });
    try {
      // One connection per origin: were the truncated body left unread, the second send would
      // wait for that connection forever; the same client port shows it was reused.
      const webhooks = client({ maxBodyBytes: 1_001, connectionsPerOrigin: 1 });
      const long = await webhooks.send(post(`${raw.url}/long`));
      expect(long).toMatchObject({ statusCode: 200, bodyTruncated: true, body: 'é'.repeat(500) });
      const short = await webhooks.send(post(`${raw.url}/short`));
      expect(short).toMatchObject({ body: 'short', bodyTruncated: false });
      expect(ports).toHaveLength(2);
      expect(ports[1]).toBe(ports[0]);
    } finally {
      await raw.close();
    }
  });

  it('closes the connection instead of reading a huge remainder', async () => {
    const ports: number[] = [];
    const raw = await startRawServer((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.end(req.url === '/huge' ? Buffer.alloc(4 * 1024 * 1024, 'x') : 'short');
    });
    try {
      const webhooks = client({ maxBodyBytes: 16, connectionsPerOrigin: 1 });
      const huge = await webhooks.send(post(`${raw.url}/huge`));
      expect(huge).toMatchObject({ body: 'x'.repeat(16), bodyTruncated: true });
      expect((await webhooks.send(post(`${raw.url}/short`))).body).toBe('short');
      expect(ports).toHaveLength(2);
      expect(ports[1]).not.toBe(ports[0]);
    } finally {
      await raw.close();
    }
  });

  it('returns 500, 410 and 302 as responses and never follows the redirect', async () => {
    const webhooks = client();
    receiver.sequence({ status: 500, body: 'boom' }, { status: 410 });
    expect(await webhooks.send(post(receiver.url))).toMatchObject({ statusCode: 500, body: 'boom' });
    expect(await webhooks.send(post(receiver.url))).toMatchObject({ statusCode: 410, body: '' });
    receiver.reset();
    receiver.respond({ kind: 'redirect', location: `${receiver.url}/moved` });
    const redirect = await webhooks.send(post(`${receiver.url}/hook`));
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe(`${receiver.url}/moved`);
    expect(receiver.requests.map((request) => request.path)).toEqual(['/hook']);
  });

  it('times out with WEBHOOK_TIMEOUT when the receiver never answers', async () => {
    receiver.respond({ kind: 'hang' });
    const error = await appError(client().send(post(receiver.url, { timeoutMs: 300 })));
    expect(error.code).toBe('WEBHOOK_TIMEOUT');
    expect(error.details).toEqual({
      host: '127.0.0.1',
      port: receiver.port,
      phase: 'response',
      timeout: 'total',
      timeoutMs: 300,
    });
    expect(error.message).toContain(`127.0.0.1:${receiver.port}`);
    expect(error.message).toContain('timeoutMs = 300 ms');
    expect(receiver.requests).toHaveLength(1);
  });

  it('times out when the receiver hangs after the headers, and destroys the socket', async () => {
    let serverSocketClosed: Promise<void> | undefined;
    const raw = await startRawServer((req, res) => {
      serverSocketClosed = new Promise((resolve) => req.socket.once('close', () => resolve()));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    try {
      const error = await appError(client().send(post(raw.url, { timeoutMs: 300 })));
      expect(error.code).toBe('WEBHOOK_TIMEOUT');
      expect(error.details).toMatchObject({ phase: 'body', timeout: 'total', timeoutMs: 300 });
      await serverSocketClosed;
    } finally {
      await raw.close();
    }
  });

  it('reports a reset as WEBHOOK_CONNECTION_RESET', async () => {
    receiver.respond({ kind: 'reset' });
    const error = await appError(client().send(post(receiver.url)));
    expect(error.code).toBe('WEBHOOK_CONNECTION_RESET');
    expect(error.details).toMatchObject({ host: '127.0.0.1', port: receiver.port, phase: 'response' });
    expect(error.retryable).toBe(true);
  });

  it('sends once more on a new connection when the receiver drops the idle one it reused', async () => {
    const connections: Socket[] = [];
    let requests = 0;
    const raw = await startRawServer((req, res) => {
      requests++;
      // The second request arrives on the kept-alive connection just as the receiver gives it
      // up: it is lost without an answer. The same request on a new connection is answered.
      if (requests === 2) req.socket.destroy();
      else res.setHeader('content-length', 16).end('{"success":true}');
    });
    raw.server.on('connection', (socket: Socket) => connections.push(socket));
    try {
      const sender = client({ connectionsPerOrigin: 1 }); // the second send goes over the first connection
      expect((await sender.send(post(raw.url))).statusCode).toBe(200);
      expect((await sender.send(post(raw.url))).statusCode).toBe(200);
      expect(requests).toBe(3);
      expect(connections).toHaveLength(2);

      // A reset on a connection dialled for the request itself is not tried again.
      const fresh = client();
      requests = 1;
      const error = await appError(fresh.send(post(raw.url)));
      expect(error.code).toBe('WEBHOOK_CONNECTION_RESET');
      expect(requests).toBe(2);
    } finally {
      await raw.close();
    }
  });

  it('reports a closed port as WEBHOOK_CONNECT_FAILED', async () => {
    const port = await freePort();
    const error = await appError(client().send(post(`http://127.0.0.1:${port}/`)));
    expect(error.code).toBe('WEBHOOK_CONNECT_FAILED');
    expect(error.details).toEqual({ host: '127.0.0.1', port, phase: 'connect', causeCode: 'ECONNREFUSED' });
    expect(error.message).toBe(`webhook receiver 127.0.0.1:${port}: could not connect (ECONNREFUSED)`);
  });

  it('reports a lookup that never answers as a connect timeout', async () => {
    const stuck: LookupFunction = () => {};
    const request = post('http://stuck.test/', { connectTimeoutMs: 200 });
    const error = await appError(client({ lookup: stuck, strict: true }).send(request));
    expect(error.code).toBe('WEBHOOK_TIMEOUT');
    expect(error.details).toMatchObject({ host: 'stuck.test', port: 80, timeout: 'connect', timeoutMs: 200 });
    expect(error.message).toContain('connectTimeoutMs = 200 ms');
  });

  it('reports a name that does not resolve as WEBHOOK_DNS_FAILED', async () => {
    const missing: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    const error = await appError(client({ lookup: missing }).send(post('https://missing.test/')));
    expect(error.code).toBe('WEBHOOK_DNS_FAILED');
    expect(error.details).toEqual({ host: 'missing.test', port: 443, phase: 'dns', causeCode: 'ENOTFOUND' });
  });

  describe('SSRF guard', () => {
    const port = () => receiver.port;
    const refusals: Array<[string, () => string, string, string]> = [
      ['an IPv4 loopback literal', () => `http://127.0.0.1:${port()}/`, '127.0.0.1', 'loopback'],
      ['an IPv6 loopback literal', () => `http://[::1]:${port()}/`, '::1', 'loopback'],
      ['a name resolving to loopback', () => `http://localhost:${port()}/`, 'localhost', 'loopback'],
      ['a private address', () => 'http://10.0.0.1/', '10.0.0.1', 'private'],
      [
        'the metadata address',
        () => 'http://169.254.169.254/latest/meta-data',
        '169.254.169.254',
        'metadata',
      ],
    ];
    for (const [what, url, host, rule] of refusals) {
      it(`refuses ${what} before sending anything`, async () => {
        const error = await appError(client({ strict: true }).send(post(url())));
        expect(error.code).toBe('TARGET_FORBIDDEN');
        expect(error.details).toMatchObject({ host, rule });
        expect(error.message).toContain(
          rule === 'metadata' ? 'metadata addresses are never allowed' : `${rule} addresses are not allowed`,
        );
        expect(receiver.requests).toHaveLength(0);
      });
    }

    it('applies on the TLS path too, before any TCP connection', async () => {
      let connections = 0;
      const tcp = createTcpServer((socket) => {
        connections += 1;
        socket.destroy();
      });
      await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
      const { port: tlsPort } = tcp.address() as { port: number };
      try {
        const request = post(`https://localhost:${tlsPort}/`);
        const error = await appError(client({ strict: true }).send(request));
        expect(error.code).toBe('TARGET_FORBIDDEN');
        expect(connections).toBe(0);
      } finally {
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
      }
    });

    it('defeats DNS rebinding: the save-time check passes, the connection is refused', async () => {
      const lookup = rebindingLookup('93.184.216.34', '127.0.0.1');
      const url = `http://rebind.test:${receiver.port}/hook`;
      const strict = new TargetGuard(PUBLIC_TARGETS_ONLY, lookup);
      await expect(strict.checkUrl(url, 'url')).resolves.toBeInstanceOf(URL);
      const webhooks = new WebhookHttpClient({ guard: strict });
      clients.push(webhooks);
      const error = await appError(webhooks.send(post(url)));
      expect(error.code).toBe('TARGET_FORBIDDEN');
      expect(error.details).toEqual({ host: 'rebind.test', address: '127.0.0.1', rule: 'loopback' });
      expect(lookup.calls).toBe(2);
      expect(receiver.requests).toHaveLength(0);

      const allowed = await client({ lookup }).send(post(url));
      expect(allowed.statusCode).toBe(200);
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0]!.headers.host).toBe(`rebind.test:${receiver.port}`);
    });
  });

  describe('abort', () => {
    it('rejects with the reason while waiting for the answer', async () => {
      receiver.respond({ kind: 'hang' });
      const controller = new AbortController();
      const sending = client().send(post(receiver.url, { signal: controller.signal }));
      await receiver.waitForRequests(1);
      const reason = new Error('shutting down');
      controller.abort(reason);
      expect(await rejection(sending)).toBe(reason);
    });

    it('rejects with the reason while still connecting', async () => {
      let called!: () => void;
      const lookupCalled = new Promise<void>((resolve) => {
        called = resolve;
      });
      const stuck: LookupFunction = () => called();
      const controller = new AbortController();
      const request = post('http://stuck.test/', { connectTimeoutMs: 300, signal: controller.signal });
      const sending = client({ lookup: stuck }).send(request);
      await lookupCalled;
      const reason = new Error('cancelled');
      controller.abort(reason);
      expect(await rejection(sending)).toBe(reason);
    });

    it('rejects at once with the reason of an already aborted signal', async () => {
      const reason = new Error('too late');
      const request = post(receiver.url, { signal: AbortSignal.abort(reason) });
      expect(await rejection(client().send(request))).toBe(reason);
    });
  });
});
