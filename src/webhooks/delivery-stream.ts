import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { streamView } from '../core/http/sse.js';
import type { Webhooks } from './service.js';
import { deliveryWithAttempts } from './views.js';

/** A delivery in one of these states changes no more unless it is replayed. */
const FINAL = new Set(['succeeded', 'failed', 'dead']);
const idParams = z.object({ id: z.string().min(1).max(64) });

/**
 * `GET /api/deliveries/:id/events` (core/http/sse.ts): a `delivery` event with the delivery and
 * its attempts (the view of `GET /api/deliveries/:id`) whenever it changed, then `end` with its
 * status once it is final (at once when it already is).
 */
export function registerDeliveryStream(
  app: HttpApp,
  webhooks: Webhooks,
  isShuttingDown: () => boolean,
): void {
  app.get(
    '/deliveries/:id/events',
    {
      schema: {
        summary:
          'Server-Sent Events: `delivery` (the delivery with its attempts) whenever it changes, then `end` once it is succeeded, failed or dead.',
        tags: ['webhooks'],
        params: idParams,
        produces: ['text/event-stream'],
        response: { 200: z.string().describe('text/event-stream') },
      },
    },
    async (request, reply) => {
      const db = webhooks.store.db;
      // A missing delivery answers 404 before the stream starts.
      let first: Awaited<ReturnType<typeof deliveryWithAttempts.load>> | undefined =
        await deliveryWithAttempts.load(db, request.params.id);
      return streamView(request, reply, {
        clock: webhooks.clock,
        event: 'delivery',
        isShuttingDown,
        read: async () => {
          const view =
            first ?? (await deliveryWithAttempts.load(db, request.params.id).catch(() => undefined));
          first = undefined;
          if (!view) return undefined;
          return { view, end: FINAL.has(view.status) ? { status: view.status } : undefined };
        },
      });
    },
  );
}
