import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';

/**
 * Live views over Server-Sent Events, one shape for every stream the dashboard follows (a
 * campaign's progress, the watchers' state, a delivery's attempts): the view is read from the
 * database every `pollMs` on the injected clock and pushed as `event` whenever it changed, so a
 * stream shows the work of every instance; a comment every 15 s keeps proxies from closing an
 * idle connection; `end` is sent once the view is over (or gone, or the server shuts down) and
 * the stream closes. A browser's EventSource reconnects by itself and gets the current view
 * first.
 */

const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

/** What one look at the view found. */
export interface ViewLook {
  /** The view pushed when it differs from the last one sent. */
  view: unknown;
  /** When set, the stream sends `end` with this data after the view and closes. */
  end?: unknown;
}

export interface ViewStreamOptions {
  clock: Clock;
  /** Reads the view now; undefined when it no longer exists (then `end` says `deleted`). */
  read(): Promise<ViewLook | undefined>;
  /** The event name of a view (e.g. `progress`, `state`). */
  event: string;
  isShuttingDown(): boolean;
  pollMs?: number;
}

/** Open streams, closed at shutdown before the HTTP server waits for its requests. */
const open = new Set<() => void>();

/** Ends every open stream (at shutdown). */
export function closeViewStreams(): void {
  for (const close of [...open]) close();
}

/** Takes over `reply` and streams the view until it is over or the client leaves. */
export async function streamView(
  request: FastifyRequest,
  reply: FastifyReply,
  options: ViewStreamOptions,
): Promise<void> {
  // HEAD (which Fastify adds beside each GET) answers the headers alone: a stream never ends.
  if (request.method === 'HEAD') {
    await reply.type('text/event-stream; charset=utf-8').send('');
    return;
  }
  const { clock } = options;
  const pollMs = options.pollMs ?? POLL_MS;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let last = '';
  let lastWrite = clock.now();
  let closed = false;
  let timer: { cancel(): void } | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    timer?.cancel();
    open.delete(close);
    raw.end();
  };
  open.add(close);
  request.raw.on('close', close);
  const send = (event: string, data: unknown) => {
    raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    lastWrite = clock.now();
  };
  const look = async (found: ViewLook | undefined) => {
    if (closed) return;
    if (!found) {
      send('end', { reason: 'deleted' });
      return close();
    }
    const text = JSON.stringify(found.view);
    if (text !== last) {
      last = text;
      send(options.event, found.view);
    } else if (clock.now() - lastWrite >= HEARTBEAT_MS) {
      raw.write(': keep-alive\n\n');
      lastWrite = clock.now();
    }
    if (found.end !== undefined || options.isShuttingDown()) {
      send('end', found.end ?? { reason: 'shutdown' });
      return close();
    }
    timer = clock.setTimer(pollMs, () => {
      options
        .read()
        .then(look)
        .catch(() => close());
    });
  };
  await look(await options.read());
}
