import { type Clock, systemClock, type Timer } from '../clock.js';
import type { Store, Tx } from '../db/index.js';
import { classifyDatabaseError } from '../db/index.js';
import type { AppError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { QueueState, RunningJob, SettlementClaim } from './claim-state.js';
import type { QueueDefinition, SettledJob } from './contract.js';
import type { JobMetrics } from './metrics.js';
import type { Job, Settlement } from './model.js';
import { recordSettlement, recordSettlements } from './settlement-store.js';

/**
 * Recording outcomes. Outcomes finishing close together are written in one transaction with
 * their queues' `onSettled` hooks, each hook called once with its queue's share of the batch; a
 * failing item is isolated by writing each alone; while the database is unavailable the batch is
 * kept (with its leases) and retried.
 */

/**
 * Records `settlement` of `job` if `by.owner` still holds it, and lets its queue update domain rows
 * in the same transaction. False when the job was not theirs any more.
 */
export async function recordWithHook(
  tx: Tx,
  // biome-ignore lint/suspicious/noExplicitAny: the engine holds definitions of every payload type
  def: QueueDefinition<any>,
  job: Job,
  settlement: Settlement,
  by: { owner: string; now: number; onlyIfExpired?: boolean },
): Promise<boolean> {
  const { owner, now, ...options } = by;
  const ok = await recordSettlement(tx, job, settlement, owner, now, options);
  if (ok && def.onSettled) await def.onSettled(tx, [{ job, settlement }]);
  return ok;
}

interface PendingSettlement {
  entry: RunningJob;
  settlement: Settlement;
  resolve: () => void;
}

/** What the settlement batch needs from the engine. */
export interface SettlementDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The lease owner the jobs are recorded from. */
  owner: string;
  metrics: JobMetrics | undefined;
  /** Gives the job's slot back (recorded or not). */
  finish(entry: RunningJob): void;
  /** Jobs this process runs, their outcome pending or not. */
  runningCount(): number;
  /** Makes sure `queue` pumps at `at` (a retry or deferral is due then). */
  wakeAt(queue: QueueState, at: number): void;
  /** Claims in the batch's transaction for the slots it frees (Claimer.claimInSettlement). */
  claimInSettlement(tx: Tx, freed: ReadonlyMap<QueueState, number>, claims: SettlementClaim[]): Promise<void>;
  /** Starts what the batch's transaction claimed, once its jobs have finished (Claimer.afterSettlementClaim). */
  afterSettlementClaim(claims: readonly SettlementClaim[], committed: boolean): void;
  /** Past the shutdown deadline, outcomes that cannot be written are given up. */
  stopDeadlinePassed(): boolean;
  recordError(error: unknown): void;
}

/**
 * Group commit: while many jobs run, a batch waits up to this long (real time) for half of
 * them to finish, so that one commit and one claim serve many jobs. Under light load (the batch
 * already holds half of the running jobs, or one job runs) it is written at the next turn.
 */
export const SETTLE_LINGER_MS = 20;
/** A batch this large is written at once. */
export const SETTLE_BATCH = 64;

/** The pending outcomes and the one flush at a time that writes them. */
export class Settlements {
  private pending: PendingSettlement[] = [];
  private linger: Timer | undefined;
  /** Every outcome handed to `settle` and not yet recorded (or given up). */
  private readonly unrecorded = new Set<Promise<void>>();
  private flushScheduled = false;
  private flushPromise: Promise<void> | undefined;
  private lastRecordedAt: number | null = null;

  constructor(private readonly deps: SettlementDeps) {}

  /** When an outcome was last recorded. */
  get lastProgressAt(): number | null {
    return this.lastRecordedAt;
  }

  /** Queues an outcome for the next batch; resolves once it is recorded (or given up). */
  settle(entry: RunningJob, settlement: Settlement): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.pending.push({ entry, settlement, resolve });
      this.scheduleFlush();
    });
    this.unrecorded.add(done);
    void done.then(() => this.unrecorded.delete(done));
    return done;
  }

  /**
   * Outcomes finishing in the same turn share one transaction; while many jobs run, the batch
   * also lingers for more (SETTLE_LINGER_MS). A flush in progress takes what arrives meanwhile.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushPromise) return;
    const enough = Math.min(SETTLE_BATCH, Math.ceil(this.deps.runningCount() / 2));
    if (this.pending.length >= enough) {
      // flush() cancels a lingering timer; until then the timer sees flushScheduled.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flush();
      });
      return;
    }
    // A backoff-like wait for the CPU, not for work: real time, as the outage backoffs.
    this.linger ??= systemClock.setTimer(SETTLE_LINGER_MS, () => {
      this.linger = undefined;
      if (!this.flushScheduled && !this.flushPromise) void this.flush();
    });
  }

  /** Resolves once every outcome handed over before the call is recorded (or given up). */
  async recorded(): Promise<void> {
    await Promise.all([...this.unrecorded]);
  }

  /** Jobs whose outcome waits for the next batch: they are done, not interrupted. */
  waiting(): Set<RunningJob> {
    return new Set(this.pending.map((p) => p.entry));
  }

  /** Writes everything pending, including what arrives meanwhile. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.flushPromise) await this.flush();
  }

  /**
   * Puts interrupted jobs back in the queue without spending their attempt, through the normal
   * settlement path so that each queue updates its domain rows in the same transaction.
   */
  async putBack(entries: RunningJob[], error: AppError): Promise<number> {
    const { store, clock, owner } = this.deps;
    return store.transaction(async (tx) => {
      let count = 0;
      for (const entry of entries) {
        const settlement: Settlement = { status: 'queued', runAt: clock.now(), error, deferred: true };
        if (await recordWithHook(tx, entry.queue.def, entry.job, settlement, { owner, now: clock.now() }))
          count++;
      }
      return count;
    });
  }

  /**
   * Records the pending settlements as one batch (one flush at a time); while the database is
   * unavailable it keeps retrying that batch with what arrives meanwhile.
   */
  private flush(): Promise<void> {
    this.linger?.cancel();
    this.linger = undefined;
    if (!this.flushPromise) {
      this.flushPromise = this.flushLoop().finally(() => {
        this.flushPromise = undefined;
        // What finished during the write waits for company like any batch: flushing it at once
        // wrote batches of one or two jobs, each with its own commit and claim (B1).
        if (this.pending.length > 0) this.scheduleFlush();
      });
    }
    return this.flushPromise;
  }

  private async flushLoop(): Promise<void> {
    let retryMs = 0;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const recorded = await this.recordBatch(batch);
      if (recorded) return;
      if (this.deps.stopDeadlinePassed()) {
        for (const item of batch) this.complete(item, false);
        continue;
      }
      // The database is unavailable: keep the jobs (and their leases) and try again, because
      // recording late beats running the job twice.
      this.pending = batch.concat(this.pending);
      retryMs = Math.min(5000, Math.max(250, retryMs * 2));
      // A backoff against an outage runs on real time (DESIGN.md, "Job engine").
      await new Promise<void>((resolve) => systemClock.setTimer(retryMs, resolve));
    }
  }

  /**
   * Records a batch in one transaction, with the claim of the jobs that take its slots;
   * isolates a failing item by retrying each alone (without claims). False: database unavailable.
   */
  private async recordBatch(batch: PendingSettlement[]): Promise<boolean> {
    const { store, clock, logger } = this.deps;
    let recorded: Set<PendingSettlement>;
    const claims: SettlementClaim[] = [];
    try {
      recorded = await store.transaction(async (tx) => {
        const done = await this.apply(tx, batch, clock.now());
        await this.deps.claimInSettlement(tx, freedSlots(batch), claims);
        return done;
      });
    } catch (error) {
      this.deps.afterSettlementClaim(claims.splice(0), false);
      const unavailable = classifyDatabaseError(error);
      if (unavailable) {
        this.deps.recordError(error);
        logger.warn(
          { event: 'engine.settle_retry', err: unavailable },
          'cannot record job outcomes; retrying',
        );
        return false;
      }
      recorded = new Set();
      for (const item of batch) {
        try {
          for (const ok of await store.transaction((tx) => this.apply(tx, [item], clock.now())))
            recorded.add(ok);
        } catch (itemError) {
          this.deps.recordError(itemError);
          logger.error(
            { event: 'job.settle_failed', jobId: item.entry.job.id, err: itemError },
            'cannot record the job outcome; its lease will expire and it will run again',
          );
        }
      }
    }
    for (const item of batch) this.complete(item, recorded.has(item));
    // After the batch's jobs gave their slots back, so that the claimed ones take them.
    this.deps.afterSettlementClaim(claims, true);
    return true;
  }

  /**
   * Writes the items' new states (the succeeded ones in one statement), then hands each queue's
   * hook its recorded share, in finishing order. Answers the items recorded.
   */
  private async apply(tx: Tx, items: PendingSettlement[], now: number): Promise<Set<PendingSettlement>> {
    const live = items.filter((item) => !item.entry.lost);
    const ids = await recordSettlements(
      tx,
      live.map((item) => ({ job: item.entry.job, settlement: item.settlement })),
      this.deps.owner,
      now,
    );
    const recorded = new Set<PendingSettlement>();
    const byQueue = new Map<QueueState, SettledJob[]>();
    for (const item of live) {
      if (!ids.has(item.entry.job.id)) continue;
      recorded.add(item);
      const share = byQueue.get(item.entry.queue) ?? [];
      if (share.length === 0) byQueue.set(item.entry.queue, share);
      share.push({ job: item.entry.job, settlement: item.settlement });
    }
    for (const [queue, settled] of byQueue) await queue.def.onSettled?.(tx, settled);
    return recorded;
  }

  private complete(item: PendingSettlement, recorded: boolean): void {
    if (recorded) {
      this.lastRecordedAt = this.deps.clock.now();
      this.deps.metrics?.settled.inc({
        queue: item.entry.job.queue,
        outcome: settlementLabel(item.settlement),
      });
      // A retry or deferral is due again at runAt: wake then, without waiting for the poll.
      if (item.settlement.status === 'queued') this.deps.wakeAt(item.entry.queue, item.settlement.runAt);
    } else if (!item.entry.lost) {
      this.deps.logger.warn(
        { event: 'job.lease_lost', jobId: item.entry.job.id },
        'the job was taken over by another worker; its outcome was not recorded',
      );
    }
    this.deps.finish(item.entry);
    item.resolve();
  }
}

/** The slots a batch gives back, per queue: every job of it finishes, recorded or not. */
function freedSlots(batch: readonly PendingSettlement[]): Map<QueueState, number> {
  const freed = new Map<QueueState, number>();
  for (const { entry } of batch) freed.set(entry.queue, (freed.get(entry.queue) ?? 0) + 1);
  return freed;
}

function settlementLabel(settlement: Settlement): string {
  if (settlement.status === 'queued') return settlement.deferred ? 'deferred' : 'retried';
  return settlement.status;
}

/** Logs a handler's outcome at the level it deserves. */
export function logSettlement(logger: Logger, settlement: Settlement): void {
  switch (settlement.status) {
    case 'succeeded':
      logger.debug({ event: 'job.succeeded' }, 'job succeeded');
      break;
    case 'queued':
      if (settlement.deferred)
        logger.debug({ event: 'job.deferred', runAt: settlement.runAt }, 'job deferred');
      else
        logger.info(
          {
            event: 'job.retry_scheduled',
            runAt: settlement.runAt,
            code: settlement.error?.code,
            reason: settlement.error?.message,
          },
          'job failed; retry scheduled',
        );
      break;
    case 'failed':
      logger.warn(
        { event: 'job.failed', code: settlement.error.code, reason: settlement.error.message },
        'job failed permanently',
      );
      break;
    case 'dead':
      logger.warn(
        { event: 'job.dead', code: settlement.error.code, reason: settlement.error.message },
        'job retries exhausted',
      );
      break;
  }
}
