import { describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startHttpReceiver } from '../../test/support/http-receiver.js';
import { advanceTo, type Json, useWebhookSuite, verifySignature } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * Webhook delivery end to end: a real instance, a real receiver, the API. Signatures, windows
 * and absence days in the endpoint's zone, pause, replays, test sends, rotation, auto-disable.
 * Schedules run on a manual clock that only the test moves.
 */

const skip = await databaseSkipReason();
const HOUR = 3_600_000;

describe.skipIf(skip)('webhook delivery', () => {
  // Monday 2026-11-23 10:00 UTC
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const suite = useWebhookSuite({ FACTEUR_ALERT_EMAIL: 'ops@example.com' }, { clock });

  it('delivers a signed event once and records the attempt', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['invoice.*'] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    const event = await suite.api.publish('invoice.paid', { invoice: 'F-1', amount: 42 });
    expect(event.deliveries).toHaveLength(1);
    const [request] = await suite.receiver.waitForRequests(1);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['webhook-id']).toBe(event.id);
    expect(verifySignature(endpoint.secret, request?.headers ?? {}, request?.text() ?? '')).toBe(true);
    expect(verifySignature(endpoint.secret, request?.headers ?? {}, `${request?.text()} `)).toBe(false);
    expect(request?.json()).toEqual({
      type: 'invoice.paid',
      timestamp: new Date(clock.now()).toISOString(),
      data: { invoice: 'F-1', amount: 42 },
    });
    const done = await suite.api.waitForDelivery(event.deliveries[0].id, (d) =>
      expect(d.status).toBe('succeeded'),
    );
    expect(done.attempts).toHaveLength(1);
    expect(done.attempts[0]).toMatchObject({ number: 1, outcome: 'succeeded', statusCode: 200 });
    expect(done.attempts[0].responseBody).toBe('{"success":true}');
    expect(done.attempts[0].responseHeaders['content-type']).toContain('application/json');
    const shown = await suite.app.request<Json>('GET', `/api/endpoints/${endpoint.id}`);
    expect(shown.body.secret).not.toBe(endpoint.secret);
    expect(endpoint.secret.startsWith(shown.body.secret.replace('…', ''))).toBe(true);
  });

  it('holds deliveries outside a window that wraps midnight, then sends them when it opens', async () => {
    // 22:00-06:00 in Paris; it is 11:00 there.
    const endpoint = await suite.api.createEndpoint({
      eventTypes: ['night.*'],
      timeWindow: { start: '22h00', end: '06:00' },
      timeZone: 'Europe/Paris',
    });
    expect(endpoint.timeWindow).toEqual({ start: '22:00', end: '06:00' });
    const event = await suite.api.publish('night.batch');
    expect(event.deliveries[0].status).toBe('held');
    const held = await suite.api.delivery(event.deliveries[0].id);
    expect(held).toMatchObject({ status: 'held', lastError: { code: 'WEBHOOK_HELD' } });
    expect(held.nextAttemptAt).toBe('2026-11-23T21:00:00.000Z'); // 22:00 in Paris (UTC+1)
    clock.advance(10 * HOUR + 59 * 60_000); // 21:59 in Paris: still closed
    expect(await suite.api.delivery(event.deliveries[0].id)).toMatchObject({ status: 'held', attempts: [] });
    advanceTo(clock, held.nextAttemptAt);
    await suite.api.waitForDelivery(event.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
    expect(suite.receiver.requests).toHaveLength(1);
  });

  it("computes an absence day in the endpoint's zone, where the weekday differs from the server's", async () => {
    // Auckland is UTC+13 in November: Monday 23:00 UTC is Tuesday 12:00 there.
    clock.set(Date.UTC(2026, 10, 23, 23, 0, 0));
    const endpoint = await suite.api.createEndpoint({
      eventTypes: ['kiwi.*'],
      absenceWeekdays: ['tuesday'],
      timeZone: 'Pacific/Auckland',
    });
    const event = await suite.api.publish('kiwi.order');
    const held = await suite.api.delivery(event.deliveries[0].id);
    expect(held.status).toBe('held');
    expect(held.lastError.message).toContain('tuesday is an absence day in Pacific/Auckland');
    expect(held.nextAttemptAt).toBe('2026-11-24T11:00:00.000Z'); // Wednesday 00:00 in Auckland
    advanceTo(clock, held.nextAttemptAt);
    await suite.api.waitForDelivery(event.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
    expect(endpoint.absenceWeekdays).toEqual(['tuesday']);
  });

  it('holds deliveries while an endpoint is paused and sends them on resume', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['pause.*'] });
    expect((await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/pause`)).body.status).toBe(
      'paused',
    );
    const event = await suite.api.publish('pause.test');
    expect(event.deliveries[0].status).toBe('held');
    expect(await suite.api.delivery(event.deliveries[0].id)).toMatchObject({ status: 'held', attempts: [] });
    expect((await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/resume`)).body.status).toBe(
      'active',
    );
    await suite.api.waitForDelivery(event.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
  });

  it('replays one delivery and an endpoint’s failures since a time', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['replay.*'] });
    suite.receiver.respond({ status: 400, body: 'not yet' });
    const since = new Date(clock.now()).toISOString();
    const events = [];
    for (let i = 0; i < 3; i++) events.push(await suite.api.publish('replay.me', { i }));
    const ids = events.map((e) => e.deliveries[0].id as string);
    for (const id of ids) await suite.api.waitForDelivery(id, (d) => expect(d.status).toBe('failed'));
    const listed = await suite.app.request<Json>(
      'GET',
      `/api/deliveries?endpoint=${endpoint.id}&status=failed&since=${since}`,
    );
    expect(listed.body.deliveries.map((d: Json) => d.id).sort()).toEqual([...ids].sort());

    suite.receiver.respond({ status: 200 });
    const one = await suite.app.request<Json>('POST', `/api/deliveries/${ids[0]}/replay`);
    expect(one.status).toBe(202);
    const replayed = await suite.api.waitForDelivery(ids[0] as string, (d) =>
      expect(d.status).toBe('succeeded'),
    );
    expect(replayed.attempts.map((a: Json) => a.statusCode)).toEqual([400, 200]);
    const again = await suite.app.request<Json>('POST', `/api/deliveries/${ids[0]}/replay`);
    expect(again.status).toBe(202); // a succeeded delivery can be sent again on purpose

    const bulk = await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/replay`, {
      body: { since },
    });
    expect(bulk.status).toBe(202);
    expect(bulk.body.replayed).toBe(2);
    for (const id of ids.slice(1))
      await suite.api.waitForDelivery(id, (d) => expect(d.status).toBe('succeeded'));
    // The same webhook-id on every attempt: receivers can drop repeats.
    const first = suite.receiver.requests.filter((r) => r.json<Json>().data.i === 0);
    expect(new Set(first.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('refuses to replay a delivery that is still waiting', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['wait.*'] });
    await suite.app.request('POST', `/api/endpoints/${endpoint.id}/pause`);
    const event = await suite.api.publish('wait.here');
    const answer = await suite.app.request<Json>('POST', `/api/deliveries/${event.deliveries[0].id}/replay`);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('DELIVERY_NOT_REPLAYABLE');
  });

  it('dry-runs and sends a test event; a rotated secret signs alongside the old one for the overlap', async () => {
    const endpoint = await suite.api.createEndpoint({
      eventTypes: ['none'],
      headers: { Authorization: 'Bearer xyz123456' },
    });
    const dry = await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/test`, {
      body: { dryRun: true, payload: { hello: 'world' } },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.response).toBeUndefined();
    expect(dry.body.request).toMatchObject({
      method: 'POST',
      url: `${suite.receiver.url}/hook`,
      format: 'json',
    });
    expect(dry.body.request.headers.Authorization).toBe('Bear…'); // a secret: masked
    expect(verifySignature(endpoint.secret, dry.body.request.headers, dry.body.request.body)).toBe(true);
    expect(suite.receiver.requests).toHaveLength(0);
    expect(
      (await suite.app.request<Json>('GET', `/api/endpoints/${endpoint.id}`)).body.headers.Authorization,
    ).not.toContain('xyz123456');

    const rotated = await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/rotate-secret`, {
      body: { overlap: '1h' },
    });
    expect(rotated.status).toBe(200);
    const sent = await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/test`, { body: {} });
    expect(sent.body.response).toMatchObject({ ok: true, statusCode: 200 });
    const [request] = await suite.receiver.waitForRequests(1);
    const headers = request?.headers ?? {};
    expect(headers.authorization).toBe('Bearer xyz123456'); // the real value goes to the receiver
    expect(String(headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifySignature(rotated.body.secret, headers, request?.text() ?? '')).toBe(true);
    expect(verifySignature(endpoint.secret, headers, request?.text() ?? '')).toBe(true);

    clock.advance(HOUR + 1);
    const later = await suite.app.request<Json>('POST', `/api/endpoints/${endpoint.id}/test`, {
      body: { dryRun: true },
    });
    expect(verifySignature(rotated.body.secret, later.body.request.headers, later.body.request.body)).toBe(
      true,
    );
    expect(verifySignature(endpoint.secret, later.body.request.headers, later.body.request.body)).toBe(false);
  });

  it('warns at half of disableAfter and disables an endpoint that keeps failing, by event and by email', async () => {
    const alerts = await startHttpReceiver();
    try {
      const ops = await suite.app.request('POST', '/api/endpoints', {
        body: {
          name: 'ops',
          url: `${alerts.url}/ops`,
          eventTypes: ['facteur.alert.*'],
        },
      });
      expect(ops.status).toBe(201);
      const endpoint = await suite.api.createEndpoint({
        eventTypes: ['sick.*'],
        disableAfter: '2h',
        retrySchedule: Array(20).fill('10m'),
      });
      const alertTypes = () =>
        alerts.requests
          .map((r) => r.json<Json>())
          .filter((a) => a.data.endpointId === endpoint.id)
          .map((a) => a.type);
      suite.receiver.respond({ status: 502 });
      const event = await suite.api.publish('sick.ping');
      let d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) =>
        expect(x.attempts).toHaveLength(1),
      );
      const failingSince = Date.parse(d.attempts[0].finishedAt);
      // Keep failing, retry after retry, until two hours have passed.
      while (Date.parse(d.nextAttemptAt) - failingSince < 2 * HOUR) {
        const count = d.attempts.length;
        advanceTo(clock, d.nextAttemptAt);
        d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) =>
          expect(x.attempts.length).toBeGreaterThan(count),
        );
        if (clock.now() - failingSince > HOUR + 60_000) {
          // Past half of disableAfter: the warning comes from the next check, before the disable.
          await vi.waitFor(() => expect(alertTypes()).toContain('facteur.alert.endpoint_failing'));
        }
      }
      clock.advance(2 * HOUR - (clock.now() - failingSince));
      expect(clock.now() - failingSince).toBeGreaterThanOrEqual(2 * HOUR);
      clock.advance(60_000); // the next check
      await vi.waitFor(() =>
        expect(alertTypes()).toEqual(['facteur.alert.endpoint_failing', 'facteur.alert.endpoint_disabled']),
      );
      const [warning, disabled] = alerts.requests.filter(
        (r) => r.json<Json>().data.endpointId === endpoint.id,
      );
      expect(warning?.json<Json>()).toMatchObject({
        type: 'facteur.alert.endpoint_failing',
        data: { endpointId: endpoint.id },
      });
      expect(disabled?.json<Json>()).toMatchObject({
        type: 'facteur.alert.endpoint_disabled',
        data: { endpointId: endpoint.id },
      });
      const after = await suite.app.request<Json>('GET', `/api/endpoints/${endpoint.id}`);
      expect(after.body.status).toBe('disabled');
      expect(after.body.disabledReason).toContain('failed continuously');
      // The emails go through the outbox, to the built-in catcher.
      await vi.waitFor(async () => {
        const mails = await suite.app.request<Json>('GET', '/api/catcher/messages');
        const subjects = mails.body.messages.map((m: Json) => m.subject);
        expect(subjects).toContain('[Facteur] Webhook endpoint receiver keeps failing');
        expect(subjects).toContain('[Facteur] Webhook endpoint receiver was disabled');
      });
      // The delivery is held while its endpoint is disabled, not dropped.
      advanceTo(clock, (await suite.api.delivery(event.deliveries[0].id)).nextAttemptAt);
      await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('held'));
    } finally {
      await alerts.close();
    }
  });

  it('shows deliveries and breakers in /metrics and /readyz', async () => {
    const metrics = await suite.app.request<string>('GET', '/metrics', { auth: false });
    expect(metrics.body).toMatch(
      /facteur_webhook_deliveries_total\{endpoint="[^"]+",outcome="succeeded"\} \d+/,
    );
    expect(metrics.body).toContain('facteur_webhook_attempt_seconds_bucket');
    expect(metrics.body).toMatch(/facteur_webhook_deliveries_held \d+/);
    expect(metrics.body).toContain('facteur_webhook_oldest_pending_seconds');
    expect(metrics.body).toMatch(/facteur_webhook_breaker_state\{endpoint="[^"]+"\} [012]/);
    const ready = await suite.app.request<Json>('GET', '/readyz', { auth: false });
    expect(ready.body.checks.webhooks.detail.endpoints).toBeTypeOf('object');
  });
});
