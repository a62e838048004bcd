import { describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { openEventStream, type StreamEvent } from '../../test/support/sse.js';
import { advanceTo, type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * `GET /api/deliveries/:id/events` on a manual clock: the delivery is pushed when it changes
 * (an attempt failed, then succeeded), a view that did not change is not pushed again (the
 * stream writes a keep-alive instead), and the stream ends once the delivery is final.
 */

const skip = await databaseSkipReason();

/** The `delivery` events' data, in order. */
const deliveries = (events: StreamEvent[]) =>
  events.filter((e) => e.event === 'delivery').map((e) => e.data as Json);

describe.skipIf(skip)('the delivery event stream', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const suite = useWebhookSuite({}, { clock });

  it('pushes each change once and ends when the delivery is final', async () => {
    await suite.api.createEndpoint({ eventTypes: ['order.created'], retrySchedule: ['1h'] });
    suite.receiver.respond({ status: 500, body: 'down' });
    const event = await suite.api.publish('order.created', { order: 1 });
    const id = event.deliveries[0].id as string;
    const failed = await suite.api.waitForDelivery(id, (d) => {
      expect(d.attemptCount).toBe(1);
      expect(d.nextAttemptAt).not.toBeNull();
    });

    const stream = await openEventStream(`${suite.app.url}/api/deliveries/${id}/events`, suite.app.key);
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toContain('text/event-stream');
      await vi.waitFor(() => expect(deliveries(stream.events)).toHaveLength(1));
      expect(deliveries(stream.events)[0]).toMatchObject({ id, status: 'pending', attemptCount: 1 });
      expect(deliveries(stream.events)[0]?.attempts).toHaveLength(1);

      // Nothing changes for 15 s of the clock: polls find the same view and only a keep-alive
      // goes out, never the same delivery twice.
      await vi.waitFor(
        () => {
          clock.advance(1000);
          expect(stream.text()).toContain(': keep-alive');
        },
        { timeout: 10_000, interval: 5 },
      );
      expect(deliveries(stream.events)).toHaveLength(1);

      // The retry is due and succeeds: pushed, then `end`, then the server closes the stream.
      suite.receiver.respond({ status: 200, body: 'ok' });
      advanceTo(clock, failed.nextAttemptAt);
      await vi.waitFor(
        () => {
          clock.advance(1000);
          expect(stream.closed).toBe(true);
        },
        { timeout: 10_000, interval: 5 },
      );
      const views = deliveries(stream.events);
      expect(views.at(-1)).toMatchObject({ id, status: 'succeeded', attemptCount: 2 });
      expect(views.at(-1)?.attempts).toHaveLength(2);
      for (let i = 1; i < views.length; i++) expect(views[i]).not.toEqual(views[i - 1]);
      expect(stream.events.at(-1)).toEqual({ event: 'end', data: { status: 'succeeded' } });
    } finally {
      stream.close();
    }
  });

  it('sends a final delivery and ends at once, and answers 404 for an unknown one', async () => {
    await suite.api.createEndpoint({ eventTypes: ['order.paid'] });
    suite.receiver.respond({ status: 200, body: 'ok' });
    const event = await suite.api.publish('order.paid', { order: 2 });
    const id = event.deliveries[0].id as string;
    await suite.api.waitForDelivery(id, (d) => expect(d.status).toBe('succeeded'));
    const stream = await openEventStream(`${suite.app.url}/api/deliveries/${id}/events`, suite.app.key);
    await vi.waitFor(() => expect(stream.closed).toBe(true));
    expect(stream.events.map((e) => e.event)).toEqual(['delivery', 'end']);
    expect(stream.events[1]?.data).toEqual({ status: 'succeeded' });

    // HEAD answers the headers and ends: a client probing the route is not kept waiting.
    const head = await suite.app.request('HEAD', `/api/deliveries/${id}/events`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toContain('text/event-stream');

    const missing = await suite.app.request<Json>('GET', '/api/deliveries/nope/events');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });
});
