import { describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startHttpReceiver } from '../../test/support/http-receiver.js';
import { advanceTo, type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * What each kind of answer does to a delivery: the retry schedule (followed within 5% on a
 * manual clock), Retry-After, 410, hangs, resets, redirects, the json-success rule, 415.
 * Every attempt must be recorded and the final state right; nothing may be lost.
 */

const skip = await databaseSkipReason();
const SECOND = 1000;

describe.skipIf(skip)('webhook retries and answers', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const suite = useWebhookSuite({}, { clock });

  /** Checks that the retry after `attempt` is scheduled `delayMs` later, within 5%. */
  function expectScheduled(delivery: Json, attempt: Json, delayMs: number): void {
    const gap = Date.parse(delivery.nextAttemptAt) - Date.parse(attempt.finishedAt);
    expect(gap, JSON.stringify(delivery, null, 1)).toBeGreaterThanOrEqual(delayMs * 0.95);
    expect(gap).toBeLessThanOrEqual(delayMs * 1.05);
  }

  it('follows the default schedule on 500s, records all 8 attempts, ends dead and raises an alert', async () => {
    const alertReceiver = await startHttpReceiver();
    try {
      await suite.app.request('POST', '/api/endpoints', {
        body: {
          name: 'alerts',
          url: `${alertReceiver.url}/alerts`,
          eventTypes: ['facteur.alert.*'],
        },
      });
      await suite.api.createEndpoint({ eventTypes: ['order.created'] });
      suite.receiver.respond({ status: 500, body: 'database down' });
      const event = await suite.api.publish('order.created', { order: 7 });
      const id = event.deliveries[0].id;
      const schedule = [5, 300, 1800, 7200, 18000, 36000, 36000].map((s) => s * SECOND);
      let dueAt = clock.now();
      for (let n = 1; n <= 7; n++) {
        const d = await suite.api.waitForDelivery(id, (x) => {
          expect(x.attempts).toHaveLength(n);
          expect(x.status).toBe('pending');
        });
        const attempt = d.attempts[n - 1];
        expect(attempt).toMatchObject({
          number: n,
          outcome: 'failed',
          statusCode: 500,
          errorCode: 'WEBHOOK_SERVER_ERROR',
        });
        expect(attempt.responseBody).toBe('database down');
        // Each attempt starts when it was due (the clock only moves when the test moves it).
        expect(Math.abs(Date.parse(attempt.startedAt) - dueAt)).toBeLessThanOrEqual(100);
        expectScheduled(d, attempt, schedule[n - 1] as number);
        dueAt = Date.parse(d.nextAttemptAt);
        advanceTo(clock, d.nextAttemptAt);
      }
      const dead = await suite.api.waitForDelivery(id, (x) => expect(x.status).toBe('dead'));
      expect(dead.attempts).toHaveLength(8);
      expect(Math.abs(Date.parse(dead.attempts[7].startedAt) - dueAt)).toBeLessThanOrEqual(100);
      expect(dead.lastError.code).toBe('WEBHOOK_SERVER_ERROR');
      // The last attempt says what became of the delivery, not a retry that will not happen.
      expect(dead.lastError.message).toMatch(/no attempts are left, so the delivery is dead/);
      expect(dead.attempts[7].errorMessage).not.toMatch(/retried/);
      expect(dead.attempts[6].errorMessage).toMatch(/retried on the endpoint's schedule/);
      expect(suite.receiver.requests).toHaveLength(8);
      // Five failures in a row also made the endpoint a failing dependency: that alert comes first.
      const alerts = await alertReceiver.waitForRequests(2);
      expect(alerts.map((a) => a.json<Json>().type)).toEqual([
        'facteur.alert.dependency_failing',
        'facteur.alert.delivery_dead',
      ]);
      const body = alerts[1]?.json<Json>();
      expect(body?.data).toMatchObject({
        deliveryId: id,
        eventType: 'order.created',
        error: { code: 'WEBHOOK_SERVER_ERROR' },
      });
    } finally {
      await alertReceiver.close();
    }
  });

  it('honours Retry-After on 429 and on 503', async () => {
    await suite.api.createEndpoint({ eventTypes: ['quota.*'] });
    suite.receiver.sequence(
      { status: 429, headers: { 'retry-after': '120' } },
      { status: 503, headers: { 'retry-after': '600' } },
      { status: 204 },
    );
    const event = await suite.api.publish('quota.hit');
    const id = event.deliveries[0].id;
    let d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(1));
    expect(d.attempts[0].errorCode).toBe('WEBHOOK_RATE_LIMITED');
    expect(Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[0].finishedAt)).toBe(120 * SECOND);
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(2));
    expect(d.attempts[1].errorCode).toBe('WEBHOOK_SERVER_ERROR');
    expect(Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[1].finishedAt)).toBe(600 * SECOND);
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.status).toBe('succeeded'));
    expect(d.attempts.map((a: Json) => a.statusCode)).toEqual([429, 503, 204]);
  });

  it('stops on 410 Gone, disables the endpoint and sends it nothing more', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['gone.*'] });
    suite.receiver.respond({ status: 410 });
    const event = await suite.api.publish('gone.now');
    const d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('failed'));
    expect(d.attempts).toHaveLength(1);
    expect(d.lastError.code).toBe('WEBHOOK_GONE');
    const after = await suite.app.request<Json>('GET', `/api/endpoints/${endpoint.id}`);
    expect(after.body).toMatchObject({ status: 'disabled', disabledReason: expect.stringContaining('410') });
    // Later events are held for the disabled endpoint (never dropped), and it gets no request.
    const next = await suite.api.publish('gone.again');
    expect(next.deliveries.map((x: Json) => x.status)).toEqual(['held']);
    expect(suite.receiver.requests).toHaveLength(1);
  });

  it('retries a receiver that hangs, then one that resets the connection, until it answers', async () => {
    await suite.api.createEndpoint({ eventTypes: ['flaky.*'], timeout: '1s', connectTimeout: '500ms' });
    suite.receiver.sequence({ kind: 'hang' }, { kind: 'reset' }, { status: 201 });
    const event = await suite.api.publish('flaky.thing');
    const id = event.deliveries[0].id;
    let d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(1));
    expect(d.attempts[0]).toMatchObject({ errorCode: 'WEBHOOK_TIMEOUT', statusCode: null });
    expectScheduled(d, d.attempts[0], 5 * SECOND);
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(2));
    expect(d.attempts[1].errorCode).toBe('WEBHOOK_CONNECTION_RESET');
    expectScheduled(d, d.attempts[1], 300 * SECOND);
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.status).toBe('succeeded'));
    expect(d.attempts.map((a: Json) => a.outcome)).toEqual(['failed', 'failed', 'succeeded']);
  });

  it('does not follow redirects, even in a loop: one request, failed', async () => {
    await suite.api.createEndpoint({ eventTypes: ['moved.*'] });
    suite.receiver.respond({ kind: 'redirect', location: '/hook', status: 307 });
    const event = await suite.api.publish('moved.here');
    const d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('failed'));
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ statusCode: 307, errorCode: 'WEBHOOK_REDIRECTED' });
    expect(suite.receiver.requests).toHaveLength(1);
  });

  it('with json-success, retries a 200 without success: true', async () => {
    await suite.api.createEndpoint({ eventTypes: ['legacy.*'], successRule: 'json-success' });
    suite.receiver.sequence(
      { status: 200, body: { success: false, error: 'busy' } },
      { status: 200, body: 'OK' },
      { status: 200, body: { success: true } },
    );
    const event = await suite.api.publish('legacy.mail');
    const id = event.deliveries[0].id;
    let d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(1));
    expect(d.attempts[0]).toMatchObject({
      statusCode: 200,
      outcome: 'failed',
      errorCode: 'WEBHOOK_NOT_CONFIRMED',
    });
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.attempts).toHaveLength(2));
    advanceTo(clock, d.nextAttemptAt);
    d = await suite.api.waitForDelivery(id, (x) => expect(x.status).toBe('succeeded'));
    expect(d.attempts).toHaveLength(3);
  });

  it('on 415, tries the other format at once when the endpoint allows it', async () => {
    await suite.api.createEndpoint({
      eventTypes: ['php.*'],
      format: 'json',
      retryOtherFormatOn415: true,
      payloadShape: 'data',
    });
    suite.receiver.respond((req) =>
      req.headers['content-type'] === 'application/x-www-form-urlencoded' ? { status: 200 } : { status: 415 },
    );
    const event = await suite.api.publish('php.form', { subject: 'Bonjour', links: ['a', 'b'] });
    const d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) =>
      expect(x.status).toBe('succeeded'),
    );
    expect(d.attempts.map((a: Json) => [a.format, a.statusCode])).toEqual([
      ['json', 415],
      ['form', 200],
    ]);
    const formRequest = suite.receiver.requests.find(
      (r) => r.headers['content-type'] === 'application/x-www-form-urlencoded',
    );
    const form = new URLSearchParams(formRequest?.text());
    expect(form.get('subject')).toBe('Bonjour');
    expect(JSON.parse(form.get('links') ?? 'null')).toEqual(['a', 'b']);
  });

  it('does not retry other 4xx unless the endpoint says so', async () => {
    await suite.api.createEndpoint({ eventTypes: ['strict.*'] });
    await suite.api.createEndpoint({
      eventTypes: ['strict.*'],
      retryOn4xx: true,
      url: `${suite.receiver.url}/lenient`,
    });
    suite.receiver.respond({ status: 422, body: { error: 'bad field' } });
    const event = await suite.api.publish('strict.check');
    const [strict, lenient] = event.deliveries;
    const failed = await suite.api.waitForDelivery(strict.id, (x) => expect(x.status).toBe('failed'));
    expect(failed.lastError.code).toBe('WEBHOOK_REJECTED');
    const retried = await suite.api.waitForDelivery(lenient.id, (x) => expect(x.attempts).toHaveLength(1));
    expect(retried.status).toBe('pending');
  });
});

describe.skipIf(skip)('webhook rate limits and circuit breakers', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const suite = useWebhookSuite({}, { clock });

  it('keeps an endpoint under its rate limit without spending attempts', async () => {
    await suite.api.createEndpoint({ eventTypes: ['rate.*'], rateLimit: { max: 2, per: '1m' } });
    const events = [];
    for (let i = 0; i < 3; i++) events.push(await suite.api.publish('rate.tick', { i }));
    const ids = events.map((e) => e.deliveries[0].id as string);
    await suite.receiver.waitForRequests(2);
    const third = await suite.api.waitForDelivery(ids[2] as string, (d) =>
      expect(d).toMatchObject({ status: 'pending', lastError: { code: 'WEBHOOK_THROTTLED' } }),
    );
    expect(third.attempts).toEqual([]);
    expect(suite.receiver.requests).toHaveLength(2);
    // The slot frees a minute after the first request.
    expect(Date.parse(third.nextAttemptAt) - clock.now()).toBe(60_000);
    advanceTo(clock, third.nextAttemptAt);
    const done = await suite.api.waitForDelivery(ids[2] as string, (d) => expect(d.status).toBe('succeeded'));
    expect(done.attempts).toHaveLength(1);
  });

  it('opens the breaker of a failing endpoint only, deferring its deliveries without attempts', async () => {
    const sick = await suite.api.createEndpoint({
      eventTypes: ['sick.*'],
      url: `${suite.receiver.url}/sick`,
    });
    await suite.api.createEndpoint({ eventTypes: ['well.*'], url: `${suite.receiver.url}/well` });
    suite.receiver.respond((req) => (req.path === '/sick' ? { status: 503 } : { status: 200 }));
    const failing = [];
    for (let i = 0; i < 5; i++) failing.push(await suite.api.publish('sick.ping', { i }));
    for (const e of failing)
      await suite.api.waitForDelivery(e.deliveries[0].id, (d) => expect(d.attempts).toHaveLength(1));
    // Five failures in a row: the breaker is open; the next delivery waits without an attempt.
    const held = await suite.api.publish('sick.ping', { i: 5 });
    const waiting = await suite.api.waitForDelivery(held.deliveries[0].id, (d) =>
      expect(d).toMatchObject({ status: 'pending', lastError: { code: 'WEBHOOK_UNAVAILABLE' } }),
    );
    expect(waiting.attempts).toEqual([]);
    const ready = await suite.app.request<Json>('GET', '/readyz', { auth: false });
    expect(ready.body.checks.webhooks.status).toBe('degraded');
    expect(ready.body.checks.webhooks.detail.endpoints[sick.id]).toMatchObject({ breaker: 'open' });
    // The healthy endpoint is not held up.
    const well = await suite.api.publish('well.ping');
    await suite.api.waitForDelivery(well.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
    // After the open period a probe goes; it succeeds, the breaker closes and the delivery is sent.
    suite.receiver.respond({ status: 200 });
    advanceTo(clock, waiting.nextAttemptAt);
    await suite.api.waitForDelivery(held.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
    const after = await suite.app.request<Json>('GET', '/readyz', { auth: false });
    expect(after.body.checks.webhooks.detail.endpoints[sick.id]).toMatchObject({ breaker: 'closed' });
  });
});
