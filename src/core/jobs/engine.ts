import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Store, Tx } from '../db/index.js';
import { AppError } from '../errors.js';
import { uuidv7 } from '../ids.js';
import { type LeaseIdentity, leaseIdentity } from '../instance.js';
import type { Logger } from '../observability/logger.js';
import type { RunningJob } from './claim-state.js';
import { Claimer } from './claimer.js';
import { type QueueDefinition, retryPolicyOf, type SettledHook, type SettledJob } from './contract.js';
import { runDeferredNow } from './keys.js';
import { Maintenance } from './maintenance.js';
import { createJobMetrics, type JobMetrics } from './metrics.js';
import { decideSettlement, type Job, type JobOutcome, type JobSpec, outcomeOfThrown } from './model.js';
import { logSettlement, Settlements } from './settlements.js';
import { enqueueJob, getJob, JOBS_CHANNEL, replayJob } from './store.js';

/**
 * The engine's lifecycle: registering queues, starting, draining on stop, enqueueing,
 * replaying, waking and health. Claiming is in `claimer.ts`, recording outcomes in
 * `settlements.ts`, leases, recovery and pruning in `maintenance.ts`; what a feature writes to
 * define a queue is in `contract.ts`.
 */

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

/**
 * The durable job engine: claims due jobs atomically, runs them under renewed leases, records
 * outcomes in batches, retries per policy, recovers jobs whose process died, and drains on stop.
 */
export class JobEngine {
  /** This run as lease owner: the instance id and a run id. */
  readonly identity: LeaseIdentity;
  /** This run's lease owner id, `<instance id>#<pid>.<suffix>`. */
  readonly workerId: string;
  private readonly claimer: Claimer;
  private readonly settlements: Settlements;
  private readonly maintenance: Maintenance;
  private stopDeadlineAt: number | undefined;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private unsubscribe: (() => void) | undefined;
  private lastError: { message: string; at: number } | null = null;
  private readonly metrics: JobMetrics | undefined;
  private readonly random: () => number;

  /** The database the engine works on. */
  get store(): Store {
    return this.options.store;
  }

  constructor(private readonly options: JobEngineOptions) {
    const { store, clock, logger, leaseMs } = options;
    this.identity = leaseIdentity(options.instanceId ?? uuidv7());
    this.workerId = this.identity.owner;
    this.random = options.random ?? Math.random;
    this.metrics = options.metrics ? createJobMetrics(options.metrics, store, clock) : undefined;
    const shared = {
      store,
      clock,
      logger,
      metrics: this.metrics,
      isRunning: () => this.state === 'running',
      recordError: (error: unknown) => this.recordError(error),
    };
    this.claimer = new Claimer({
      ...shared,
      leaseMs,
      pollIntervalMs: options.pollIntervalMs,
      batchSize: options.claimBatchSize ?? 100,
      owner: this.workerId,
      run: (entry) => void this.execute(entry),
    });
    const finish = (entry: RunningJob) => this.claimer.finish(entry);
    this.settlements = new Settlements({
      ...shared,
      owner: this.workerId,
      finish,
      runningCount: () => this.claimer.running.size,
      wakeAt: (queue, at) => this.claimer.wakeAt(queue, at),
      claimInSettlement: (tx, freed, claims) => this.claimer.claimInSettlement(tx, freed, claims),
      afterSettlementClaim: (claims, committed) => this.claimer.afterSettlementClaim(claims, committed),
      stopDeadlinePassed: () => this.stopDeadlineAt !== undefined && clock.now() >= this.stopDeadlineAt,
    });
    this.maintenance = new Maintenance({
      ...shared,
      leaseMs,
      retentionMs: options.retentionMs,
      identity: this.identity,
      random: this.random,
      running: this.claimer.running,
      definition: (queue) => this.claimer.queues.get(queue)?.def,
      finish,
    });
  }

  /** Registers a queue's handler; must be called before `start`. */
  register<P>(def: QueueDefinition<P>): void {
    this.claimer.register(def);
  }

  /**
   * Lets a feature follow another's queue: `hook` runs in each settlement's transaction, after
   * the queue's own `onSettled` (reports follow the sends of their messages this way, without
   * the mail feature knowing about reports). Call after `register`, before `start`.
   */
  follow<P>(queue: string, hook: SettledHook<P>): void {
    const state = this.claimer.queues.get(queue);
    if (!state) throw new Error(`queue ${queue} is not registered`);
    const own = state.def;
    state.def = {
      ...own,
      onSettled: async (tx: Tx, settled: readonly SettledJob<P>[]) => {
        await own.onSettled?.(tx, settled);
        await hook(tx, settled);
      },
    };
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
      await this.claimer.queues.get(job.queue)?.def.onReplayed?.(tx, job);
      this.options.logger.info({ event: 'job.replayed', jobId: id, queue: job.queue }, 'job replayed');
      return job;
    });
  }

  /**
   * Brings forward the queued jobs of `queue` whose last error is `errorCode` (deferred while a
   * breaker was open, say) so they run now; returns how many moved. It first waits until the
   * outcomes pending at the call are recorded: a deferral still in the settlement batch would
   * otherwise be written after the bring-forward and wait out its whole delay.
   */
  async runDeferredNow(queue: string, errorCode: string): Promise<number> {
    await this.settlements.recorded();
    return runDeferredNow(this.options.store, queue, errorCode, this.options.clock.now());
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
        queues: [...this.claimer.queues.keys()],
      },
      'job engine started',
    );
    await this.maintenance.recoverEarlierRuns();
    await this.maintenance.run();
    this.maintenance.start();
    this.claimer.start();
  }

  /** Signals that `queue` may have due jobs (called on enqueue notifications). */
  wake(queue: string): void {
    this.claimer.wake(queue);
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
    const running = this.claimer.running;
    this.claimer.stop();
    this.maintenance.stop();
    this.unsubscribe?.();
    logger.info({ event: 'engine.draining', running: running.size, deadlineMs }, 'draining running jobs');
    this.stopDeadlineAt = clock.now() + deadlineMs;

    const drained = await new Promise<boolean>((resolve) => {
      if (running.size === 0) return resolve(true);
      if (deadlineMs <= 0) return resolve(false);
      const timer = clock.setTimer(deadlineMs, () => resolve(false));
      this.claimer.onIdle(() => {
        timer.cancel();
        resolve(true);
      });
    });

    if (!drained) {
      // Jobs whose outcome is waiting to be recorded are done; the others are put back.
      const settling = this.settlements.waiting();
      const interrupted = [...running.values()].filter((entry) => !settling.has(entry));
      const error = new AppError('JOB_INTERRUPTED', 'the shutdown deadline passed while the job was running');
      for (const entry of interrupted) {
        entry.lost = true;
        entry.controller.abort(error);
      }
      try {
        const released = await this.settlements.putBack(interrupted, error);
        logger.warn({ event: 'engine.released', count: released }, 'put unfinished jobs back in the queue');
      } catch (releaseError) {
        logger.error(
          { event: 'engine.release_failed', err: releaseError },
          'could not put jobs back; their leases will expire',
        );
      }
      for (const entry of interrupted) this.claimer.finish(entry);
    }
    await this.settlements.drain();
    this.state = 'stopped';
    logger.info({ event: 'engine.stopped', drained }, 'job engine stopped');
  }

  /** Health for /readyz. */
  health(): EngineHealth {
    const failing = this.claimer.failing();
    return {
      status: this.state === 'running' || this.state === 'stopping' ? (failing ? 'degraded' : 'ok') : 'down',
      state: this.state,
      running: this.claimer.running.size,
      lastProgressAt: this.settlements.lastProgressAt,
      lastError: this.lastError,
    };
  }

  /** Jobs currently running in this process, per queue. */
  activeCounts(): Record<string, number> {
    return this.claimer.activeCounts();
  }

  /** Runs a claimed job's handler and hands its outcome to the settlement batch. */
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
    await this.settlements.settle(entry, settlement);
  }

  private recordError(error: unknown): void {
    this.lastError = {
      message: error instanceof Error ? error.message : String(error),
      at: this.options.clock.now(),
    };
  }
}
