import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Store } from '../db/index.js';
import { queueStatistics } from './store.js';

/** The job engine's Prometheus metrics. */
export interface JobMetrics {
  settled: Counter<'queue' | 'outcome'>;
  runDuration: Histogram<'queue'>;
  startDelay: Histogram<'queue'>;
  leaseExpired: Counter<'queue'>;
}

/** Registers the job metrics on `registry`; queue depths are read from the database at scrape time. */
export function createJobMetrics(registry: Registry, store: Store, clock: Clock): JobMetrics {
  const depth = new Gauge({
    name: 'facteur_jobs',
    help: 'Unfinished jobs per queue and status (queued, running), read from the database at scrape time.',
    labelNames: ['queue', 'status'],
    registers: [registry],
  });
  const oldest = new Gauge({
    name: 'facteur_job_oldest_due_seconds',
    help: 'Age of the oldest queued job that is due, per queue (0 when none is waiting).',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      const now = clock.now();
      const stats = await queueStatistics(store.db, now);
      depth.reset();
      this.reset();
      for (const row of stats) {
        depth.set({ queue: row.queue, status: row.status }, row.count);
        if (row.status === 'queued')
          this.set({ queue: row.queue }, row.oldestRunAt === null ? 0 : (now - row.oldestRunAt) / 1000);
      }
    },
  });
  void oldest;
  return {
    settled: new Counter({
      name: 'facteur_jobs_settled_total',
      help: 'Job runs by queue and outcome (succeeded, retried, deferred, failed, dead).',
      labelNames: ['queue', 'outcome'],
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: 'facteur_job_run_seconds',
      help: 'Time a job handler ran, per queue.',
      labelNames: ['queue'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [registry],
    }),
    startDelay: new Histogram({
      name: 'facteur_job_start_delay_seconds',
      help: 'Time from a job being due to a worker starting it, per queue.',
      labelNames: ['queue'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300],
      registers: [registry],
    }),
    leaseExpired: new Counter({
      name: 'facteur_job_leases_expired_total',
      help: 'Jobs recovered because the worker holding them stopped renewing its lease.',
      labelNames: ['queue'],
      registers: [registry],
    }),
  };
}
