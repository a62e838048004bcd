import { describe, expect, it } from 'vitest';
import { buildActivity, LATENCY_BOUNDS_MS, latencyClass, percentileOfClasses, windowRange } from './model.js';

/** The activity series' arithmetic: ranges, latency classes and percentiles from class counts. */

const classes = (entries: Record<number, number>) =>
  Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, c) => entries[c] ?? 0);

describe('activity windows', () => {
  it('ends after the bucket holding now, on bucket boundaries', () => {
    const now = Date.parse('2026-12-07T10:30:30Z');
    expect(windowRange('1h', now)).toEqual({
      window: '1h',
      bucketMs: 60_000,
      buckets: 60,
      from: Date.parse('2026-12-07T09:31:00Z'),
      to: Date.parse('2026-12-07T10:31:00Z'),
    });
    const day = windowRange('24h', now);
    expect([day.from, day.to].map((ms) => new Date(ms).toISOString())).toEqual([
      '2026-12-06T10:45:00.000Z',
      '2026-12-07T10:45:00.000Z',
    ]);
    // Exactly on a boundary: that bucket is the last one.
    expect(windowRange('1h', Date.parse('2026-12-07T10:30:00Z')).to).toBe(Date.parse('2026-12-07T10:31:00Z'));
  });
});

describe('latency classes and percentiles', () => {
  it('classes a latency by the first bound it does not exceed', () => {
    expect([0, 10, 11, 25, 999, 1000, 1001, 300_000, 300_001].map(latencyClass)).toEqual([
      0, 0, 1, 1, 6, 6, 7, 12, 13,
    ]);
  });

  it('answers the upper bound of the class that holds the nearest rank', () => {
    // 19 fast samples and one slow: p95 is the 19th, still fast.
    expect(percentileOfClasses(classes({ 0: 19, 11: 1 }), 95)).toBe(10);
    // 18 and 2: the 19th is slow.
    expect(percentileOfClasses(classes({ 0: 18, 11: 2 }), 95)).toBe(60_000);
    expect(percentileOfClasses(classes({ 2: 1, 4: 1 }), 50)).toBe(50);
    // Above the last bound: the last bound (at least 5 min).
    expect(percentileOfClasses(classes({ 13: 1 }), 50)).toBe(300_000);
    expect(percentileOfClasses(classes({}), 50)).toBeNull();
  });

  it('builds every bucket and the totals, ignoring rows outside the buckets', () => {
    const range = windowRange('1h', Date.parse('2026-12-07T10:30:30Z'));
    const result = buildActivity(range, {
      sent: [
        { bucket: 59, latencyClass: 2, count: 3 },
        { bucket: 60, latencyClass: 2, count: 9 },
      ],
      failed: [{ bucket: 0, latencyClass: null, count: 1 }],
      attempts: [
        { bucket: 59, succeeded: true, latencyClass: 4, count: 1 },
        { bucket: 59, succeeded: false, latencyClass: null, count: 2 },
      ],
      received: [{ bucket: 30, latencyClass: null, count: 4 }],
    });
    expect(result.buckets).toHaveLength(60);
    expect(result.buckets[59]).toEqual({
      at: range.from + 59 * 60_000,
      mail: { sent: 3, failed: 0, p50Ms: 50, p95Ms: 50 },
      webhooks: { succeeded: 1, failed: 2, p50Ms: 250, p95Ms: 250 },
      inbound: { received: 0 },
    });
    expect(result.totals).toEqual({
      mail: { sent: 3, failed: 1, p50Ms: 50, p95Ms: 50 },
      webhooks: { succeeded: 1, failed: 2, p50Ms: 250, p95Ms: 250 },
      inbound: { received: 4 },
    });
  });
});
