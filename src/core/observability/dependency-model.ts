/**
 * The pure part of dependency watching: a rolling window of samples bounded in time (by the
 * injected clock's readings) and in size, its percentiles and error rate, and the alert
 * thresholds with their one-alert-per-crossing state. No I/O: tested with plain numbers.
 */

/** Latency over the window; `samples` is how many durations the percentiles are computed from. */
export interface LatencyFigures {
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  samples: number;
}

/** Outcomes over the window: `rate` is `failed / samples` (null without samples). */
export interface ErrorFigures {
  rate: number | null;
  failed: number;
  samples: number;
  windowSeconds: number;
  /** Calls per outcome (`ok` included). */
  byOutcome: Record<string, number>;
}

/** What the window says now. */
export interface WindowFigures {
  latency: LatencyFigures;
  errors: ErrorFigures;
}

/** The `p`-th percentile (0-100) of sorted values, nearest-rank: the smallest value with at least p% at or below it. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

interface Bucket {
  /** Start of the bucket, in clock milliseconds (a multiple of the bucket width). */
  start: number;
  counts: Map<string, number>;
  /** Every duration of the bucket up to the cap, then a uniform sample of them (reservoir). */
  durations: number[];
  seen: number;
}

/** Buckets per window: expiry is exact to one bucket width (1/60 of the window). */
const BUCKETS = 60;

/** Options of a `RollingWindow`. */
export interface RollingWindowOptions {
  windowMs: number;
  /** Durations kept for the percentiles, all buckets together; default 6000. Outcome counts are exact whatever this is. */
  maxDurations?: number;
  /** Source of randomness for the reservoir; default Math.random. */
  random?: () => number;
}

/**
 * Samples of the last `windowMs`, in buckets of 1/60 of the window. Outcome counts are exact;
 * durations are kept up to a cap per bucket, beyond which each bucket keeps a uniform sample
 * (reservoir sampling), so memory is bounded however busy the dependency is.
 */
/** Windows with fewer kept durations than this are sorted on every reading (exact). */
const EXACT_BELOW = 200;
/** How long a busy window's percentiles may be reused. */
const LATENCY_REFRESH_MS = 250;

export class RollingWindow {
  private readonly buckets: Bucket[] = [];
  private readonly bucketMs: number;
  private readonly perBucket: number;
  private readonly random: () => number;
  /** The buckets' counts and kept durations summed, kept as samples come and buckets expire. */
  private readonly totals = new Map<string, number>();
  private kept = 0;

  constructor(private readonly options: RollingWindowOptions) {
    this.bucketMs = Math.max(1, Math.ceil(options.windowMs / BUCKETS));
    this.perBucket = Math.max(1, Math.floor((options.maxDurations ?? 6000) / BUCKETS));
    this.random = options.random ?? Math.random;
  }

  /** Adds one sample taken at `at`. */
  add(at: number, ms: number, outcome: string): void {
    const start = at - (at % this.bucketMs);
    this.expire(at);
    // A sample stamped before the newest bucket (clock readings out of order) counts in it.
    let bucket = this.buckets.at(-1);
    if (!bucket || bucket.start < start) {
      bucket = { start, counts: new Map(), durations: [], seen: 0 };
      this.buckets.push(bucket);
    }
    bucket.counts.set(outcome, (bucket.counts.get(outcome) ?? 0) + 1);
    this.totals.set(outcome, (this.totals.get(outcome) ?? 0) + 1);
    bucket.seen += 1;
    if (bucket.durations.length < this.perBucket) {
      bucket.durations.push(ms);
      this.kept++;
    } else {
      const slot = Math.floor(this.random() * bucket.seen);
      if (slot < this.perBucket) bucket.durations[slot] = ms;
    }
  }

  /** Figures of the samples within the window that ends at `now`. */
  figures(now: number): WindowFigures {
    this.expire(now);
    // From the running totals: a busy dependency is read on every sample (its alert state).
    const byOutcome: Record<string, number> = {};
    let samples = 0;
    for (const [outcome, count] of this.totals) {
      byOutcome[outcome] = count;
      samples += count;
    }
    const failed = samples - (byOutcome.ok ?? 0);
    return {
      latency: this.latency(now, this.kept),
      errors: {
        rate: samples === 0 ? null : Math.round((failed / samples) * 10_000) / 10_000,
        failed,
        samples,
        windowSeconds: Math.round(this.options.windowMs / 1000),
        byOutcome,
      },
    };
  }

  private cached: { at: number; kept: number; latency: WindowFigures['latency'] } | undefined;

  /**
   * The percentiles, sorted afresh when the window is small, or when the last sort is older than
   * LATENCY_REFRESH_MS or was made over 10% fewer or more samples: a busy dependency (a send per
   * millisecond) is observed far more often than its percentiles can move, and sorting thousands
   * of durations on every call was a measured share of a send's CPU.
   */
  private latency(now: number, kept: number): WindowFigures['latency'] {
    const hit = this.cached;
    if (
      hit &&
      kept >= EXACT_BELOW &&
      now - hit.at < LATENCY_REFRESH_MS &&
      Math.abs(kept - hit.kept) <= hit.kept * 0.1
    )
      return hit.latency;
    const durations: number[] = [];
    for (const bucket of this.buckets) for (const ms of bucket.durations) durations.push(ms);
    durations.sort((a, b) => a - b);
    const latency = {
      p50Ms: roundMs(percentile(durations, 50)),
      p95Ms: roundMs(percentile(durations, 95)),
      p99Ms: roundMs(percentile(durations, 99)),
      samples: durations.length,
    };
    this.cached = { at: now, kept, latency };
    return latency;
  }

  /** Whether the window holds no sample. */
  isEmpty(now: number): boolean {
    this.expire(now);
    return this.buckets.length === 0;
  }

  /** Drops the buckets that ended before `now - windowMs`. */
  private expire(now: number): void {
    const from = now - this.options.windowMs;
    let drop = 0;
    while (drop < this.buckets.length && (this.buckets[drop] as Bucket).start + this.bucketMs <= from) drop++;
    if (drop === 0) return;
    for (const bucket of this.buckets.splice(0, drop)) {
      this.kept -= bucket.durations.length;
      for (const [outcome, count] of bucket.counts) {
        const left = (this.totals.get(outcome) ?? 0) - count;
        if (left > 0) this.totals.set(outcome, left);
        else this.totals.delete(outcome);
      }
    }
  }
}

function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 10) / 10;
}

/** The alert thresholds (FACTEUR_DEPENDENCY_ALERT_*). */
export interface DependencyThresholds {
  /** Failures in a row that raise an alert; 0 turns the check off. */
  failures: number;
  /** p95 latency bound in milliseconds; null turns the check off. */
  latencyMs: number | null;
  /** Error rate (0-1) at or above which the window raises an alert; null turns the check off. */
  errorRate: number | null;
  /** Samples the window needs before the latency and error-rate checks apply. */
  minSamples: number;
  /** Length of the window. */
  windowMs: number;
}

/** Which threshold a dependency crossed. */
export type ThresholdName = 'failures' | 'latency' | 'error_rate';

/** What the thresholds are judged on. */
export interface DependencyFigures extends WindowFigures {
  consecutiveFailures: number;
  /** Whether the latest sample was a success. */
  lastOk: boolean;
}

/** The thresholds `figures` cross, in a fixed order (failures, latency, error_rate). */
export function crossedThresholds(figures: DependencyFigures, limits: DependencyThresholds): ThresholdName[] {
  const crossed: ThresholdName[] = [];
  if (limits.failures > 0 && figures.consecutiveFailures >= limits.failures) crossed.push('failures');
  const enough = figures.errors.samples >= limits.minSamples;
  const p95 = figures.latency.p95Ms;
  if (limits.latencyMs !== null && enough && figures.latency.samples >= limits.minSamples && p95 !== null) {
    if (p95 > limits.latencyMs) crossed.push('latency');
  }
  const rate = figures.errors.rate;
  if (limits.errorRate !== null && enough && rate !== null && rate >= limits.errorRate) {
    crossed.push('error_rate');
  }
  return crossed;
}

/** Whether a dependency is in alert, since when, and for which threshold first. */
export type AlertState =
  | { failing: false }
  | { failing: true; since: number; threshold: ThresholdName; lastCrossed: ThresholdName[] };

/** What one evaluation decided. */
export interface AlertDecision {
  state: AlertState;
  /** Set on the sample that changes the state: raise this alert, once. */
  transition?: 'failing' | 'recovered';
  crossed: ThresholdName[];
}

/**
 * Raises on the first crossing and stays raised while any threshold is crossed; recovers on a
 * success once no threshold is crossed any more (the run of failures ended, the window's
 * rates back under their bounds). Each crossing and each recovery is one transition.
 */
export function nextAlertState(
  state: AlertState,
  figures: DependencyFigures,
  limits: DependencyThresholds,
  now: number,
): AlertDecision {
  const crossed = crossedThresholds(figures, limits);
  if (!state.failing) {
    if (crossed.length === 0) return { state, crossed };
    return {
      state: { failing: true, since: now, threshold: crossed[0] as ThresholdName, lastCrossed: crossed },
      transition: 'failing',
      crossed,
    };
  }
  if (crossed.length === 0 && figures.lastOk)
    return { state: { failing: false }, transition: 'recovered', crossed };
  return { state: crossed.length > 0 ? { ...state, lastCrossed: crossed } : state, crossed };
}

/** A sentence for the alert's subject: which threshold, with its figures and sample counts. */
export function describeCrossing(
  threshold: ThresholdName,
  figures: DependencyFigures,
  limits: DependencyThresholds,
): string {
  switch (threshold) {
    case 'failures':
      return `${figures.consecutiveFailures} failures in a row (limit ${limits.failures})`;
    case 'latency':
      return `p95 latency ${figures.latency.p95Ms} ms over ${figures.latency.samples} samples (limit ${limits.latencyMs} ms)`;
    case 'error_rate':
      return `error rate ${formatRate(figures.errors.rate)} (${figures.errors.failed} of ${figures.errors.samples} calls in ${figures.errors.windowSeconds} s; limit ${formatRate(limits.errorRate)})`;
  }
}

function formatRate(rate: number | null): string {
  return rate === null ? 'n/a' : `${Math.round(rate * 1000) / 10}%`;
}
