import SqliteDatabase from 'better-sqlite3';
import { percentile } from './lib/stats.js';

/**
 * B5's direct reads of Facteur's SQLite file (read-only, from the driver on core 1): whether
 * every delivery is final, whether every attempt is recorded, and the retry times Facteur
 * scheduled (polled while the fault run goes, because a delivery keeps only its next one).
 */

type Db = SqliteDatabase.Database;

export function openReadOnly(path: string): Db {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

const now = (): number => performance.timeOrigin + performance.now();

/** Deliveries not yet in a final state (uses the partial index on open deliveries). */
export function openDeliveries(db: Db): number {
  const row = db
    .prepare("select count(*) as n from webhook_deliveries where status in ('pending', 'held')")
    .get() as { n: number };
  return row.n;
}

/** Polls until no delivery is open; returns when that was first seen, or null after `timeoutMs`. */
export async function waitAllFinal(db: Db, timeoutMs: number, intervalMs = 20): Promise<number | null> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (openDeliveries(db) === 0) return now();
    if (now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The state of the deliveries of some endpoints, and whether their attempts are all recorded. */
export interface DeliveryCheck {
  deliveries: number;
  byStatus: Record<string, number>;
  attemptRows: number;
  /** Deliveries whose attempt rows do not number 1..attempt_count. */
  attemptMismatch: number;
  /** Succeeded deliveries with more than one attempt row. */
  succeededAfterRetry: number;
  /** Failed attempts by error code (why a delivery needed more than one). */
  failedAttempts: Record<string, number>;
  lastFinishedAt: number | null;
}

export function checkDeliveries(db: Db, endpointIds: readonly string[]): DeliveryCheck {
  const inList = endpointIds.map(() => '?').join(',');
  const statuses = db
    .prepare(
      `select status, count(*) as n, max(finished_at) as last from webhook_deliveries where endpoint_id in (${inList}) group by status`,
    )
    .all(...endpointIds) as Array<{ status: string; n: number; last: number | null }>;
  const attempts = db
    .prepare(
      `select count(*) as rows_,
              sum(case when a.n != d.attempt_count or a.maxn != d.attempt_count or a.minn != 1 then 1 else 0 end) as mismatch,
              sum(case when d.status = 'succeeded' and a.n > 1 then 1 else 0 end) as retried,
              sum(a.n) as attempt_rows
       from webhook_deliveries d
       left join (select delivery_id, count(*) as n, max(number) as maxn, min(number) as minn
                  from webhook_attempts group by delivery_id) a on a.delivery_id = d.id
       where d.endpoint_id in (${inList})`,
    )
    .get(...endpointIds) as {
    rows_: number;
    mismatch: number | null;
    retried: number | null;
    attempt_rows: number | null;
  };
  // Deliveries without any attempt row: a mismatch unless they never made an attempt.
  const orphan = db
    .prepare(
      `select count(*) as n from webhook_deliveries d where d.endpoint_id in (${inList}) and d.attempt_count > 0
       and not exists (select 1 from webhook_attempts a where a.delivery_id = d.id)`,
    )
    .get(...endpointIds) as { n: number };
  const failed = db
    .prepare(
      `select coalesce(a.error_code, 'HTTP ' || a.status_code) as code, count(*) as n from webhook_attempts a
       join webhook_deliveries d on d.id = a.delivery_id
       where d.endpoint_id in (${inList}) and a.outcome != 'succeeded' group by 1`,
    )
    .all(...endpointIds) as Array<{ code: string; n: number }>;
  const byStatus = Object.fromEntries(statuses.map((s) => [s.status, s.n]));
  const finished = statuses.map((s) => s.last).filter((v): v is number => v !== null);
  return {
    deliveries: attempts.rows_,
    byStatus,
    attemptRows: attempts.attempt_rows ?? 0,
    attemptMismatch: (attempts.mismatch ?? 0) + orphan.n,
    succeededAfterRetry: attempts.retried ?? 0,
    failedAttempts: Object.fromEntries(failed.map((f) => [f.code, f.n])),
    lastFinishedAt: finished.length > 0 ? Math.max(...finished) : null,
  };
}

/**
 * Events the benchmark published, and those without exactly one delivery. Facteur's own alerts
 * (`source` = `alert`: the failing endpoints of the fault run raise `dependency_failing`) are
 * not the benchmark's events, and no endpoint here subscribes to them.
 */
export function checkEvents(db: Db): { events: number; withoutOneDelivery: number } {
  const events = (
    db.prepare("select count(*) as n from webhook_events where source != 'alert'").get() as { n: number }
  ).n;
  const bad = db
    .prepare(
      `select count(*) as n from webhook_events e
       where e.source != 'alert' and (select count(*) from webhook_deliveries d where d.event_id = e.id) != 1`,
    )
    .get() as { n: number };
  return { events, withoutOneDelivery: bad.n };
}

/** What the poller saw of one delivery waiting after attempt `n`. */
interface Observation {
  /** The first next_attempt_at seen after the attempt failed (the retry schedule). */
  scheduled: number | undefined;
  /** The last next_attempt_at seen (moved later by deferrals, e.g. an open circuit breaker). */
  latest: number;
  /** A deferral (WEBHOOK_UNAVAILABLE: breaker open) was seen while waiting. */
  deferred: boolean;
}

/** Polls the retry times of the deliveries of `endpointIds` every `intervalMs`. */
export class SchedulePoller {
  readonly seen = new Map<string, Observation>();
  private timer: NodeJS.Timeout | undefined;
  polls = 0;

  constructor(
    private readonly db: Db,
    private readonly endpointIds: readonly string[],
  ) {}

  start(intervalMs = 100): void {
    const statement = this.db.prepare(
      `select id, attempt_count, next_attempt_at, last_error_code from webhook_deliveries
       where endpoint_id in (${this.endpointIds.map(() => '?').join(',')}) and status = 'pending' and attempt_count > 0`,
    );
    const poll = (): void => {
      this.polls++;
      const rows = statement.all(...this.endpointIds) as Array<{
        id: string;
        attempt_count: number;
        next_attempt_at: number | null;
        last_error_code: string | null;
      }>;
      for (const row of rows) {
        if (row.next_attempt_at === null) continue;
        const key = `${row.id}:${row.attempt_count}`;
        const deferral = row.last_error_code === 'WEBHOOK_UNAVAILABLE';
        const entry = this.seen.get(key);
        if (!entry) {
          this.seen.set(key, {
            scheduled: deferral ? undefined : row.next_attempt_at,
            latest: row.next_attempt_at,
            deferred: deferral,
          });
        } else {
          entry.latest = row.next_attempt_at;
          entry.deferred ||= deferral;
        }
      }
    };
    poll();
    this.timer = setInterval(poll, intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Retry punctuality over every retry that happened (attempt n failed, attempt n+1 started). */
export interface RetryPunctuality {
  retries: number;
  /** Retries whose scheduled time the poller did not see (nominal schedule used instead). */
  unobserved: number;
  /** Retries that an open circuit breaker pushed later than their schedule. */
  breakerDeferred: number;
  /** Lateness (ms) of attempt n+1's start against the time Facteur scheduled after attempt n. */
  lateP50Ms: number;
  lateP99Ms: number;
  lateMaxMs: number;
  /** Retries later than max(5% of the configured delay, 100 ms) (early ones count too). */
  outside: number;
  /** The same, leaving out breaker-deferred retries: the scheduler's own punctuality. */
  scheduler: { retries: number; lateP50Ms: number; lateP99Ms: number; lateMaxMs: number; outside: number };
  /** Largest |scheduled delay - configured delay| / configured delay (jitter, expected <= 5%). */
  maxScheduleDeviation: number;
  /**
   * Failed attempts (fired or still waiting) whose retry was scheduled more than 6% away from
   * the configured delay (jitter is ±5%): a retry policy other than the endpoint's was applied.
   */
  offSchedule: number;
  /** The largest scheduled delay seen among those, in ms (e.g. 5,000 or 300,000: the default schedule). */
  offScheduleMaxDelayMs: number;
  /** Retries still waiting (never attempted) when the run ended. */
  stillWaiting: number;
}

export function retryPunctuality(
  db: Db,
  endpointIds: readonly string[],
  poller: SchedulePoller,
  scheduleMs: readonly number[],
): RetryPunctuality {
  const rows = db
    .prepare(
      `select a.delivery_id as id, a.number, a.started_at, a.finished_at from webhook_attempts a
       join webhook_deliveries d on d.id = a.delivery_id
       where d.endpoint_id in (${endpointIds.map(() => '?').join(',')}) order by a.delivery_id, a.number`,
    )
    .all(...endpointIds) as Array<{ id: string; number: number; started_at: number; finished_at: number }>;
  const all: number[] = [];
  const own: number[] = [];
  let unobserved = 0;
  let deferred = 0;
  let outside = 0;
  let ownOutside = 0;
  let deviation = 0;
  for (let i = 0; i < rows.length; i++) {
    const attempt = rows[i] as (typeof rows)[number];
    const next = rows[i + 1];
    if (!next || next.id !== attempt.id) continue;
    const delay = scheduleMs[Math.min(attempt.number - 1, scheduleMs.length - 1)] as number;
    const seen = poller.seen.get(`${attempt.id}:${attempt.number}`);
    const scheduled = seen?.scheduled ?? attempt.finished_at + delay;
    if (seen?.scheduled === undefined) unobserved++;
    const late = next.started_at - scheduled;
    const tolerance = Math.max(0.05 * delay, 100);
    const miss = late > tolerance || late < -tolerance;
    all.push(late);
    if (miss) outside++;
    if (seen?.deferred) deferred++;
    else {
      own.push(late);
      if (miss) ownOutside++;
    }
  }
  // Every retry Facteur scheduled, whether it fired or still waits.
  const finishedAt = new Map(rows.map((r) => [`${r.id}:${r.number}`, r]));
  let offSchedule = 0;
  let offScheduleMaxDelayMs = 0;
  for (const [key, seen] of poller.seen) {
    const attempt = finishedAt.get(key);
    if (seen.scheduled === undefined || !attempt) continue;
    const delay = scheduleMs[Math.min(attempt.number - 1, scheduleMs.length - 1)] as number;
    const actual = seen.scheduled - attempt.finished_at;
    const off = Math.abs(actual - delay) / delay;
    deviation = Math.max(deviation, off);
    if (off > 0.06) {
      offSchedule++;
      offScheduleMaxDelayMs = Math.max(offScheduleMaxDelayMs, actual);
    }
  }
  const summary = (values: number[]) => {
    const sorted = Float64Array.from(values).sort();
    return {
      lateP50Ms: percentile(sorted, 0.5),
      lateP99Ms: percentile(sorted, 0.99),
      lateMaxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    };
  };
  const stillWaiting = db
    .prepare(
      `select count(*) as n from webhook_deliveries where endpoint_id in (${endpointIds.map(() => '?').join(',')})
       and status = 'pending' and attempt_count > 0`,
    )
    .get(...endpointIds) as { n: number };
  return {
    retries: all.length,
    unobserved,
    breakerDeferred: deferred,
    ...summary(all),
    outside,
    scheduler: { retries: own.length, ...summary(own), outside: ownOutside },
    maxScheduleDeviation: deviation,
    offSchedule,
    offScheduleMaxDelayMs,
    stillWaiting: stillWaiting.n,
  };
}
