import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { databaseSkipReason } from '../support/database.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../support/http-receiver.js';
import { delayedSinkReply, type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';
import type { Json } from '../support/webhooks.js';

/**
 * Watching a dependency end to end: an SMTP relay made slow, then failing, then healthy again.
 * Its latency percentiles and error rate, with their sample counts, move in /readyz and
 * /metrics; one `facteur.alert.dependency_failing` reaches a subscribed endpoint, then one
 * `facteur.alert.dependency_recovered`. Time (the window, retries) moves on a manual clock.
 */

const skip = await databaseSkipReason();

interface Check {
  status: string;
  message?: string;
  detail?: Json;
}

describe.skipIf(skip)('dependency watching', () => {
  let sink: SmtpSink;
  let alerts: HttpReceiver;
  let app: TestFacteur;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    sink = await startSmtpSink();
    alerts = await startHttpReceiver();
    app = await startTestFacteur(
      {
        FACTEUR_SMTP_URL: sink.url,
        FACTEUR_SEND_CONCURRENCY: '1',
        FACTEUR_SEND_RETRY_SCHEDULE: '10s',
        FACTEUR_DEPENDENCY_WINDOW: '1m',
        FACTEUR_DEPENDENCY_ALERT_FAILURES: '3',
        FACTEUR_DEPENDENCY_ALERT_ERROR_RATE: '50%',
        FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES: '4',
      },
      { clock },
    );
    const created = await app.request('POST', '/api/endpoints', {
      body: { name: 'alerts', url: `${alerts.url}/alerts`, eventTypes: ['facteur.alert.*'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
    await alerts?.close();
  });

  const transportCheck = async (): Promise<Check> => {
    const answer = await app.request<{ status: string; checks: Record<string, Check> }>('GET', '/readyz', {
      auth: false,
    });
    return answer.body.checks['transport:smtp'] as Check;
  };
  const metrics = async () => (await app.request<string>('GET', '/metrics', { auth: false })).body;
  const send = async (subject: string) => {
    const answer = await app.request<{ id: string }>('POST', '/api/messages', {
      body: { to: ['ada@example.com'], subject, text: 'Daily figures.' },
    });
    expect(answer.status).toBe(202);
  };
  const alertTypes = () => alerts.requests.map((r) => r.json<Json>().type as string);

  it('shows a slow relay in the latency percentiles, with the sample count', async () => {
    sink.script(delayedSinkReply(250));
    for (const n of [1, 2, 3]) await send(`slow ${n}`);
    await sink.waitForMessages(3);
    await vi.waitFor(async () => {
      expect((await transportCheck()).detail?.latency?.samples).toBe(3);
    });
    const check = await transportCheck();
    expect(check.status).toBe('ok');
    expect(check.detail?.breaker).toBeDefined(); // merged into the transport's own check
    expect(check.detail?.latency.p50Ms).toBeGreaterThanOrEqual(250);
    expect(check.detail?.latency.p99Ms).toBeGreaterThanOrEqual(250);
    expect(check.detail?.errors).toEqual({
      rate: 0,
      failed: 0,
      samples: 3,
      windowSeconds: 60,
      byOutcome: { ok: 3 },
    });
    const text = await metrics();
    expect(text).toContain('facteur_dependency_calls_total{kind="transport",name="smtp",outcome="ok"} 3');
    expect(text).toContain(
      'facteur_dependency_duration_seconds_bucket{le="0.1",kind="transport",name="smtp",outcome="ok"} 0',
    );
    expect(text).toContain(
      'facteur_dependency_duration_seconds_bucket{le="0.5",kind="transport",name="smtp",outcome="ok"} 3',
    );
    expect(alerts.requests).toHaveLength(0);
  });

  it('raises exactly one failing alert when the relay keeps failing, and turns the check degraded', async () => {
    sink.script({ kind: 'reply', code: 451, message: '4.3.0 Temporary local problem' });
    for (const n of [1, 2, 3, 4]) await send(`failing ${n}`);
    await sink.waitForAttempts(7);
    const [alert] = await alerts.waitForRequests(1);
    const body = alert?.json<Json>();
    expect(body?.type).toBe('facteur.alert.dependency_failing');
    expect(body?.data).toMatchObject({
      kind: 'transport',
      name: 'smtp',
      threshold: 'failures',
      consecutiveFailures: 3,
      lastError: 'SMTP_TRANSIENT',
      errors: { failed: 3, samples: 6, rate: 0.5, byOutcome: { ok: 3, SMTP_TRANSIENT: 3 } },
      latency: { samples: 6 },
      limits: { failures: 3, errorRate: 0.5, minSamples: 4, latencyMs: null },
    });
    expect(body?.data.crossed).toEqual(['failures', 'error_rate']);
    await vi.waitFor(async () => {
      expect((await transportCheck()).detail?.errors.samples).toBe(7);
    });
    const check = await transportCheck();
    expect(check.status).toBe('degraded');
    expect(check.message).toMatch(/over its alert threshold/);
    expect(check.detail?.errors).toMatchObject({ failed: 4, samples: 7, rate: 0.5714 });
    expect(check.detail?.alert).toMatchObject({ threshold: 'failures' });
    expect(await metrics()).toContain(
      'facteur_dependency_calls_total{kind="transport",name="smtp",outcome="SMTP_TRANSIENT"} 4',
    );
    expect(await metrics()).toContain('facteur_dependency_failing{kind="transport",name="smtp"} 1');
    // The alert was delivered once: no second alert for the fourth failure.
    expect(alertTypes()).toEqual(['facteur.alert.dependency_failing']);
  });

  it('raises exactly one recovered alert once the relay is healthy and the failures left the window', async () => {
    sink.script('accept');
    // The failures leave the 1-minute window, and the four messages are retried (10 s schedule).
    clock.advance(61_000);
    await sink.waitForMessages(7);
    await alerts.waitForRequests(2);
    const recovered = alerts.requests[1]?.json<Json>();
    expect(recovered?.type).toBe('facteur.alert.dependency_recovered');
    expect(recovered?.data).toMatchObject({
      kind: 'transport',
      name: 'smtp',
      consecutiveFailures: 0,
      lastError: 'SMTP_TRANSIENT',
      errors: { failed: 0, rate: 0 },
    });
    expect(recovered?.data.failingSince).toBe(alerts.requests[0]?.json<Json>().data.since);
    await vi.waitFor(async () => {
      expect((await transportCheck()).detail?.errors).toMatchObject({ samples: 4, failed: 0, rate: 0 });
    });
    const check = await transportCheck();
    expect(check.status).toBe('ok');
    expect(check.detail?.alert).toBeNull();
    expect(check.detail?.latency.p95Ms).toBeLessThan(250); // the slow calls left the window too
    expect(await metrics()).toContain('facteur_dependency_failing{kind="transport",name="smtp"} 0');
    // Lifetime counters keep everything; nothing more was raised.
    expect(await metrics()).toContain(
      'facteur_dependency_calls_total{kind="transport",name="smtp",outcome="ok"} 7',
    );
    expect(alertTypes()).toEqual(['facteur.alert.dependency_failing', 'facteur.alert.dependency_recovered']);
    // The endpoint that got the alerts is a dependency too, with a check of its own: the first
    // delivery left the window with the failures, the counter keeps both.
    await alerts.waitForRequests(2);
    const readiness = await app.request<{ checks: Record<string, Check> }>('GET', '/readyz', { auth: false });
    expect(readiness.body.checks['endpoint:alerts']?.detail?.errors).toMatchObject({ failed: 0, samples: 1 });
    expect(await metrics()).toContain(
      'facteur_dependency_calls_total{kind="endpoint",name="alerts",outcome="ok"} 2',
    );
    expect(readiness.body.checks.database?.detail?.latency.samples).toBeGreaterThan(0);
  });
});

describe.skipIf(skip)('dependency probes', () => {
  let sink: SmtpSink;
  let receiver: HttpReceiver;
  let app: TestFacteur;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    sink = await startSmtpSink();
    receiver = await startHttpReceiver();
    app = await startTestFacteur(
      { FACTEUR_SMTP_URL: sink.url, FACTEUR_PROBE_INTERVAL: '30s', FACTEUR_PROBE_TIMEOUT: '2s' },
      { clock },
    );
    await app.request('POST', '/api/endpoints', {
      body: { name: 'crm', url: `${receiver.url}/hooks/crm?token=secret`, eventTypes: ['order.*'] },
    });
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
    await receiver?.close();
  });

  it('probes the database, the transport and each endpoint on the schedule', async () => {
    const connectionsBefore = sink.connections;
    clock.advance(30_000);
    await vi.waitFor(async () => {
      const { body } = await app.request<{ checks: Record<string, Check> }>('GET', '/readyz', {
        auth: false,
      });
      expect(body.checks['endpoint:crm']?.detail?.errors).toMatchObject({ samples: 1, byOutcome: { ok: 1 } });
      expect(body.checks['transport:smtp']?.detail?.errors).toMatchObject({
        samples: 1,
        byOutcome: { ok: 1 },
      });
    });
    // A HEAD of the origin: no event, no signature, no path or query (they may carry tokens).
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]).toMatchObject({ method: 'HEAD', path: '/' });
    expect(receiver.requests[0]?.headers['webhook-signature']).toBeUndefined();
    expect(sink.connections).toBeGreaterThan(connectionsBefore);
    expect(sink.messages).toHaveLength(0);
    expect(await (await app.request<string>('GET', '/metrics', { auth: false })).body).toMatch(
      /facteur_dependency_calls_total\{kind="database",name="(sqlite|postgres)",outcome="ok"\} [1-9]/,
    );
    // The next round, and a relay that stopped answering: the probe fails at its timeout.
    sink.onConnect('hang');
    clock.advance(30_000);
    await vi.waitFor(() => expect(receiver.requests).toHaveLength(2));
    clock.advance(2_000);
    await vi.waitFor(async () => {
      const { body } = await app.request<{ checks: Record<string, Check> }>('GET', '/readyz', {
        auth: false,
      });
      expect(body.checks['transport:smtp']?.detail?.errors.byOutcome).toMatchObject({
        ok: 1,
        SMTP_TIMEOUT: 1,
      });
    });
    sink.onConnect('accept');
  });
});
