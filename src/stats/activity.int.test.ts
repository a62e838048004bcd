import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { ManualClock } from '../core/clock.js';
import { activity } from './service.js';

/**
 * `GET /api/stats/activity` on a real Facteur (SQLite, then PostgreSQL) with a fixed clock: rows
 * written at known times land in the right buckets with the right counts, rows outside the
 * window are left out, p50/p95 are the upper bounds of the right latency classes, an empty
 * window answers zeros and nulls, and a bad `window` is a 400 naming the field.
 */

const skip = await databaseSkipReason();

const NOW = Date.parse('2026-12-07T10:30:30Z');
const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);

interface Figures {
  mail: { sent: number; failed: number; p50Ms: number | null; p95Ms: number | null };
  webhooks: { succeeded: number; failed: number; p50Ms: number | null; p95Ms: number | null };
  inbound: { received: number };
}
interface ActivityAnswer {
  window: string;
  bucketMs: number;
  from: string;
  to: string;
  buckets: Array<Figures & { at: string }>;
  totals: Figures;
}

describe.skipIf(skip)('the activity series', () => {
  let t: TestFacteur;
  const clock = new ManualClock(NOW);
  let made = 0;

  beforeAll(async () => {
    t = await startTestFacteur({}, { clock });
    const db = t.facteur.store.db;
    const message = (status: string, createdAt: number, updatedAt: number, sentAt: number | null) => ({
      id: `stats-msg-${++made}`,
      status,
      from_address: 'facteur@example.com',
      to_addresses: '["bob@example.com"]',
      cc_addresses: '[]',
      bcc_addresses: '[]',
      subject: 'stats',
      headers: '{}',
      message_id_header: `<stats-${made}@example.com>`,
      idempotency_scope: 'test',
      request_hash: 'x',
      job_id: `stats-job-${made}`,
      source: 'api',
      attempt_count: 0,
      created_at: createdAt,
      updated_at: updatedAt,
      sent_at: sentAt,
    });
    const sent = (sentAt: number, latencyMs: number) => message('sent', sentAt - latencyMs, sentAt, sentAt);
    await db
      .insertInto('messages')
      .values([
        sent(at('2026-12-07T10:30:10Z'), 40), // bucket 59 (10:30), class <= 50 ms
        sent(at('2026-12-07T10:00:05Z'), 3000), // bucket 29 (10:00), class <= 5 s
        sent(at('2026-12-07T09:31:00Z'), 5), // bucket 0: the window's first instant, class <= 10 ms
        sent(at('2026-12-07T09:31:00Z') - 1, 5), // just before the window
        sent(at('2026-12-07T10:31:00Z'), 5), // the window's end (exclusive)
        message('failed', at('2026-12-07T10:14:00Z'), at('2026-12-07T10:15:00Z'), null), // bucket 44
        message('failed', at('2026-12-07T08:00:00Z'), at('2026-12-07T08:00:00Z'), null), // before
        message('queued', at('2026-12-07T10:20:00Z'), at('2026-12-07T10:20:00Z'), null), // not a failure
      ])
      .execute();
    await db
      .insertInto('webhook_endpoints')
      .values({
        id: 'stats-endpoint',
        name: 'stats endpoint',
        status: 'active',
        config: '{}',
        secrets: '{}',
        created_at: NOW,
        updated_at: NOW,
      } as never)
      .execute();
    await db
      .insertInto('webhook_events')
      .values({
        id: 'stats-event',
        type: 'test.event',
        payload: '{}',
        idempotency_scope: 'test',
        request_hash: 'x',
        source: 'api',
        created_at: NOW,
      })
      .execute();
    await db
      .insertInto('webhook_deliveries')
      .values({
        id: 'stats-delivery',
        event_id: 'stats-event',
        endpoint_id: 'stats-endpoint',
        status: 'succeeded',
        job_id: 'stats-job',
        created_at: NOW,
        updated_at: NOW,
      } as never)
      .execute();
    const attempt = (finishedAt: number, outcome: string, latencyMs: number | null) => ({
      id: `stats-attempt-${++made}`,
      delivery_id: 'stats-delivery',
      number: made,
      started_at: finishedAt - (latencyMs ?? 0),
      finished_at: finishedAt,
      outcome,
      url: 'https://example.com/hook',
      format: 'json',
      latency_ms: latencyMs,
    });
    await db
      .insertInto('webhook_attempts')
      .values([
        attempt(at('2026-12-07T10:30:20Z'), 'succeeded', 120), // bucket 59, class <= 250 ms
        attempt(at('2026-12-07T10:30:25Z'), 'failed', 600), // bucket 59, class <= 1 s
        attempt(at('2026-12-07T10:29:00Z'), 'interrupted', null), // bucket 58, no latency
        attempt(at('2026-12-07T09:00:00Z'), 'succeeded', 10), // before the window
      ])
      .execute();
    const inbound = (receivedAt: number) => ({
      id: `stats-inbound-${++made}`,
      source: 'http',
      content_hash: `hash-${made}`,
      state: 'routed',
      subject: 'hello',
      size: 10,
      tags: '[]',
      matched_rules: '[]',
      ack_state: 'none',
      received_at: receivedAt,
      created_at: receivedAt,
      updated_at: receivedAt,
    });
    await db
      .insertInto('inbound_messages')
      .values([inbound(at('2026-12-07T10:30:00Z')), inbound(at('2026-12-07T09:00:00Z'))])
      .execute();
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = async (query = '') => {
    const answer = await t.request<ActivityAnswer>('GET', `/api/stats/activity${query}`);
    expect(answer.status).toBe(200);
    return answer.body;
  };
  const counts = (b: Figures) => [
    b.mail.sent,
    b.mail.failed,
    b.webhooks.succeeded,
    b.webhooks.failed,
    b.inbound.received,
  ];

  it('counts the last hour in 60 buckets of a minute, aligned, the default window', async () => {
    const body = await get();
    expect(body.window).toBe('1h');
    expect(body.bucketMs).toBe(MIN);
    expect(body.from).toBe('2026-12-07T09:31:00.000Z');
    expect(body.to).toBe('2026-12-07T10:31:00.000Z');
    expect(body.buckets).toHaveLength(60);
    expect(body.buckets[0]?.at).toBe('2026-12-07T09:31:00.000Z');
    expect(body.buckets[59]?.at).toBe('2026-12-07T10:30:00.000Z');
    const busy = Object.fromEntries(
      body.buckets.map((b, i) => [i, counts(b)] as const).filter(([, c]) => c.some((n) => n > 0)),
    );
    expect(busy).toEqual({
      0: [1, 0, 0, 0, 0],
      29: [1, 0, 0, 0, 0],
      44: [0, 1, 0, 0, 0],
      58: [0, 0, 0, 1, 0],
      59: [1, 0, 1, 1, 1],
    });
    expect(counts(body.totals)).toEqual([3, 1, 1, 2, 1]);
  });

  it('puts p50 and p95 at the upper bound of the latency class that holds them', async () => {
    const body = await get('?window=1h');
    expect(body.buckets[59]?.mail).toMatchObject({ p50Ms: 50, p95Ms: 50 });
    expect(body.buckets[29]?.mail).toMatchObject({ p50Ms: 5000, p95Ms: 5000 });
    expect(body.buckets[0]?.mail).toMatchObject({ p50Ms: 10, p95Ms: 10 });
    expect(body.buckets[59]?.webhooks).toMatchObject({ p50Ms: 250, p95Ms: 1000 });
    // An attempt without a latency counts, but gives no percentile.
    expect(body.buckets[58]?.webhooks).toMatchObject({ failed: 1, p50Ms: null, p95Ms: null });
    expect(body.buckets[10]?.mail).toEqual({ sent: 0, failed: 0, p50Ms: null, p95Ms: null });
    // Over the window: 5 ms, 40 ms, 3 s -> the median is the 2nd (<= 50), the p95 the 3rd (<= 5 s).
    expect(body.totals.mail).toMatchObject({ p50Ms: 50, p95Ms: 5000 });
    expect(body.totals.webhooks).toMatchObject({ p50Ms: 250, p95Ms: 1000 });
  });

  it('counts the last day in 96 buckets of 15 minutes', async () => {
    const body = await get('?window=24h');
    expect(body.bucketMs).toBe(15 * MIN);
    expect(body.to).toBe('2026-12-07T10:45:00.000Z');
    expect(body.from).toBe('2026-12-06T10:45:00.000Z');
    expect(body.buckets).toHaveLength(96);
    const busy = Object.fromEntries(
      body.buckets.map((b, i) => [i, counts(b)] as const).filter(([, c]) => c.some((n) => n > 0)),
    );
    expect(busy).toEqual({
      85: [0, 1, 0, 0, 0], // 08:00
      89: [0, 0, 1, 0, 1], // 09:00
      91: [2, 0, 0, 0, 0], // 09:30 (both sides of the hour window's start)
      93: [1, 0, 0, 0, 0], // 10:00
      94: [0, 1, 0, 1, 0], // 10:15
      95: [2, 0, 1, 1, 1], // 10:30 (10:31:00 is inside this window)
    });
  });

  it('answers zeros and null percentiles for a window with nothing in it', async () => {
    const later = new ManualClock(NOW + 7 * 24 * 60 * MIN);
    const body = await activity({ store: t.facteur.store, clock: later }, '24h');
    expect(body.buckets).toHaveLength(96);
    expect(body.totals).toEqual({
      mail: { sent: 0, failed: 0, p50Ms: null, p95Ms: null },
      webhooks: { succeeded: 0, failed: 0, p50Ms: null, p95Ms: null },
      inbound: { received: 0 },
    });
    expect(body.buckets.every((b) => counts(b).every((n) => n === 0) && b.mail.p95Ms === null)).toBe(true);
  });

  it('refuses a window it does not know, naming the field', async () => {
    const answer = await t.request<{ error: { code: string; message: string } }>(
      'GET',
      '/api/stats/activity?window=7d',
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(answer.body.error)).toContain('window');
  });
});
