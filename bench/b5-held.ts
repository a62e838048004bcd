import type SqliteDatabase from 'better-sqlite3';

/**
 * Watches for deliveries that Facteur holds *after* their endpoint was resumed ("held: the
 * endpoint is paused", waiting HOLD_RECHECK_MS = 1 h). That happens when the engine claims a job
 * that the resume transaction made due before the in-memory endpoint cache was invalidated (the
 * invalidation runs after the commit's WAL sync). Each time it sees some, it resumes that endpoint
 * again (what an operator would do), so the run can finish, and counts them: a defect, reported.
 */

/** What the watcher saw. */
export interface HeldReport {
  /** Deliveries seen held after the resume, summed over endpoints (largest count seen per endpoint). */
  deliveries: number;
  /** Endpoint ids, with when (ms after the resume) they were first seen held. */
  endpoints: Array<{ endpointId: string; count: number; seenAfterMs: number }>;
  /** Extra resume requests the watcher sent. */
  resumes: number;
}

export class HeldWatcher {
  private readonly seen = new Map<string, { count: number; seenAfterMs: number }>();
  private resumes = 0;
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    db: SqliteDatabase.Database,
    private readonly resumedAt: number,
    resume: (endpointId: string) => Promise<void>,
    intervalMs = 250,
  ) {
    // A delivery published while its endpoint was paused is `held` until its job runs; one
    // held again after the resume has been updated since (Facteur's clock, epoch ms).
    const statement = db.prepare(
      `select endpoint_id as endpointId, count(*) as n from webhook_deliveries
       where status = 'held' and updated_at >= ? group by endpoint_id`,
    );
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      const rows = statement.all(Math.floor(resumedAt)) as Array<{ endpointId: string; n: number }>;
      const again = rows.filter((row) => row.n > 0);
      for (const row of again) {
        const entry = this.seen.get(row.endpointId);
        if (!entry) this.seen.set(row.endpointId, { count: row.n, seenAfterMs: Date.now() - this.resumedAt });
        else entry.count = Math.max(entry.count, row.n);
      }
      this.resumes += again.length;
      void Promise.all(again.map((row) => resume(row.endpointId).catch(() => undefined))).finally(() => {
        this.busy = false;
      });
    }, intervalMs);
  }

  stop(): HeldReport {
    clearInterval(this.timer);
    const endpoints = [...this.seen].map(([endpointId, v]) => ({ endpointId, ...v }));
    return { deliveries: endpoints.reduce((n, e) => n + e.count, 0), endpoints, resumes: this.resumes };
  }
}
