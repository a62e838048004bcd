import { type Clock, systemClock, type Timer } from '../clock.js';
import type { Store, Tx } from '../db/index.js';
import { classifyDatabaseError } from '../db/index.js';
import type { Logger } from '../observability/logger.js';
import type { QueueState, RunningJob, SettlementClaim } from './claim-state.js';
import { keyLimitOf, type QueueDefinition } from './contract.js';
import { KeySlots } from './key-slots.js';
import type { JobMetrics } from './metrics.js';
import type { Job } from './model.js';
import { claimJobs, nextRunAt, releaseJobs } from './store.js';

/**
 * Claiming: which queue may take how many due jobs, per queue and per concurrency key, the
 * claims themselves, and the timers that pump a queue when its next job is due.
 */

/** What the claimer needs from the engine. */
export interface ClaimerDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  pollIntervalMs: number;
  /** Jobs claimed per query at most. */
  batchSize: number;
  /** The lease owner of claimed jobs. */
  owner: string;
  metrics: JobMetrics | undefined;
  /** Claims happen only while this says so. */
  isRunning(): boolean;
  /** Runs a claimed job whose slots are taken; it ends with `finish`. */
  run(entry: RunningJob): void;
  recordError(error: unknown): void;
}

/** Claims due jobs into free slots and keeps each queue pumping when work may be due. */
export class Claimer {
  readonly queues = new Map<string, QueueState>();
  readonly running = new Map<string, RunningJob>();
  private pollTimer: Timer | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: ClaimerDeps) {}

  register<P>(def: QueueDefinition<P>): void {
    if (this.queues.has(def.name)) throw new Error(`queue ${def.name} is already registered`);
    if (!(def.concurrency >= 1)) throw new RangeError(`queue ${def.name}: concurrency must be >= 1`);
    this.queues.set(def.name, {
      def,
      active: 0,
      slots: new KeySlots((key) => keyLimitOf(def, key)),
      pumping: false,
      again: false,
      maybeDue: true,
      dueTimer: undefined,
      dueAt: undefined,
      failures: 0,
    });
  }

  /** Arms the safety-net poll and pumps every queue. */
  start(): void {
    this.armPoll();
    for (const queue of this.queues.values()) this.pump(queue);
  }

  /** Cancels the poll and the due timers. */
  stop(): void {
    this.pollTimer?.cancel();
    for (const queue of this.queues.values()) {
      queue.dueTimer?.cancel();
      queue.retryTimer?.cancel();
    }
  }

  /** `queue` may have due jobs. */
  wake(queue: string): void {
    const state = this.queues.get(queue);
    if (!state) return;
    state.maybeDue = true;
    this.pump(state);
  }

  /** Calls `waiter` once no job runs (at once if none does). */
  onIdle(waiter: () => void): void {
    if (this.running.size === 0) waiter();
    else this.idleWaiters.push(waiter);
  }

  /** Whether claiming failed at the last try of some queue. */
  failing(): boolean {
    return [...this.queues.values()].some((q) => q.failures > 0);
  }

  activeCounts(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([name, q]) => [name, q.active]));
  }

  /** Gives the job's slot back and pumps its queue. */
  finish(entry: RunningJob): void {
    if (entry.finished) return;
    entry.finished = true;
    this.running.delete(entry.job.id);
    const { queue, job } = entry;
    queue.active--;
    // Jobs of this key may have been skipped or released while it was full: claim for it alone.
    queue.slots.release(job.concurrencyKey);
    if (this.running.size === 0) {
      for (const waiter of this.idleWaiters.splice(0)) waiter();
    }
    // Jobs settled in one batch finish in one turn: one claim fills all their slots, instead of
    // a claim of about one job per finished job (measured in B1).
    if (queue.pumpScheduled) return;
    queue.pumpScheduled = true;
    setImmediate(() => {
      queue.pumpScheduled = false;
      this.pump(queue);
    });
  }

  /**
   * Claims, inside a settlement batch's transaction, the jobs that take the slots the batch
   * frees: their claim commits with the batch (one commit per batch, not two) and they start as
   * the batch's jobs finish. `freed` counts the batch's jobs per queue. Only for queues without
   * per-key limits whose own claim is idle and that may have due work; the others pump as usual.
   * Each claim is added to `claims` before it runs: hand them to `afterSettlementClaim` whether
   * the transaction commits or not.
   */
  async claimInSettlement(
    tx: Tx,
    freed: ReadonlyMap<QueueState, number>,
    claims: SettlementClaim[],
  ): Promise<void> {
    if (!this.deps.isRunning()) return;
    for (const [queue, count] of freed) {
      const { def } = queue;
      if (def.keyConcurrency !== undefined || queue.pumping || queue.settlementClaim) continue;
      if (!queue.maybeDue || queue.failures > 0) continue;
      const limit = Math.min(this.deps.batchSize, def.concurrency - queue.active + count);
      if (limit <= 0) continue;
      queue.settlementClaim = true;
      const claim: SettlementClaim = { queue, jobs: [] };
      claims.push(claim);
      claim.jobs = await this.claim(queue, limit, { excludeKeys: [] }, tx);
    }
  }

  /**
   * After the settlement's transaction (its jobs finished): starts what it claimed when it
   * committed; either way the queues pump again as usual.
   */
  afterSettlementClaim(claims: readonly SettlementClaim[], committed: boolean): void {
    for (const { queue, jobs } of claims) {
      queue.settlementClaim = false;
      if (committed && jobs.length > 0) void this.startOrRelease(queue, jobs);
      if (queue.again) {
        queue.again = false;
        this.pump(queue);
      }
    }
  }

  pump(queue: QueueState): void {
    if (!this.deps.isRunning()) return;
    if (queue.pumping || queue.settlementClaim) {
      queue.again = true;
      return;
    }
    if ((!queue.maybeDue && !queue.slots.hasFreed()) || queue.active >= queue.def.concurrency) return;
    queue.pumping = true;
    void this.pumpLoop(queue).finally(() => {
      queue.pumping = false;
      // Every trigger sets maybeDue or frees a key itself; forcing maybeDue here would turn a
      // freed key into a whole-batch claim.
      if (queue.again) {
        queue.again = false;
        this.pump(queue);
      }
    });
  }

  /** Makes sure the queue pumps at `at` (a timer, unless one is set for earlier). */
  wakeAt(queue: QueueState, at: number): void {
    const { clock } = this.deps;
    if (at <= clock.now()) {
      queue.maybeDue = true;
      setImmediate(() => this.pump(queue));
      return;
    }
    if (queue.dueAt !== undefined && queue.dueAt <= at) return;
    this.setDueTimer(queue, at - clock.now());
  }

  private setDueTimer(queue: QueueState, delayMs: number): void {
    const { clock } = this.deps;
    queue.dueTimer?.cancel();
    queue.dueAt = clock.now() + delayMs;
    queue.dueTimer = clock.setTimer(delayMs, () => {
      queue.dueTimer = undefined;
      queue.dueAt = undefined;
      queue.maybeDue = true;
      this.pump(queue);
    });
  }

  private armPoll(): void {
    this.pollTimer = this.deps.clock.setTimer(this.deps.pollIntervalMs, () => {
      if (!this.deps.isRunning()) return;
      for (const queue of this.queues.values()) {
        queue.maybeDue = true;
        this.pump(queue);
      }
      this.armPoll();
    });
  }

  private async pumpLoop(queue: QueueState): Promise<void> {
    if (queue.slots.hasFreed()) await this.claimForFreedKeys(queue);
    while (this.deps.isRunning() && queue.maybeDue) {
      const free = queue.def.concurrency - queue.active;
      if (free <= 0) return;
      queue.again = false;
      const limit = Math.min(free, this.deps.batchSize);
      let jobs: Job[];
      try {
        jobs = await this.claim(queue, limit, { excludeKeys: queue.slots.saturated() });
        queue.failures = 0;
        for (const key of queue.slots.saturated()) queue.slots.setBacklogged(key, true);
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

  /**
   * Claims for keys that just freed a slot, each only as many jobs as it can run. A general
   * claim would take a whole batch (mostly that key's backlog) only to give nearly all of it
   * back: with one busy endpoint, one claim and one release of ~100 rows per finished job.
   */
  private async claimForFreedKeys(queue: QueueState): Promise<void> {
    for (const key of queue.slots.takeFreed()) {
      const free = Math.min(queue.slots.free(key), queue.def.concurrency - queue.active);
      if (free <= 0 || !this.deps.isRunning()) continue;
      let jobs: Job[];
      try {
        jobs = await this.claim(queue, free, { excludeKeys: [], onlyKey: key });
      } catch (error) {
        this.onPumpError(queue, error);
        return;
      }
      // A full claim means more may be due: the next finished job of this key claims again.
      queue.slots.setBacklogged(key, jobs.length >= free);
      await this.startOrRelease(queue, jobs);
    }
  }

  private claim(
    queue: QueueState,
    limit: number,
    keys: { excludeKeys: readonly string[]; onlyKey?: string },
    tx?: Tx,
  ): Promise<Job[]> {
    const { store, clock, leaseMs, owner } = this.deps;
    return claimJobs(tx ?? store, {
      queue: queue.def.name,
      limit,
      owner,
      leaseMs,
      now: clock.now(),
      ...keys,
    });
  }

  private async startOrRelease(queue: QueueState, jobs: Job[]): Promise<void> {
    const excess: Job[] = [];
    const starting: Job[] = [];
    for (const job of jobs) {
      if (queue.active + starting.length < queue.def.concurrency && queue.slots.reserve(job.concurrencyKey)) {
        starting.push(job);
      } else {
        excess.push(job);
        if (job.concurrencyKey !== null) queue.slots.setBacklogged(job.concurrencyKey, true);
      }
    }
    // The slots are taken now: a pump during the read-ahead must not claim them again.
    queue.active += starting.length;
    if (starting.length > 0) await this.readAhead(queue, starting);
    for (const job of starting) this.startJob(queue, job);
    if (excess.length > 0) {
      const { store, clock, owner } = this.deps;
      await releaseJobs(
        store,
        excess.map((j) => j.id),
        owner,
        clock.now(),
      ).catch((error) => this.deps.recordError(error));
    }
  }

  /** The queue's `onClaimed` read-ahead; when it fails, the handlers read for themselves. */
  private async readAhead(queue: QueueState, jobs: Job[]): Promise<void> {
    if (!queue.def.onClaimed) return;
    try {
      await queue.def.onClaimed(this.deps.store.db, jobs);
    } catch (error) {
      this.deps.logger.debug(
        { event: 'engine.read_ahead_failed', queue: queue.def.name, err: error },
        'reading ahead for claimed jobs failed; each handler reads its own',
      );
    }
  }

  /** Runs a claimed job in the slot `startOrRelease` took for it. */
  private startJob(queue: QueueState, job: Job): void {
    const now = this.deps.clock.now();
    const entry: RunningJob = {
      job,
      queue,
      controller: new AbortController(),
      claimedAt: now,
      finished: false,
      lost: false,
    };
    this.running.set(job.id, entry);
    this.deps.metrics?.startDelay.observe({ queue: queue.def.name }, Math.max(0, now - job.runAt) / 1000);
    this.deps.run(entry);
  }

  private onPumpError(queue: QueueState, error: unknown): void {
    queue.failures++;
    this.deps.recordError(error);
    const delay = Math.min(30_000, 250 * 2 ** Math.min(queue.failures, 7));
    this.deps.logger.warn(
      {
        event: 'engine.claim_failed',
        queue: queue.def.name,
        err: classifyDatabaseError(error) ?? error,
        retryInMs: delay,
      },
      'claiming jobs failed; retrying',
    );
    // A backoff against an outage runs on real time: on a manual clock, a connection that timed
    // out once under load would otherwise stop the queue until someone moved the time.
    queue.retryTimer?.cancel();
    queue.retryTimer = systemClock.setTimer(delay, () => {
      queue.retryTimer = undefined;
      queue.maybeDue = true;
      this.pump(queue);
    });
  }

  /** Arms a timer for the queue's next future job, so that scheduled work starts on time without polling. */
  private async armDueTimer(queue: QueueState): Promise<void> {
    const { store, clock } = this.deps;
    let at: number | undefined;
    try {
      at = await nextRunAt(store.db, queue.def.name);
    } catch (error) {
      this.deps.recordError(error);
      return;
    }
    const now = clock.now();
    if (at === undefined) return;
    if (at <= now) {
      // Became due since the claim. Unless it is held back by a saturated key (a finishing job
      // of that key pumps again), claim once more now rather than waiting for the poll.
      if (queue.slots.saturated().length === 0) {
        setImmediate(() => {
          queue.maybeDue = true;
          this.pump(queue);
        });
      }
      return;
    }
    this.wakeAt(queue, at);
  }
}
