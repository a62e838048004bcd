/**
 * The pure part of the activity series: windows and their fixed buckets, latency classes, and
 * percentiles from class counts. No I/O: the store counts rows per (bucket, class) in SQL that
 * is the same on SQLite and PostgreSQL; this file turns those counts into the answer.
 */

/** The windows the series can cover. */
export const ACTIVITY_WINDOWS = ['1h', '24h'] as const;
/** One of `ACTIVITY_WINDOWS`. */
export type ActivityWindow = (typeof ACTIVITY_WINDOWS)[number];

/** Bucket width and count of each window: 1 h is 60 buckets of 1 min, 24 h is 96 of 15 min. */
export const WINDOW_SHAPES: Record<ActivityWindow, { bucketMs: number; buckets: number }> = {
  '1h': { bucketMs: 60_000, buckets: 60 },
  '24h': { bucketMs: 900_000, buckets: 96 },
};

/** The time range of a window at `now`: `[from, to)`, whole buckets, the last one holding `now`. */
export interface WindowRange {
  window: ActivityWindow;
  bucketMs: number;
  buckets: number;
  from: number;
  to: number;
}

/** The range of `window` at `now` (epoch ms): aligned to bucket boundaries, ending after the bucket of `now`. */
export function windowRange(window: ActivityWindow, now: number): WindowRange {
  const { bucketMs, buckets } = WINDOW_SHAPES[window];
  const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
  return { window, bucketMs, buckets, from: to - buckets * bucketMs, to };
}

/**
 * Upper bounds (ms, inclusive) of the latency classes; one more class holds everything above the
 * last. Roughly logarithmic, from 10 ms to 5 min, like Prometheus' default buckets.
 */
export const LATENCY_BOUNDS_MS = [
  10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
] as const;

/** The class of a latency: the index of the first bound it does not exceed (the last class: above all). */
export function latencyClass(ms: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? LATENCY_BOUNDS_MS.length : index;
}

/**
 * The value reported for a percentile that falls in `latencyClass`: its upper bound; for the
 * class above the last bound, the last bound (the latency is at least that).
 */
export function classValue(latencyClass: number): number {
  return LATENCY_BOUNDS_MS[Math.min(latencyClass, LATENCY_BOUNDS_MS.length - 1)] as number;
}

/**
 * The `p`-th percentile (0-100) of latencies counted per class (`counts[class]`): the upper
 * bound of the class that holds the nearest rank (`ceil(p/100 * n)`), like Prometheus'
 * `histogram_quantile` without interpolation. Null without samples.
 */
export function percentileOfClasses(counts: readonly number[], p: number): number | null {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let c = 0; c < counts.length; c++) {
    seen += counts[c] ?? 0;
    if (seen >= rank) return classValue(c);
  }
  return classValue(counts.length - 1);
}

/** A row of the store's counts: a bucket index, a latency class (null: no latency), a count. */
export interface ClassCount {
  bucket: number;
  latencyClass: number | null;
  count: number;
}

/** The webhook attempts' counts: the same, split by outcome. */
export interface AttemptCount extends ClassCount {
  succeeded: boolean;
}

/** What the store read for a window. */
export interface ActivityCounts {
  /** Sent messages by bucket of `sent_at` and class of `sent_at - created_at`. */
  sent: ClassCount[];
  /** Failed messages by bucket of `updated_at` (no latency class). */
  failed: ClassCount[];
  /** Webhook attempts by bucket of `finished_at`, outcome and class of `latency_ms`. */
  attempts: AttemptCount[];
  /** Inbound messages by bucket of `received_at` (no latency class). */
  received: ClassCount[];
}

/** Counts and latency percentiles of one series over one bucket (or the whole window). */
export interface LatencySeries {
  p50Ms: number | null;
  p95Ms: number | null;
}

/** The figures of one bucket, or of the whole window. */
export interface ActivityFigures {
  mail: { sent: number; failed: number } & LatencySeries;
  webhooks: { succeeded: number; failed: number } & LatencySeries;
  inbound: { received: number };
}

/** One bucket: its start (epoch ms) and its figures. */
export interface ActivityBucket extends ActivityFigures {
  at: number;
}

/** The answer: the range, every bucket in order (empty ones included) and the window's totals. */
export interface Activity {
  window: ActivityWindow;
  bucketMs: number;
  from: number;
  to: number;
  buckets: ActivityBucket[];
  totals: ActivityFigures;
}

interface Tally {
  sent: number;
  failed: number;
  succeeded: number;
  attemptsFailed: number;
  received: number;
  mailClasses: number[];
  webhookClasses: number[];
}

const emptyTally = (): Tally => ({
  sent: 0,
  failed: 0,
  succeeded: 0,
  attemptsFailed: 0,
  received: 0,
  mailClasses: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0),
  webhookClasses: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0),
});

function addClass(classes: number[], latencyClass: number | null, count: number): void {
  if (latencyClass === null) return;
  const c = Math.min(Math.max(0, latencyClass), classes.length - 1);
  classes[c] = (classes[c] ?? 0) + count;
}

function figuresOf(tally: Tally): ActivityFigures {
  return {
    mail: {
      sent: tally.sent,
      failed: tally.failed,
      p50Ms: percentileOfClasses(tally.mailClasses, 50),
      p95Ms: percentileOfClasses(tally.mailClasses, 95),
    },
    webhooks: {
      succeeded: tally.succeeded,
      failed: tally.attemptsFailed,
      p50Ms: percentileOfClasses(tally.webhookClasses, 50),
      p95Ms: percentileOfClasses(tally.webhookClasses, 95),
    },
    inbound: { received: tally.received },
  };
}

/** Builds the answer from the store's counts; rows outside the window's buckets are ignored. */
export function buildActivity(range: WindowRange, counts: ActivityCounts): Activity {
  const tallies = Array.from({ length: range.buckets }, emptyTally);
  const total = emptyTally();
  const at = (bucket: number): Tally[] =>
    Number.isInteger(bucket) && bucket >= 0 && bucket < range.buckets
      ? [tallies[bucket] as Tally, total]
      : [];
  for (const row of counts.sent) {
    for (const t of at(row.bucket)) {
      t.sent += row.count;
      addClass(t.mailClasses, row.latencyClass, row.count);
    }
  }
  for (const row of counts.failed) for (const t of at(row.bucket)) t.failed += row.count;
  for (const row of counts.attempts) {
    for (const t of at(row.bucket)) {
      if (row.succeeded) t.succeeded += row.count;
      else t.attemptsFailed += row.count;
      addClass(t.webhookClasses, row.latencyClass, row.count);
    }
  }
  for (const row of counts.received) for (const t of at(row.bucket)) t.received += row.count;
  return {
    window: range.window,
    bucketMs: range.bucketMs,
    from: range.from,
    to: range.to,
    buckets: tallies.map((tally, i) => ({ at: range.from + i * range.bucketMs, ...figuresOf(tally) })),
    totals: figuresOf(total),
  };
}
