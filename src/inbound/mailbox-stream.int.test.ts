import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { createFolder, deleteRulesAndMailboxes, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import { openEventStream, type StreamEvent } from '../../test/support/sse.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * `GET /api/mailboxes/events` against a private Dovecot on a manual clock: a mailbox added
 * while the stream is open shows up, its watcher going idle is pushed, a pause is pushed, and a
 * view that did not change is not pushed again (a keep-alive goes out instead).
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

/** The `mailboxes` events' data, in order. */
const views = (events: StreamEvent[]) =>
  events.filter((e) => e.event === 'mailboxes').map((e) => (e.data as { mailboxes: Json[] }).mailboxes);

describe.skipIf(skip)('the mailbox event stream', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 9, 0, 0));
  const suite = useWebhookSuite({}, { clock });
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await deleteRulesAndMailboxes(suite.app);
    await dovecot?.close();
  });

  /** Moves the clock a second at a time (so the stream polls) until `check` holds. */
  const pollUntil = (check: () => void) =>
    vi.waitFor(
      () => {
        clock.advance(1000);
        check();
      },
      { timeout: 15_000, interval: 50 },
    );

  it('pushes a watcher going idle and a pause, each once', async () => {
    const stream = await openEventStream(`${suite.app.url}/api/mailboxes/events`, suite.app.key);
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toContain('text/event-stream');
      await vi.waitFor(() => expect(views(stream.events)).toEqual([[]]));

      await createFolder(dovecot, 'Live');
      const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
        body: dovecotMailbox(dovecot, 'Live'),
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      await pollUntil(() => expect(views(stream.events).at(-1)?.[0]?.watchers?.[0]?.state).toBe('idle'));
      const idle = views(stream.events).at(-1)?.[0];
      expect(idle).toMatchObject({ id: created.body.id, status: 'active', name: 'alice Live' });
      expect(JSON.stringify(idle)).not.toContain('secret');

      await suite.app.request('POST', `/api/mailboxes/${created.body.id}/pause`);
      await pollUntil(() => expect(views(stream.events).at(-1)?.[0]?.status).toBe('paused'));

      // Paused, nothing changes: polls find the same view and only a keep-alive goes out.
      const keepAlives = () => stream.text().split(': keep-alive').length - 1;
      const [before, quiet] = [views(stream.events).length, keepAlives()];
      await pollUntil(() => expect(keepAlives()).toBeGreaterThan(quiet));
      const after = views(stream.events);
      // At most one more view: the stopped watcher's last report, if it came after the pause.
      expect(after.length - before).toBeLessThanOrEqual(1);
      for (let i = 1; i < after.length; i++) expect(after[i]).not.toEqual(after[i - 1]);
      expect(stream.closed).toBe(false);
    } finally {
      stream.close();
    }
  });
});
