import type { Registry } from 'prom-client';
import type { Clock, Timer } from '../clock.js';
import type { Store, Tx } from '../db/index.js';
import { classifyDatabaseError } from '../db/index.js';
import { AppError } from '../errors.js';
import { uuidv7 } from '../ids.js';
import { type LeaseIdentity, leaseIdentity } from '../instance.js';
import type { Logger } from '../observability/logger.js';
import { createJobMetrics, type JobMetrics } from './metrics.js';
import {
  decideSettlement,
  type Job,
  type JobOutcome,
  type JobSpec,
  outcomeOfThrown,
  type RetryPolicy,
  type Settlement,
} from './model.js';
import {
  claimJobs,
  enqueueJob,
  findExpiredLeases,
  findRunningJobsByOwnerPrefix,
  getJob,
  JOBS_CHANNEL,
  nextRunAt,
  pruneFinishedJobs,
  recordSettlement,
  releaseJobs,
  renewLeases,
  replayJob,
} from './store.js';

/** What a handler receives besides its job. */
export interface JobContext {
  /** Aborted when the lease is lost or the shutdown deadline passes: stop and throw. */
  signal: AbortSignal;
  /** A logger carrying the job id, queue and attempt. */
  logger: Logger;
}

/** A queue: its handler, limits and retry policy. */
export interface QueueDefinition<P = unknown> {
  name: string;
  /** Jobs of this queue running at once in this process. */
  concurrency: number;
  /** Jobs sharing a concurrency key running at once in this process (default: no limit beyond `concurrency`). */
  keyConcurrency?: number | ((key: string) => number);
  /** The retry policy, or a function giving each job its own (e.g. one schedule per webhook endpoint). */
  retry: RetryPolicy | ((job: Job<P>) => RetryPolicy);
  /** Does the work; returns the job's result or throws (AppError, JobDeferral, anything). */
  handle(job: Job<P>, context: JobContext): Promise<unknown>;
  /** Updates domain rows in the same transaction that records the job's new state. */
  onSettled?(tx: Tx, job: Job<P>, settlement: Settlement): Promise<void>;
  /** Updates domain rows when a failed or dead job is replayed, in the same transaction. */
  onReplayed?(tx: Tx, job: Job<P>): Promise<void>;
}

/** Options for `JobEngine`. */
export interface JobEngineOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Lease length; leases are renewed every third of it. */
  leaseMs: number;
  /** Safety-net poll interval. */
  pollIntervalMs: number;
  /** Succeeded and cancelled jobs older than this are deleted (default 7 days). */
  retentionMs?: number;
  /** Registry for job metrics (default: none). */
  metrics?: Registry;
  /** Jobs claimed per query at most (default 100; never more than free slots). */
  claimBatchSize?: number;
  /** Randomness for retry jitter (default Math.random). */
  random?: () => number;
  /**
   * This instance's id, the same across restarts (`stableInstanceId`; default: a random id, so
   * nothing is recovered at start). At start, jobs still leased to an earlier run of this
   * instance (it crashed) go back to the queue at once, without waiting for their leases to
   * expire. Two live engines must not share an id.
   */
  instanceId?: string;
}

/** A snapshot for /readyz and the heartbeat. */
export interface EngineHealth {
  status: 'ok' | 'degraded' | 'down';
  state: string;
  running: number;
  lastProgressAt: number | null;
  lastError: { message: string; at: number } | null;
}

interface QueueState {
  // biome-ignore lint/suspicious/noExplicitAny: definitions of every payload type live in one map
  def: QueueDefinition<any>;
  active: number;
  activeByKey: Map<string, number>;
  pumping: boolean;
  again: boolean;
  maybeDue: boolean;
  /** Keys that were saturated and freed a slot: claim for them alone, not a whole batch. */
  freedKeys: Set<string>;
  /** Keys that may have due jobs waiting for a slot: each finished job of theirs claims for them. */
  backloggedKeys: Set<string>;
  dueTimer: Timer | undefined;
  dueAt: number | undefined;
  failures: number;
}

interface RunningJob {
  job: Job;
  queue: QueueState;
  controller: AbortController;
  claimedAt: number;
  /** The slot was given back (settled, released or lease lost). */
  finished: boolean;
  /** The engine no longer owns the job: its outcome must not be recorded. */
  lost: boolean;
}

interface PendingSettlement {
  entry: RunningJob;
  settlement: Settlement;
  resolve: () => void;
}

const MAINTENANCE_BATCH = 100;
const PRUNE_EVERY_MS = 3_600_000;

/**
 * The durable job engine: claims due jobs atomically, runs them under renewed leases, records
 * outcomes in batches, retries per policy, recovers jobs whose process died, and drains on stop.
 */
export class JobEngine {
  /** This run as lease owner: the instance id and a run id. */
  readonly identity: LeaseIdentity;
  /** This run's lease owner id, `<instance id>#<pid>.<suffix>`. */
  readonly workerId: string;
  private readonly queues = new Map<string, QueueState>();
  private readonly running = new Map<string, RunningJob>();
  private pending: PendingSettlement[] = [];
  private flushScheduled = false;
  private flushPromise: Promise<void> | undefined;
  private stopDeadlineAt: number | undefined;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private pollTimer: Timer | undefined;
  private maintenanceTimer: Timer | undefined;
  private unsubscribe: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private lastProgressAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private lastPruneAt = 0;
  private readonly metrics: JobMetrics | undefined;
  private readonly batchSize: number;
  private readonly random: () => number;

  /** The database the engine works on. */
  get store(): Store {
    return this.options.store;
  }

  constructor(private readonly options: JobEngineOptions) {
    this.identity = leaseIdentity(options.instanceId ?? uuidv7());
    this.workerId = this.identity.owner;
    this.batchSize = options.claimBatchSize ?? 100;
    this.random = options.random ?? Math.random;
    this.metrics = options.metrics
      ? createJobMetrics(options.metrics, options.store, options.clock)
      : undefined;
  }

  /** Registers a queue's handler; must be called before `start`. */
  register<P>(def: QueueDefinition<P>): void {
    if (this.queues.has(def.name)) throw new Error(`queue ${def.name} is already registered`);
    if (!(def.concurrency >= 1)) throw new RangeError(`queue ${def.name}: concurrency must be >= 1`);
    this.queues.set(def.name, {
      def,
      active: 0,
      activeByKey: new Map(),
      pumping: false,
      again: false,
      maybeDue: true,
      freedKeys: new Set(),
      backloggedKeys: new Set(),
      dueTimer: undefined,
      dueAt: undefined,
      failures: 0,
    });
  }

  /** Enqueues a job in its own transaction. Domain code enqueues inside its own transaction with `enqueueJob`. */
  async enqueue<P>(spec: JobSpec<P>): Promise<{ job: Job<P>; created: boolean }> {
    return this.options.store.transaction((tx) => enqueueJob(tx, spec, this.options.clock.now()));
  }

  /**
   * Puts a `dead` or `failed` job back in the queue with fresh attempts (and lets its queue
   * update domain rows). NOT_FOUND if there is no such job, JOB_NOT_REPLAYABLE in other states.
   */
  async replay(id: string): Promise<Job> {
    return this.options.store.transaction(async (tx) => {
      const job = await replayJob(tx, id, this.options.clock.now());
      if (!job) {
        const existing = await getJob(tx.db, id);
        if (!existing) throw new AppError('NOT_FOUND', `no job has the id ${id}`);
        throw new AppError(
          'JOB_NOT_REPLAYABLE',
          `job ${id} is ${existing.status}; only dead or failed jobs can be replayed`,
          {
            details: { status: existing.status },
          },
        );
      }
      await this.queues.get(job.queue)?.def.onReplayed?.(tx, job);
      this.options.logger.info({ event: 'job.replayed', jobId: id, queue: job.queue }, 'job replayed');
      return job;
    });
  }

  /**
   * Starts claiming: first puts back the jobs an earlier run of this instance left running and
   * recovers expired leases, then works until `stop`.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start an engine that is ${this.state}`);
    this.state = 'running';
    const { store, logger } = this.options;
    this.unsubscribe = store.subscribe(JOBS_CHANNEL, (queue) => this.wake(queue));
    await store.listen(logger);
    logger.info(
      {
        event: 'engine.started',
        workerId: this.workerId,
        instanceId: this.identity.instanceId,
        queues: [...this.queues.keys()],
      },
      'job engine started',
    );
    await this.recoverEarlierRuns();
    await this.maintain();
    this.armPoll();
    this.armMaintenance();
    for (const queue of this.queues.values()) this.pump(queue);
  }

  /** Signals that `queue` may have due jobs (called on enqueue notifications). */
  wake(queue: string): void {
    const state = this.queues.get(queue);
    if (!state) return;
    state.maybeDue = true;
    this.pump(state);
  }

  /**
   * Stops claiming, lets running jobs finish for up to `deadlineMs`, then aborts the rest and
   * puts them back in the queue so that another process (or the next start) runs them.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    const { clock, logger } = this.options;
    this.pollTimer?.cancel();
    this.maintenanceTimer?.cancel();
    for (const queue of this.queues.values()) queue.dueTimer?.cancel();
    this.unsubscribe?.();
    logger.info(
      { event: 'engine.draining', running: this.running.size, deadlineMs },
      'draining running jobs',
    );
    this.stopDeadlineAt = clock.now() + deadlineMs;

    const drained = await new Promise<boolean>((resolve) => {
      if (this.running.size === 0) return resolve(true);
      if (deadlineMs <= 0) return resolve(false);
      const timer = clock.setTimer(deadlineMs, () => resolve(false));
      this.idleWaiters.push(() => {
        timer.cancel();
        resolve(true);
      });
    });

    if (!drained) {
      // Jobs whose outcome is waiting to be recorded are done; the others are put back.
      const settling = new Set(this.pending.map((p) => p.entry));
      const interrupted = [...this.running.values()].filter((entry) => !settling.has(entry));
      const error = new AppError('JOB_INTERRUPTED', 'the shutdown deadline passed while the job was running');
      for (const entry of interrupted) {
        entry.lost = true;
        entry.controller.abort(error);
      }
      try {
        const released = await this.putBack(interrupted, error);
        logger.warn({ event: 'engine.released', count: released }, 'put unfinished jobs back in the queue');
      } catch (releaseError) {
        logger.error(
          { event: 'engine.release_failed', err: releaseError },
          'could not put jobs back; their leases will expire',
        );
      }
      for (const entry of interrupted) this.finish(entry);
    }
    while (this.pending.length > 0 || this.flushPromise) await this.flush();
    this.state = 'stopped';
    logger.info({ event: 'engine.stopped', drained }, 'job engine stopped');
  }

  /**
   * Puts interrupted jobs back in the queue without spending their attempt, through the normal
   * settlement path so that each queue updates its domain rows in the same transaction.
   */
  private async putBack(entries: RunningJob[], error: AppError): Promise<number> {
    const { store, clock } = this.options;
    return store.transaction(async (tx) => {
      let count = 0;
      for (const entry of entries) {
        const settlement: Settlement = { status: 'queued', runAt: clock.now(), error, deferred: true };
        if (await recordSettlement(tx, entry.job, settlement, this.workerId, clock.now())) {
          count++;
          await entry.queue.def.onSettled?.(tx, entry.job, settlement);
        }
      }
      return count;
    });
  }

  /** Health for /readyz. */
  health(): EngineHealth {
    const failing = [...this.queues.values()].some((q) => q.failures > 0);
    return {
      status: this.state === 'running' || this.state === 'stopping' ? (failing ? 'degraded' : 'ok') : 'down',
      state: this.state,
      running: this.running.size,
      lastProgressAt: this.lastProgressAt,
      lastError: this.lastError,
    };
  }

  /** Jobs currently running in this process, per queue. */
  activeCounts(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([name, q]) => [name, q.active]));
  }

  // --- claiming -------------------------------------------------------------------------

  private pump(queue: QueueState): void {
    if (this.state !== 'running') return;
    if (queue.pumping) {
      queue.again = true;
      return;
    }
    if ((!queue.maybeDue && queue.freedKeys.size === 0) || queue.active >= queue.def.concurrency) return;
    queue.pumping = true;
    void this.pumpLoop(queue).finally(() => {
      queue.pumping = false;
      // Every trigger sets maybeDue or freedKeys itself; forcing maybeDue here would turn a
      // freed key into a whole-batch claim.
      if (queue.again) {
        queue.again = false;
        this.pump(queue);
      }
    });
  }

  /**
   * Claims for keys that just freed a slot, each only as many jobs as it can run. A general
   * claim would take a whole batch (mostly that key's backlog) only to give nearly all of it
   * back: with one busy endpoint, one claim and one release of ~100 rows per finished job.
   */
  private async claimForFreedKeys(queue: QueueState): Promise<void> {
    const { store, clock, leaseMs } = this.options;
    const keys = [...queue.freedKeys];
    queue.freedKeys.clear();
    for (const key of keys) {
      const free = Math.min(
        this.keyLimit(queue, key) - (queue.activeByKey.get(key) ?? 0),
        queue.def.concurrency - queue.active,
      );
      if (free <= 0 || this.state !== 'running') continue;
      let jobs: Job[];
      try {
        jobs = await claimJobs(store, {
          queue: queue.def.name,
          limit: free,
          owner: this.workerId,
          leaseMs,
          now: clock.now(),
          excludeKeys: [],
          onlyKey: key,
        });
      } catch (error) {
        this.onPumpError(queue, error);
        return;
      }
      // A full claim means more may be due: the next finished job of this key claims again.
      if (jobs.length < free) queue.backloggedKeys.delete(key);
      else queue.backloggedKeys.add(key);
      await this.startOrRelease(queue, jobs);
    }
  }

  private async startOrRelease(queue: QueueState, jobs: Job[]): Promise<void> {
    const excess: Job[] = [];
    for (const job of jobs) {
      if (queue.active < queue.def.concurrency && this.reserveKey(queue, job)) this.startJob(queue, job);
      else {
        excess.push(job);
        if (job.concurrencyKey !== null) queue.backloggedKeys.add(job.concurrencyKey);
      }
    }
    if (excess.length > 0) {
      const { store, clock } = this.options;
      await releaseJobs(
        store,
        excess.map((j) => j.id),
        this.workerId,
        clock.now(),
      ).catch((error) => this.recordError(error));
    }
  }

  private async pumpLoop(queue: QueueState): Promise<void> {
    const { store, clock, leaseMs } = this.options;
    if (queue.freedKeys.size > 0) await this.claimForFreedKeys(queue);
    while (this.state === 'running' && queue.maybeDue) {
      const free = queue.def.concurrency - queue.active;
      if (free <= 0) return;
      queue.again = false;
      const limit = Math.min(free, this.batchSize);
      let jobs: Job[];
      try {
        jobs = await claimJobs(store, {
          queue: queue.def.name,
          limit,
          owner: this.workerId,
          leaseMs,
          now: clock.now(),
          excludeKeys: this.saturatedKeys(queue),
        });
        queue.failures = 0;
        for (const key of this.saturatedKeys(queue)) queue.backloggedKeys.add(key);
      } catch (error) {
        this.onPumpError(queue, error);
        return;
      }
      await this.startOrRelease(queue, jobs);
      if (jobs.length < limit && !queue.again) {
        queue.maybeDue = false;
        await this.armDueTimer(queue);
      }
    }
  }

  private onPumpError(queue: QueueState, error: unknown): void {
    queue.failures++;
    this.recordError(error);
    const delay = Math.min(30_000, 250 * 2 ** Math.min(queue.failures, 7));
    this.options.logger.warn(
      {
        event: 'engine.claim_failed',
        queue: queue.def.name,
        err: classifyDatabaseError(error) ?? error,
        retryInMs: delay,
      },
      'claiming jobs failed; retrying',
    );
    queue.dueTimer?.cancel();
    queue.dueAt = this.options.clock.now() + delay;
    queue.dueTimer = this.options.clock.setTimer(delay, () => {
      queue.dueTimer = undefined;
      queue.dueAt = undefined;
      queue.maybeDue = true;
      this.pump(queue);
    });
  }

  /** Arms a timer for the queue's next future job, so that scheduled work starts on time without polling. */
  private async armDueTimer(queue: QueueState): Promise<void> {
    const { store, clock } = this.options;
    let at: number | undefined;
    try {
      at = await nextRunAt(store.db, queue.def.name);
    } catch (error) {
      this.recordError(error);
      return;
    }
    const now = clock.now();
    if (at === undefined) return;
    if (at <= now) {
      // Became due since the claim. Unless it is held back by a saturated key (a finishing job
      // of that key pumps again), claim once more now rather than waiting for the poll.
      if (this.saturatedKeys(queue).length === 0) {
        setImmediate(() => {
          queue.maybeDue = true;
          this.pump(queue);
        });
      }
      return;
    }
    this.wakeAt(queue, at);
  }

  /** Makes sure the queue pumps at `at` (a timer, unless one is set for earlier). */
  private wakeAt(queue: QueueState, at: number): void {
    const { clock } = this.options;
    if (at <= clock.now()) {
      queue.maybeDue = true;
      setImmediate(() => this.pump(queue));
      return;
    }
    if (queue.dueAt !== undefined && queue.dueAt <= at) return;
    queue.dueTimer?.cancel();
    queue.dueAt = at;
    queue.dueTimer = clock.setTimer(at - clock.now(), () => {
      queue.dueTimer = undefined;
      queue.dueAt = undefined;
      queue.maybeDue = true;
      this.pump(queue);
    });
  }

  private keyLimit(queue: QueueState, key: string): number {
    const limit = queue.def.keyConcurrency;
    if (limit === undefined) return Number.POSITIVE_INFINITY;
    return typeof limit === 'number' ? limit : limit(key);
  }

  private saturatedKeys(queue: QueueState): string[] {
    const keys: string[] = [];
    for (const [key, count] of queue.activeByKey) if (count >= this.keyLimit(queue, key)) keys.push(key);
    return keys;
  }

  private reserveKey(queue: QueueState, job: Job): boolean {
    const key = job.concurrencyKey;
    if (key === null) return true;
    const count = queue.activeByKey.get(key) ?? 0;
    if (count >= this.keyLimit(queue, key)) return false;
    queue.activeByKey.set(key, count + 1);
    return true;
  }

  // --- running --------------------------------------------------------------------------

  private startJob(queue: QueueState, job: Job): void {
    const now = this.options.clock.now();
    queue.active++;
    const entry: RunningJob = {
      job,
      queue,
      controller: new AbortController(),
      claimedAt: now,
      finished: false,
      lost: false,
    };
    this.running.set(job.id, entry);
    this.metrics?.startDelay.observe({ queue: queue.def.name }, Math.max(0, now - job.runAt) / 1000);
    void this.execute(entry);
  }

  private async execute(entry: RunningJob): Promise<void> {
    const { job, queue } = entry;
    const { clock, logger } = this.options;
    const jobLogger = logger.child({ jobId: job.id, queue: job.queue, attempt: job.attempts });
    const startedAt = clock.now();
    let outcome: JobOutcome;
    try {
      const result = await queue.def.handle(job, { signal: entry.controller.signal, logger: jobLogger });
      outcome = { kind: 'succeeded', result };
    } catch (thrown) {
      outcome = outcomeOfThrown(thrown);
    }
    this.metrics?.runDuration.observe({ queue: job.queue }, (clock.now() - startedAt) / 1000);
    if (entry.lost) return;
    const settlement = decideSettlement(
      job,
      outcome,
      retryPolicyOf(queue.def, job),
      clock.now(),
      this.random,
    );
    logSettlement(jobLogger, settlement);
    await this.settle(entry, settlement);
  }

  private settle(entry: RunningJob, settlement: Settlement): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({ entry, settlement, resolve });
      if (!this.flushScheduled && !this.flushPromise) {
        this.flushScheduled = true;
        // Outcomes finishing in the same turn of the event loop share one transaction.
        setImmediate(() => {
          this.flushScheduled = false;
          void this.flush();
        });
      }
    });
  }

  /** Records pending settlements; one flush runs at a time and loops until nothing is pending. */
  private flush(): Promise<void> {
    if (!this.flushPromise) {
      this.flushPromise = this.flushLoop().finally(() => {
        this.flushPromise = undefined;
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
      if (recorded) {
        retryMs = 0;
        continue;
      }
      if (this.stopDeadlinePassed()) {
        for (const item of batch) this.completeSettlement(item, false);
        continue;
      }
      // The database is unavailable: keep the jobs (and their leases) and try again, because
      // recording late beats running the job twice.
      this.pending = batch.concat(this.pending);
      retryMs = Math.min(5000, Math.max(250, retryMs * 2));
      await new Promise<void>((resolve) => this.options.clock.setTimer(retryMs, resolve));
    }
  }

  /** Records a batch in one transaction, isolating a failing item by retrying each alone. False: database unavailable. */
  private async recordBatch(batch: PendingSettlement[]): Promise<boolean> {
    const { store, clock, logger } = this.options;
    const recorded = new Map<PendingSettlement, boolean>();
    try {
      await store.transaction(async (tx) => {
        for (const item of batch) recorded.set(item, await this.applySettlement(tx, item, clock.now()));
      });
    } catch (error) {
      const unavailable = classifyDatabaseError(error);
      if (unavailable) {
        this.recordError(error);
        logger.warn(
          { event: 'engine.settle_retry', err: unavailable },
          'cannot record job outcomes; retrying',
        );
        return false;
      }
      for (const item of batch) {
        try {
          recorded.set(item, await store.transaction((tx) => this.applySettlement(tx, item, clock.now())));
        } catch (itemError) {
          this.recordError(itemError);
          logger.error(
            { event: 'job.settle_failed', jobId: item.entry.job.id, err: itemError },
            'cannot record the job outcome; its lease will expire and it will run again',
          );
          recorded.set(item, false);
        }
      }
    }
    for (const item of batch) this.completeSettlement(item, recorded.get(item) ?? false);
    return true;
  }

  private completeSettlement(item: PendingSettlement, recorded: boolean): void {
    if (recorded) {
      this.lastProgressAt = this.options.clock.now();
      this.metrics?.settled.inc({ queue: item.entry.job.queue, outcome: settlementLabel(item.settlement) });
      // A retry or deferral is due again at runAt: wake then, without waiting for the poll.
      if (item.settlement.status === 'queued') this.wakeAt(item.entry.queue, item.settlement.runAt);
    } else if (!item.entry.lost) {
      this.options.logger.warn(
        { event: 'job.lease_lost', jobId: item.entry.job.id },
        'the job was taken over by another worker; its outcome was not recorded',
      );
    }
    this.finish(item.entry);
    item.resolve();
  }

  private stopDeadlinePassed(): boolean {
    return this.stopDeadlineAt !== undefined && this.options.clock.now() >= this.stopDeadlineAt;
  }

  private async applySettlement(tx: Tx, item: PendingSettlement, now: number): Promise<boolean> {
    const { entry, settlement } = item;
    if (entry.lost) return false;
    const ok = await recordSettlement(tx, entry.job, settlement, this.workerId, now);
    if (ok && entry.queue.def.onSettled) await entry.queue.def.onSettled(tx, entry.job, settlement);
    return ok;
  }

  /** Gives the job's slot back and pumps its queue. */
  private finish(entry: RunningJob): void {
    if (entry.finished) return;
    entry.finished = true;
    this.running.delete(entry.job.id);
    const { queue, job } = entry;
    queue.active--;
    const key = job.concurrencyKey;
    if (key !== null) {
      const count = queue.activeByKey.get(key) ?? 0;
      // Jobs of this key may have been skipped or released while it was full: claim for it alone.
      if (count >= this.keyLimit(queue, key) || queue.backloggedKeys.has(key)) queue.freedKeys.add(key);
      if (count <= 1) queue.activeByKey.delete(key);
      else queue.activeByKey.set(key, count - 1);
    }
    if (this.running.size === 0) {
      for (const waiter of this.idleWaiters.splice(0)) waiter();
    }
    this.pump(queue);
  }

  // --- leases and maintenance -------------------------------------------------------------

  private armPoll(): void {
    this.pollTimer = this.options.clock.setTimer(this.options.pollIntervalMs, () => {
      if (this.state !== 'running') return;
      for (const queue of this.queues.values()) {
        queue.maybeDue = true;
        this.pump(queue);
      }
      this.armPoll();
    });
  }

  private armMaintenance(): void {
    this.maintenanceTimer = this.options.clock.setTimer(
      Math.max(250, Math.floor(this.options.leaseMs / 3)),
      () => {
        if (this.state !== 'running') return;
        void this.maintain().finally(() => {
          if (this.state === 'running') this.armMaintenance();
        });
      },
    );
  }

  /** Renews our leases, recovers jobs whose lease expired elsewhere, prunes old jobs. */
  private async maintain(): Promise<void> {
    const { store, clock, leaseMs, logger } = this.options;
    const startedAt = clock.now();
    if (this.running.size > 0) {
      try {
        const held = await renewLeases(store, this.workerId, startedAt, leaseMs);
        for (const entry of [...this.running.values()]) {
          if (!held.has(entry.job.id) && entry.claimedAt < startedAt && !entry.finished) {
            entry.lost = true;
            entry.controller.abort(new AppError('JOB_LEASE_EXPIRED', 'the lease was lost to another worker'));
            logger.warn({ event: 'job.lease_lost', jobId: entry.job.id }, 'lease lost; abandoning the job');
            this.finish(entry);
          }
        }
      } catch (error) {
        this.recordError(error);
        logger.warn({ event: 'engine.renew_failed', err: error }, 'cannot renew job leases');
      }
    }
    try {
      await this.recoverExpiredLeases(clock.now());
    } catch (error) {
      this.recordError(error);
      logger.warn({ event: 'engine.recover_failed', err: error }, 'cannot recover expired leases');
    }
    if (this.options.retentionMs !== undefined && clock.now() - this.lastPruneAt >= PRUNE_EVERY_MS) {
      this.lastPruneAt = clock.now();
      try {
        const pruned = await pruneFinishedJobs(store.db, clock.now() - this.options.retentionMs);
        if (pruned > 0) logger.info({ event: 'engine.pruned', count: pruned }, 'deleted old finished jobs');
      } catch (error) {
        this.recordError(error);
      }
    }
  }

  /** Jobs of dead processes: back to the queue now (the crash is counted as an attempt), or `dead` if none remain. */
  private async recoverExpiredLeases(now: number): Promise<void> {
    const { store } = this.options;
    const expired = (await findExpiredLeases(store.db, now, MAINTENANCE_BATCH)).filter(
      (job) => job.leaseOwner !== this.workerId,
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
  private async recoverEarlierRuns(): Promise<void> {
    const { store, clock, logger } = this.options;
    let count = 0;
    let afterId = '';
    try {
      for (;;) {
        const batch = await findRunningJobsByOwnerPrefix(
          store.db,
          this.identity.ownerPrefix,
          afterId,
          MAINTENANCE_BATCH,
        );
        for (const job of batch) {
          if (job.leaseOwner === null || !this.identity.isEarlierRun(job.leaseOwner)) continue;
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
      this.recordError(error);
      logger.warn(
        { event: 'engine.recover_failed', err: error },
        'cannot recover the jobs of an earlier run; their leases will expire',
      );
    }
    if (count > 0) {
      logger.info(
        { event: 'engine.recovered_own', count, instanceId: this.identity.instanceId },
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
    const { store, logger } = this.options;
    const queue = this.queues.get(job.queue);
    if (!queue) return false;
    let settlement = decideSettlement(
      job,
      { kind: 'errored', error },
      retryPolicyOf(queue.def, job),
      now,
      this.random,
    );
    if (settlement.status === 'queued') settlement = { ...settlement, runAt: now };
    const recovered = await store.transaction(async (tx) => {
      const ok = await recordSettlement(tx, job, settlement, job.leaseOwner ?? '', now, options);
      if (ok && queue.def.onSettled) await queue.def.onSettled(tx, job, settlement);
      return ok;
    });
    if (recovered) {
      this.metrics?.leaseExpired.inc({ queue: job.queue });
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

  private recordError(error: unknown): void {
    this.lastError = {
      message: error instanceof Error ? error.message : String(error),
      at: this.options.clock.now(),
    };
  }
}

// biome-ignore lint/suspicious/noExplicitAny: the engine holds definitions of every payload type
function retryPolicyOf(def: QueueDefinition<any>, job: Job): RetryPolicy {
  return typeof def.retry === 'function' ? def.retry(job) : def.retry;
}

function settlementLabel(settlement: Settlement): string {
  if (settlement.status === 'queued') return settlement.deferred ? 'deferred' : 'retried';
  return settlement.status;
}

function logSettlement(logger: Logger, settlement: Settlement): void {
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
