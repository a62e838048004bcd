import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import {
  type AlertState,
  crossedThresholds,
  type DependencyFigures,
  type DependencyThresholds,
  describeCrossing,
  nextAlertState,
  percentile,
  RollingWindow,
} from './dependency-model.js';

const limits: DependencyThresholds = {
  failures: 3,
  latencyMs: 500,
  errorRate: 0.5,
  minSamples: 4,
  windowMs: 60_000,
};

describe('percentile (nearest rank)', () => {
  it('gives the smallest value with at least p% of the values at or below it', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
  });

  it('reads two samples as two samples: p50 the lower, p95 and p99 the higher', () => {
    expect(percentile([10, 900], 50)).toBe(10);
    expect(percentile([10, 900], 95)).toBe(900);
    expect(percentile([10, 900], 99)).toBe(900);
    expect(percentile([42], 1)).toBe(42);
  });

  it('has no value without samples', () => {
    expect(percentile([], 50)).toBeNull();
  });
});

describe('RollingWindow', () => {
  it('counts every outcome and gives the error rate with its sample count', () => {
    const clock = new ManualClock();
    const window = new RollingWindow({ windowMs: 60_000 });
    window.add(clock.now(), 20, 'ok');
    window.add(clock.now(), 30, 'SMTP_TIMEOUT');
    const figures = window.figures(clock.now());
    expect(figures.errors).toEqual({
      rate: 0.5,
      failed: 1,
      samples: 2,
      windowSeconds: 60,
      byOutcome: { ok: 1, SMTP_TIMEOUT: 1 },
    });
    expect(figures.latency).toEqual({ p50Ms: 20, p95Ms: 30, p99Ms: 30, samples: 2 });
  });

  it('forgets samples older than the window, on the injected clock', () => {
    const clock = new ManualClock();
    const window = new RollingWindow({ windowMs: 60_000 });
    window.add(clock.now(), 1000, 'SMTP_TRANSIENT');
    clock.advance(30_000);
    window.add(clock.now(), 10, 'ok');
    expect(window.figures(clock.now()).errors.samples).toBe(2);
    clock.advance(31_000); // the first sample is now 61 s old
    const figures = window.figures(clock.now());
    expect(figures.errors).toMatchObject({ samples: 1, failed: 0, rate: 0, byOutcome: { ok: 1 } });
    expect(figures.latency).toEqual({ p50Ms: 10, p95Ms: 10, p99Ms: 10, samples: 1 });
    clock.advance(31_000);
    expect(window.isEmpty(clock.now())).toBe(true);
    expect(window.figures(clock.now()).errors.rate).toBeNull();
    expect(window.figures(clock.now()).latency).toEqual({
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      samples: 0,
    });
  });

  it('keeps exact counts but a bounded number of durations when busy', () => {
    const clock = new ManualClock();
    const window = new RollingWindow({ windowMs: 60_000, maxDurations: 600, random: () => 0.999 });
    for (let i = 0; i < 5000; i++) window.add(clock.now(), i % 2 === 0 ? 5 : 7, i < 1000 ? 'ok' : 'X');
    const figures = window.figures(clock.now());
    expect(figures.errors.samples).toBe(5000);
    expect(figures.errors.failed).toBe(4000);
    expect(figures.latency.samples).toBe(10); // 600 / 60 buckets, all in one bucket
    expect(figures.latency.p50Ms).toBeGreaterThanOrEqual(5);
  });
});

function figures(over: Partial<DependencyFigures> & { rate?: number; samples?: number; p95?: number }) {
  const samples = over.samples ?? 10;
  const rate = over.rate ?? 0;
  return {
    latency: { p50Ms: 10, p95Ms: over.p95 ?? 20, p99Ms: 30, samples },
    errors: {
      rate,
      failed: Math.round(rate * samples),
      samples,
      windowSeconds: 60,
      byOutcome: {},
    },
    consecutiveFailures: over.consecutiveFailures ?? 0,
    lastOk: over.lastOk ?? true,
  } satisfies DependencyFigures;
}

describe('crossedThresholds', () => {
  it('names each threshold crossed, in order', () => {
    expect(crossedThresholds(figures({}), limits)).toEqual([]);
    expect(crossedThresholds(figures({ consecutiveFailures: 3, lastOk: false }), limits)).toEqual([
      'failures',
    ]);
    expect(crossedThresholds(figures({ p95: 501 }), limits)).toEqual(['latency']);
    expect(crossedThresholds(figures({ p95: 500 }), limits)).toEqual([]);
    expect(crossedThresholds(figures({ rate: 0.5 }), limits)).toEqual(['error_rate']);
    expect(
      crossedThresholds(figures({ rate: 1, p95: 900, consecutiveFailures: 10, lastOk: false }), limits),
    ).toEqual(['failures', 'latency', 'error_rate']);
  });

  it('judges no rate and no latency below the minimum of samples', () => {
    // 100% errors over two calls is two calls, not an outage.
    expect(
      crossedThresholds(figures({ rate: 1, samples: 2, p95: 5000, consecutiveFailures: 2 }), limits),
    ).toEqual([]);
  });

  it('skips checks that are off', () => {
    const off = { ...limits, failures: 0, latencyMs: null, errorRate: null };
    expect(crossedThresholds(figures({ rate: 1, p95: 9000, consecutiveFailures: 99 }), off)).toEqual([]);
  });
});

describe('nextAlertState', () => {
  it('raises once on crossing, stays raised while crossed, recovers once on a success', () => {
    const clock = new ManualClock();
    let state: AlertState = { failing: false };
    const transitions: string[] = [];
    const step = (f: DependencyFigures) => {
      const decision = nextAlertState(state, f, limits, clock.now());
      state = decision.state;
      if (decision.transition) transitions.push(decision.transition);
      clock.advance(1000);
    };
    step(figures({ consecutiveFailures: 1, lastOk: false }));
    step(figures({ consecutiveFailures: 2, lastOk: false }));
    expect(transitions).toEqual([]);
    const crossedAt = clock.now();
    step(figures({ consecutiveFailures: 3, lastOk: false }));
    step(figures({ consecutiveFailures: 4, lastOk: false, rate: 0.6 }));
    step(figures({ consecutiveFailures: 5, lastOk: false, rate: 0.7 }));
    expect(transitions).toEqual(['failing']);
    expect(state).toEqual({
      failing: true,
      since: crossedAt,
      threshold: 'failures',
      lastCrossed: ['failures', 'error_rate'],
    });
    // A success while the rate is still over: still failing, no second alert, no recovery yet.
    step(figures({ consecutiveFailures: 0, lastOk: true, rate: 0.6 }));
    expect(transitions).toEqual(['failing']);
    expect(state.failing).toBe(true);
    // The rate is back under: recovered, once.
    step(figures({ consecutiveFailures: 0, lastOk: true, rate: 0.4 }));
    step(figures({ consecutiveFailures: 0, lastOk: true, rate: 0.1 }));
    expect(transitions).toEqual(['failing', 'recovered']);
    expect(state).toEqual({ failing: false });
  });

  it('does not recover on a failure even when the window went quiet', () => {
    const failing: AlertState = {
      failing: true,
      since: 0,
      threshold: 'error_rate',
      lastCrossed: ['error_rate'],
    };
    const decision = nextAlertState(
      failing,
      figures({ samples: 1, rate: 1, consecutiveFailures: 1, lastOk: false }),
      limits,
      5,
    );
    expect(decision.transition).toBeUndefined();
    expect(decision.state.failing).toBe(true);
  });

  it('describes the crossing with its figures and sample counts', () => {
    expect(describeCrossing('error_rate', figures({ rate: 0.75, samples: 8 }), limits)).toBe(
      'error rate 75% (6 of 8 calls in 60 s; limit 50%)',
    );
    expect(describeCrossing('latency', figures({ p95: 800 }), limits)).toBe(
      'p95 latency 800 ms over 10 samples (limit 500 ms)',
    );
    expect(describeCrossing('failures', figures({ consecutiveFailures: 4 }), limits)).toBe(
      '4 failures in a row (limit 3)',
    );
  });
});
