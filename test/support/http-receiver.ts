import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A local HTTP server on 127.0.0.1 (random port) for webhook tests: records every request and
 * answers as scripted, including answers that never come, resets and redirects.
 */

/** A request the receiver got, recorded once its body was read in full. */
export interface ReceivedRequest {
  method: string;
  /** Path with query string, as sent. */
  path: string;
  /** Header names are lower case. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  receivedAt: number;
}

/** How the receiver answers a request. */
export type ReceiverReply =
  /** A plain answer; an object body is sent as JSON. */
  | { status: number; headers?: Record<string, string>; body?: string | object }
  /** Never answer; the socket stays open until the client gives up or the receiver closes. */
  | { kind: 'hang' }
  /** Destroy the socket without answering. */
  | { kind: 'reset' }
  /** Wait, then answer with `after`. */
  | { kind: 'delay'; ms: number; after: ReceiverReply }
  /** Redirect to `location` (302 by default). */
  | { kind: 'redirect'; location: string; status?: 301 | 302 | 307 | 308 };

/** Decides the answer to a request (may be async). */
export type ReceiverHandler = (req: ReceivedRequest) => ReceiverReply | Promise<ReceiverReply>;

/** A running HTTP receiver. */
export interface HttpReceiver {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Requests received, in order. */
  readonly requests: ReceivedRequest[];
  /** Sets how requests are answered: a handler or a fixed reply. */
  respond(reply: ReceiverHandler | ReceiverReply): void;
  /** Answers the next requests with `replies` in turn, then repeats the last one. */
  sequence(...replies: ReceiverReply[]): void;
  /** Resolves once at least `count` requests were received. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Forgets recorded requests and restores the default answer. */
  reset(): void;
  /** Destroys every open socket (hanging ones included) and stops listening. */
  close(): Promise<void>;
}

/** The default answer: 200 with `{ "success": true }`. */
export const DEFAULT_REPLY: ReceiverReply = { status: 200, body: { success: true } };

/** A delay before answering with `after`. */
export function delayedReply(ms: number, after: ReceiverReply): ReceiverReply {
  return { kind: 'delay', ms, after };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function record(req: IncomingMessage, body: Buffer): ReceivedRequest {
  return {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: { ...req.headers },
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
    receivedAt: Date.now(),
  };
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body?: string | object,
): void {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  let payload = '';
  if (typeof body === 'string') {
    payload = body;
    lower['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    lower['content-type'] ??= 'application/json';
  }
  res.writeHead(status, { ...lower, 'content-length': String(Buffer.byteLength(payload)) });
  res.end(payload);
}

type Waiter = { check: () => void; timer: NodeJS.Timeout };

/** Starts an HTTP receiver on 127.0.0.1 with a random free port. */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<Waiter>();
  let handler: ReceiverHandler = () => DEFAULT_REPLY;

  const perform = (req: IncomingMessage, res: ServerResponse, reply: ReceiverReply): void => {
    if (!('kind' in reply)) send(res, reply.status, reply.headers ?? {}, reply.body);
    else if (reply.kind === 'reset') req.socket.destroy();
    else if (reply.kind === 'redirect') send(res, reply.status ?? 302, { location: reply.location });
    else if (reply.kind === 'delay') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!req.socket.destroyed) perform(req, res, reply.after);
      }, reply.ms);
      timers.add(timer);
    }
    // 'hang': never answer.
  };

  const server = createServer((req, res) => {
    readBody(req)
      .then(async (body) => {
        const received = record(req, body);
        requests.push(received);
        for (const waiter of waiters) waiter.check();
        perform(req, res, await handler(received));
      })
      .catch((error: Error) => {
        if (!res.headersSent && !req.socket.destroyed) send(res, 500, {}, `http receiver: ${error.message}`);
      });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('http receiver: no TCP address');
  const port = address.port;

  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    respond(reply) {
      handler = typeof reply === 'function' ? reply : () => reply;
    },
    sequence(...replies) {
      let next = 0;
      handler = () => {
        const reply = replies[Math.min(next, replies.length - 1)] ?? DEFAULT_REPLY;
        next += 1;
        return reply;
      };
    },
    waitForRequests(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          check: () => {
            if (requests.length < count) return;
            clearTimeout(waiter.timer);
            waiters.delete(waiter);
            resolve(requests.slice());
          },
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(
                `http receiver: expected ${count} requests within ${timeoutMs} ms, got ${requests.length}`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
        waiter.check();
      });
    },
    reset() {
      requests.length = 0;
      handler = () => DEFAULT_REPLY;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
