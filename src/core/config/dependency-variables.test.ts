import { describe, expect, it } from 'vitest';
import { parseBootConfig } from './index.js';

describe('dependency watching variables', () => {
  it('defaults to 5 failures in a row, 50% over 10 samples in 5 minutes, no latency bound, no probes', () => {
    const result = parseBootConfig({}, { cwd: '/srv' });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.dependencies).toEqual({
      windowMs: 300_000,
      failures: 5,
      latencyMs: null,
      errorRate: 0.5,
      minSamples: 10,
      probeIntervalMs: 0,
      probeTimeoutMs: 5000,
    });
  });

  it('reads durations, percentages and off', () => {
    const result = parseBootConfig({
      FACTEUR_DEPENDENCY_WINDOW: '1m',
      FACTEUR_DEPENDENCY_ALERT_FAILURES: '0',
      FACTEUR_DEPENDENCY_ALERT_LATENCY: '750ms',
      FACTEUR_DEPENDENCY_ALERT_ERROR_RATE: '12.5%',
      FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES: '3',
      FACTEUR_PROBE_INTERVAL: '30s',
      FACTEUR_PROBE_TIMEOUT: '2s',
    });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.dependencies).toEqual({
      windowMs: 60_000,
      failures: 0,
      latencyMs: 750,
      errorRate: 0.125,
      minSamples: 3,
      probeIntervalMs: 30_000,
      probeTimeoutMs: 2000,
    });
    const off = parseBootConfig({
      FACTEUR_DEPENDENCY_ALERT_ERROR_RATE: 'off',
      FACTEUR_PROBE_INTERVAL: 'off',
    });
    expect(off.ok && off.config.dependencies).toMatchObject({ errorRate: null, probeIntervalMs: 0 });
  });

  it('names each bad value with the expected form', () => {
    const result = parseBootConfig({
      FACTEUR_DEPENDENCY_ALERT_ERROR_RATE: '150%',
      FACTEUR_DEPENDENCY_WINDOW: '10',
      FACTEUR_PROBE_INTERVAL: '100ms',
      FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES: '0',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byName = Object.fromEntries(result.problems.map((p) => [p.variable, p.message]));
    expect(byName.FACTEUR_DEPENDENCY_ALERT_ERROR_RATE).toMatch(/expected a percentage from 1% to 100%/);
    expect(byName.FACTEUR_DEPENDENCY_WINDOW).toMatch(/expected a duration with a unit/);
    expect(byName.FACTEUR_PROBE_INTERVAL).toMatch(/at least 1s, or off/);
    expect(byName.FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES).toMatch(/whole number from 1 to 100000/);
  });
});
