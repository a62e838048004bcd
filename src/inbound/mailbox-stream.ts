import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { streamView } from '../core/http/sse.js';
import type { Mailbox } from './mailboxes.js';
import type { Inbound } from './service.js';

/**
 * `GET /api/mailboxes/events` (core/http/sse.ts): a `mailboxes` event with every mailbox and its
 * watchers (the view of `GET /api/mailboxes`) whenever any of it changed, so the dashboard sees a
 * watcher connect, go idle or fail without reloading. The watchers are those of the instance
 * that answers, as in the list. The stream ends only at shutdown.
 */
export function registerMailboxStream(
  app: HttpApp,
  inbound: Inbound,
  view: (mailbox: Mailbox) => unknown,
  isShuttingDown: () => boolean,
): void {
  app.get(
    '/mailboxes/events',
    {
      schema: {
        summary:
          'Server-Sent Events: `mailboxes` (every mailbox with its watchers, as the list shows them) whenever any changes.',
        tags: ['inbound'],
        produces: ['text/event-stream'],
        response: { 200: z.string().describe('text/event-stream') },
      },
    },
    async (request, reply) => {
      return streamView(request, reply, {
        clock: inbound.clock,
        event: 'mailboxes',
        isShuttingDown,
        read: async () => ({ view: { mailboxes: (await inbound.mailboxes.list()).map(view) } }),
      });
    },
  );
}
