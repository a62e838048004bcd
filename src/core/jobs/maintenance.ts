import type { Clock, Timer } from '../clock.js';
import type { Store } from '../db/index.js';
import { AppError } from '../errors.js';
import type { LeaseIdentity } from '../instance.js';
import type { Logger } from '../observability/logger.js';
import type { RunningJob } from './claim-state.js';
import { type QueueDefinition, retryPolicyOf } from './contract.js';
import type { JobMetrics } from './metrics.js';
import { decideSettlement, type Job } from './model.js';
import { recordWithHook } from './settlements.js';
import { findExpiredLeases, findRunningJobsByOwnerPrefix, pruneFinishedJobs, renewLeases } from './store.js';

/**
 * The engine's upkeep, every third of a lease: renewing this run's leases (abandoning jobs
 * whose lease was lost), recovering jobs of workers that stopped renewing theirs, pruning old
 * finished jobs; and, once at start, recovering the jobs an earlier run of this instance held.
 */

const MAINTENANCE_BATCH = 100;
const PRUNE_EVERY_MS = 3_600_000;

/** What maintenance needs from the engine. */
export interface MaintenanceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  /** Succeeded and cancelled jobs older than this are deleted (undefined: never). */
  retentionMs: number | undefined;
  identity: LeaseIdentity;
  metrics: JobMetrics | undefined;
  random: () => number;
  /** The jobs this run holds. */
  running: ReadonlyMap<string, RunningJob>;
  // biome-ignore lint/suspicious/noExplicitAny: the engine holds definitions of every payload type
  definition(queue: string): QueueDefinition<any> | undefined;
  /** Passes run only while this says so. */
  isRunning(): boolean;
  /** Gives a job's slot back. */
  finish(entry: RunningJob): void;
  recordError(error: unknown): void;
}

export class Maintenance {
  private timer: Timer | undefined;
  private lastPruneAt = 0;

  constructor(private readonly deps: MaintenanceDeps) {}

  /** Runs a pass every third of a lease (at least every 250 ms) until `stop`. */
  start(): void {
    this.timer = this.deps.clock.setTimer(Math.max(250, Math.floor(this.deps.leaseMs / 3)), () => {
      if (!this.deps.isRunning()) return;
      void this.run().finally(() => {
        if (this.deps.isRunning()) this.start();
      });
    });
  }

  stop(): void {
    this.timer?.cancel();
  }

  /** Renews our leases, recovers jobs whose lease expired elsewhere, prunes old jobs. */
  async run(): Promise<void> {
    const { clock, logger, retentionMs } = this.deps;
    await this.renew();
    try {
      await this.recoverExpiredLeases(clock.now());
    } catch (error) {
      this.deps.recordError(error);
      logger.warn({ event: 'engine.recover_failed', err: error }, 'cannot recover expired leases');
    }
    if (retentionMs !== undefined && clock.now() - this.lastPruneAt >= PRUNE_EVERY_MS) {
      this.lastPruneAt = clock.now();
      try {
        const pruned = await pruneFinishedJobs(this.deps.store.db, clock.now() - retentionMs);
        if (pruned > 0) logger.info({ event: 'engine.pruned', count: pruned }, 'deleted old finished jobs');
      } catch (error) {
        this.deps.recordError(error);
      }
    }
  }

  /** Extends the leases of the jobs we run; a job whose lease is gone is abandoned. */
  private async renew(): Promise<void> {
    const { store, clock, leaseMs, logger, identity, running } = this.deps;
    const startedAt = clock.now();
    if (running.size === 0) return;
    try {
      const held = await renewLeases(store, identity.owner, startedAt, leaseMs);
      for (const entry of [...running.values()]) {
        if (!held.has(entry.job.id) && entry.claimedAt < startedAt && !entry.finished) {
          entry.lost = true;
          entry.controller.abort(new AppError('JOB_LEASE_EXPIRED', 'the lease was lost to another worker'));
          logger.warn({ event: 'job.lease_lost', jobId: entry.job.id }, 'lease lost; abandoning the job');
          this.deps.finish(entry);
        }
      }
    } catch (error) {
      this.deps.recordError(error);
      logger.warn({ event: 'engine.renew_failed', err: error }, 'cannot renew job leases');
    }
  }

  /** Jobs of dead processes: back to the queue now (the crash is counted as an attempt), or `dead` if none remain. */
  private async recoverExpiredLeases(now: number): Promise<void> {
    const { store, identity } = this.deps;
    const expired = (await findExpiredLeases(store.db, now, MAINTENANCE_BATCH)).filter(
      (job) => job.leaseOwner !== identity.owner,
    );
    for (const job of expired) {
      const error = new AppError(
        'JOB_LEASE_EXPIRED',
        `the lease held by ${job.leaseOwner} expired; the worker stopped renewing it`,
      );
      await this.recoverJob(job, error, now, { onlyIfExpired: true });
    }
  }

  /**
   * At start: jobs still leased to an earlier run of this instance. That run died (kill -9, out
   * of memory) without releasing them, and nothing else runs under its leases, so they go back
   * to the queue now instead of when the leases expire. Same accounting as an expired lease:
   * the interrupted run counts as an attempt. Other instances' leases are left to expire.
   */
  async recoverEarlierRuns(): Promise<void> {
    const { store, clock, logger, identity } = this.deps;
    let count = 0;
    let afterId = '';
    try {
      for (;;) {
        const batch = await findRunningJobsByOwnerPrefix(
          store.db,
          identity.ownerPrefix,
          afterId,
          MAINTENANCE_BATCH,
        );
        for (const job of batch) {
          if (job.leaseOwner === null || !identity.isEarlierRun(job.leaseOwner)) continue;
          const error = new AppError(
            'JOB_LEASE_EXPIRED',
            `${job.leaseOwner}, an earlier run of this instance, stopped while running the job; recovered at restart`,
          );
          if (await this.recoverJob(job, error, clock.now(), { onlyIfExpired: false })) count++;
        }
        if (batch.length < MAINTENANCE_BATCH) break;
        afterId = batch[batch.length - 1]?.id ?? afterId;
      }
    } catch (error) {
      this.deps.recordError(error);
      logger.warn(
        { event: 'engine.recover_failed', err: error },
        'cannot recover the jobs of an earlier run; their leases will expire',
      );
    }
    if (count > 0) {
      logger.info(
        { event: 'engine.recovered_own', count, instanceId: identity.instanceId },
        'put back the jobs an earlier run of this instance left running',
      );
    }
  }

  /**
   * Settles a job of a stopped worker as an errored run, in its own transaction with its queue's
   * hook: back to the queue now, or `dead`/`failed` per the retry policy. False when it was not
   * ours to recover (queue not served here, or settled or re-leased meanwhile).
   */
  private async recoverJob(
    job: Job,
    error: AppError,
    now: number,
    options: { onlyIfExpired: boolean },
  ): Promise<boolean> {
    const { store, logger } = this.deps;
    const def = this.deps.definition(job.queue);
    if (!def) return false;
    let settlement = decideSettlement(
      job,
      { kind: 'errored', error },
      retryPolicyOf(def, job),
      now,
      this.deps.random,
    );
    if (settlement.status === 'queued') settlement = { ...settlement, runAt: now };
    const recovered = await store.transaction((tx) =>
      recordWithHook(tx, def, job, settlement, { owner: job.leaseOwner ?? '', now, ...options }),
    );
    if (recovered) {
      this.deps.metrics?.leaseExpired.inc({ queue: job.queue });
      logger.warn(
        {
          event: 'job.recovered',
          jobId: job.id,
          queue: job.queue,
          previousOwner: job.leaseOwner,
          status: settlement.status,
        },
        'recovered a job whose worker stopped renewing its lease',
      );
    }
    return recovered;
  }
}
