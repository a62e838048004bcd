import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../clock.js';
import { AppError } from '../errors.js';
import { type DependencyAlert, DependencyMonitor } from './dependencies.js';
import { HealthRegistry } from './health.js';
import { silentLogger } from './logger.js';

const thresholds = { failures: 3, latencyMs: null, errorRate: 0.5, minSamples: 4, windowMs: 60_000 };

function monitorWith(options: { probeIntervalMs?: number; probeTimeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const metrics = new Registry();
  const monitor = new DependencyMonitor({
    clock,
    logger: silentLogger(),
    metrics,
    ...thresholds,
    ...options,
  });
  const alerts: DependencyAlert[] = [];
  monitor.alertThrough(async (alert) => {
    alerts.push(alert);
  });
  return { clock, metrics, monitor, alerts };
}

describe('DependencyMonitor', () => {
  it('gives percentiles and the error rate with their sample counts', () => {
    const { monitor } = monitorWith();
    monitor.observe({ kind: 'transport', name: 'smtp', outcome: 'ok', ms: 40 });
    monitor.observe({ kind: 'transport', name: 'smtp', outcome: 'SMTP_TIMEOUT', ms: 1000 });
    expect(monitor.snapshot('transport', 'smtp')).toMatchObject({
      latency: { p50Ms: 40, p95Ms: 1000, p99Ms: 1000, samples: 2 },
      errors: { rate: 0.5, failed: 1, samples: 2, windowSeconds: 60, byOutcome: { ok: 1, SMTP_TIMEOUT: 1 } },
      consecutiveFailures: 1,
      lastError: { code: 'SMTP_TIMEOUT' },
      alert: null, // 2 samples are under the minimum of 4
    });
    expect(monitor.snapshot('transport', 'other')).toBeUndefined();
  });

  it('counts calls and durations per outcome in /metrics', async () => {
    const { monitor, metrics } = monitorWith();
    monitor.observe({ kind: 'endpoint', name: 'crm', outcome: 'ok', ms: 120 });
    monitor.observe({ kind: 'endpoint', name: 'crm', outcome: 'WEBHOOK_TIMEOUT', ms: 5000 });
    const text = await metrics.metrics();
    expect(text).toContain('facteur_dependency_calls_total{kind="endpoint",name="crm",outcome="ok"} 1');
    expect(text).toContain(
      'facteur_dependency_calls_total{kind="endpoint",name="crm",outcome="WEBHOOK_TIMEOUT"} 1',
    );
    expect(text).toContain(
      'facteur_dependency_duration_seconds_bucket{le="0.25",kind="endpoint",name="crm",outcome="ok"} 1',
    );
    expect(text).toContain(
      'facteur_dependency_duration_seconds_count{kind="endpoint",name="crm",outcome="WEBHOOK_TIMEOUT"} 1',
    );
  });

  it('raises one failing alert per crossing and one recovered alert when the dependency is back', async () => {
    const { monitor, alerts, clock } = monitorWith();
    const fail = () => monitor.observe({ kind: 'mailbox', name: 'support', outcome: 'IMAP_TIMEOUT', ms: 15 });
    for (let i = 0; i < 6; i++) fail();
    await vi.waitFor(() => expect(alerts).toHaveLength(1));
    expect(alerts[0]).toMatchObject({
      type: 'facteur.alert.dependency_failing',
      subject: 'mailbox support is failing: 3 failures in a row (limit 3)',
      data: {
        kind: 'mailbox',
        name: 'support',
        threshold: 'failures',
        crossed: ['failures'],
        consecutiveFailures: 3,
        errors: { rate: 1, failed: 3, samples: 3 },
        latency: { samples: 3 },
        lastError: 'IMAP_TIMEOUT',
        since: new Date(clock.now()).toISOString(),
        limits: { failures: 3, errorRate: 0.5, minSamples: 4, latencyMs: null },
      },
    });
    // Successes while the window's rate is still 6/7, 6/8 ... over 50%: no recovery yet.
    monitor.observe({ kind: 'mailbox', name: 'support', outcome: 'ok', ms: 10 });
    expect(monitor.snapshot('mailbox', 'support')?.alert).toMatchObject({
      threshold: 'failures',
      crossed: ['error_rate'],
    });
    // The failures leave the window: the next success recovers it.
    clock.advance(61_000);
    monitor.observe({ kind: 'mailbox', name: 'support', outcome: 'ok', ms: 10 });
    monitor.observe({ kind: 'mailbox', name: 'support', outcome: 'ok', ms: 10 });
    await vi.waitFor(() => expect(alerts).toHaveLength(2));
    expect(alerts[1]).toMatchObject({
      type: 'facteur.alert.dependency_recovered',
      data: {
        kind: 'mailbox',
        name: 'support',
        consecutiveFailures: 0,
        errors: { samples: 1, failed: 0, rate: 0 },
        lastError: 'IMAP_TIMEOUT',
        recoveredAt: new Date(clock.now()).toISOString(),
      },
    });
    await monitor.stop();
    expect(alerts).toHaveLength(2);
  });

  it('keeps alerts the channel could not take and raises them in order later', async () => {
    const clock = new ManualClock();
    const monitor = new DependencyMonitor({ clock, logger: silentLogger(), ...thresholds });
    const taken: string[] = [];
    let down = true;
    let tries = 0;
    monitor.alertThrough(async (alert) => {
      tries += 1;
      if (down) throw new Error('database is locked');
      taken.push(alert.type);
    });
    for (let i = 0; i < 3; i++)
      monitor.observe({ kind: 'database', name: 'sqlite', outcome: 'DATABASE_UNAVAILABLE', ms: 2000 });
    await vi.waitFor(() => expect(tries).toBe(1));
    // Within 5 s of the failure, a sample does not try again.
    monitor.observe({ kind: 'database', name: 'sqlite', outcome: 'DATABASE_UNAVAILABLE', ms: 2000 });
    await Promise.resolve();
    expect(tries).toBe(1);
    clock.advance(61_000);
    down = false;
    monitor.observe({ kind: 'database', name: 'sqlite', outcome: 'ok', ms: 1 });
    await vi.waitFor(() =>
      expect(taken).toEqual(['facteur.alert.dependency_failing', 'facteur.alert.dependency_recovered']),
    );
  });

  it('shows figures in the matching check of /readyz, or in a check of its own', async () => {
    const { monitor } = monitorWith();
    const health = new HealthRegistry();
    health.register('transport:smtp', () => ({ status: 'ok', detail: { breaker: 'closed' } }));
    health.register('database', () => ({ status: 'ok', detail: { location: 'sqlite:x' } }), {
      critical: true,
    });
    monitor.watchHealth(health);
    monitor.observe({ kind: 'transport', name: 'smtp', outcome: 'ok', ms: 12 });
    monitor.observe({ kind: 'database', name: 'sqlite', outcome: 'ok', ms: 1 });
    for (let i = 0; i < 3; i++)
      monitor.observe({ kind: 'endpoint', name: 'crm', outcome: 'WEBHOOK_SERVER_ERROR', ms: 30 });
    const report = await health.report();
    expect(report.checks['transport:smtp']).toMatchObject({
      status: 'ok',
      critical: false,
      detail: {
        breaker: 'closed',
        latency: { p50Ms: 12, samples: 1 },
        errors: { rate: 0, failed: 0, samples: 1 },
      },
    });
    expect(report.checks.database).toMatchObject({
      status: 'ok',
      critical: true,
      detail: { location: 'sqlite:x', latency: { samples: 1 } },
    });
    expect(report.checks['endpoint:crm']).toMatchObject({
      status: 'degraded',
      critical: false,
      lastError: { message: 'WEBHOOK_SERVER_ERROR' },
      detail: {
        errors: { rate: 1, failed: 3, samples: 3, byOutcome: { WEBHOOK_SERVER_ERROR: 3 } },
        consecutiveFailures: 3,
      },
    });
    expect(report.checks['endpoint:crm']?.message).toMatch(/over its alert threshold \(failures\)/);
    expect(report.status).toBe('degraded');
  });

  it('measures a call: ok, the AppError code, or the fallback code', async () => {
    const { monitor } = monitorWith();
    await monitor.measure('database', 'sqlite', async () => 1);
    await expect(
      monitor.measure(
        'database',
        'sqlite',
        async () => Promise.reject(new Error('gone')),
        'DATABASE_UNAVAILABLE',
      ),
    ).rejects.toThrow('gone');
    await expect(
      monitor.measure('transport', 'smtp', async () => Promise.reject(new AppError('SMTP_AUTH', 'no'))),
    ).rejects.toThrow('no');
    expect(monitor.snapshot('database', 'sqlite')?.errors.byOutcome).toEqual({
      ok: 1,
      DATABASE_UNAVAILABLE: 1,
    });
    expect(monitor.snapshot('transport', 'smtp')?.errors.byOutcome).toEqual({ SMTP_AUTH: 1 });
  });
});

describe('DependencyMonitor probes', () => {
  it('probes on the schedule of the injected clock and records each outcome', async () => {
    const { monitor, clock } = monitorWith({ probeIntervalMs: 10_000 });
    let pings = 0;
    monitor.addProbes(() => [
      {
        kind: 'database',
        name: 'sqlite',
        timeoutCode: 'DATABASE_UNAVAILABLE',
        fallbackCode: 'DATABASE_UNAVAILABLE',
        run: async () => {
          pings += 1;
          if (pings === 2) throw new Error('disk I/O error');
        },
      },
    ]);
    monitor.start();
    clock.advance(9_999);
    expect(pings).toBe(0);
    clock.advance(1);
    await vi.waitFor(() => expect(monitor.snapshot('database', 'sqlite')?.errors.samples).toBe(1));
    clock.advance(10_000);
    await vi.waitFor(() =>
      expect(monitor.snapshot('database', 'sqlite')?.errors.byOutcome).toEqual({
        ok: 1,
        DATABASE_UNAVAILABLE: 1,
      }),
    );
    await monitor.stop();
    clock.advance(60_000);
    expect(pings).toBe(2);
  });

  it('ends a probe at its timeout with the timeout code and never runs two at once', async () => {
    const { monitor, clock } = monitorWith({ probeIntervalMs: 1000, probeTimeoutMs: 500 });
    let started = 0;
    let release: () => void = () => undefined;
    monitor.addProbes(() => [
      {
        kind: 'transport',
        name: 'smtp',
        timeoutCode: 'SMTP_TIMEOUT',
        run: () => {
          started += 1;
          return new Promise<void>((resolve) => {
            release = resolve;
          });
        },
      },
    ]);
    monitor.start();
    clock.advance(1000);
    await vi.waitFor(() => expect(started).toBe(1));
    clock.advance(500);
    await vi.waitFor(() =>
      expect(monitor.snapshot('transport', 'smtp')?.errors.byOutcome).toEqual({ SMTP_TIMEOUT: 1 }),
    );
    clock.advance(1000); // next round: the first probe is still out, so none starts
    await Promise.resolve();
    expect(started).toBe(1);
    release();
    await vi.waitFor(async () => {
      clock.advance(1000);
      await Promise.resolve();
      expect(started).toBe(2);
    });
    // The late end of the first probe was not counted again.
    expect(monitor.snapshot('transport', 'smtp')?.errors.byOutcome).toEqual(
      expect.objectContaining({ SMTP_TIMEOUT: 1 }),
    );
    release();
    await monitor.stop();
  });
});
