import type { Clock, Timer } from '../core/clock.js';
import { classifyDatabaseError, type Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { JobDeferral } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import { decodeBudget, encodeBudget } from './budget-codec.js';
import type { BudgetMetrics } from './budget-metrics.js';
import {
  type BudgetLimits,
  type BudgetState,
  type BudgetUsage,
  effectiveCount,
  emptyBudget,
  usageOf,
  type WaitReason,
} from './budget-model.js';
import {
  type BudgetGrant,
  type BudgetOp,
  type BudgetPlan,
  type PlanWaiter,
  planCycle,
  type SlowDownResult,
} from './budget-plan.js';
import { createBudgetRow, readBudgetRow, writeBudgetRow } from './budget-store.js';

/**
 * One transport's rate budget in this process: the sends that wait for a token, and the one
 * read-decide-write cycle at a time that serves them against the shared row (budget-store.ts).
 * Takers arriving together are decided together, urgent ones first, so that one cycle (one
 * read, one conditional write) serves them all and concurrent sends do not race each other for
 * the row. A send whose token comes within `maxWaitMs` waits here (its job keeps its slot and
 * lease); a longer wait (an hourly or daily count used up, a pause, a long queue) is a
 * `JobDeferral` to the time the token comes, so the job runs again then without spending an
 * attempt. The decisions themselves are budget-model.ts and budget-plan.ts.
 */

export type { BudgetGrant, SlowDownResult } from './budget-plan.js';

/** What a budget needs. */
export interface SendBudgetDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: BudgetMetrics;
  /** A send waits in this process for a token that comes within this long; longer, it is deferred (default 5 s). */
  maxWaitMs?: number;
}

/** Conditional writes lost in a row before a cycle backs off. */
const MAX_LOST_WRITES = 50;
/**
 * Sends that ended are written with the next cycle, or after this long at the latest: their
 * end is recorded with its own time, and a send counts until a window after it, so a late write
 * changes nothing but the number of writes.
 */
const RELEASE_BATCH_MS = 50;

interface Waiter extends PlanWaiter {
  refused: boolean;
  since: number;
  resolve(grant: BudgetGrant): void;
  reject(error: unknown): void;
  detach(): void;
}

/** What the transport chain asks of a budget (SendBudget; a stand-in in the chain's tests). */
export interface SendGate {
  acquire(options: { urgent: boolean; signal: AbortSignal; holding?: boolean }): Promise<BudgetGrant>;
  release(grant: BudgetGrant, end: { taken: boolean }): void;
  slowDown(options: { urgent: boolean; retryAfterMs?: number | undefined }): Promise<SlowDownResult>;
  close(): void;
}

/** A transport's budget, shared through the database with every instance. */
export class SendBudget implements SendGate {
  private readonly waiters: Waiter[] = [];
  private readonly ops: BudgetOp[] = [];
  private scheduled = false;
  private running = false;
  private again = false;
  private timer: Timer | undefined;
  private releaseTimer: Timer | undefined;
  private failures = 0;
  private latest: BudgetState | undefined;
  /** The state this process last wrote and the version it is at: read back without decoding. */
  private written: { state: BudgetState; version: number } | undefined;
  private closed = false;

  constructor(
    readonly transport: string,
    readonly limits: BudgetLimits,
    private readonly deps: SendBudgetDeps,
  ) {}

  /**
   * Resolves with a token once the budget grants one; throws a `JobDeferral` when it would
   * come later than `maxWaitMs`, and the signal's reason when aborted. `holding`: the send was
   * deferred by this budget before (an urgent one holds a token since).
   */
  acquire(options: { urgent: boolean; signal: AbortSignal; holding?: boolean }): Promise<BudgetGrant> {
    const { signal, urgent } = options;
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN', 'the transport is closed'));
    return new Promise<BudgetGrant>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.remove(waiter) && waiter.holding) this.unhold();
        reject(signal.reason);
      };
      const waiter: Waiter = {
        urgent,
        // An urgent send deferred by a budget was counted in its holds when it was refused.
        holding: urgent && options.holding === true,
        refused: false,
        since: this.deps.clock.now(),
        resolve,
        reject,
        detach: () => signal.removeEventListener('abort', onAbort),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Urgent sends first, each kind in the order it came.
      const firstBulk = urgent ? this.waiters.findIndex((w) => !w.urgent) : -1;
      if (firstBulk === -1) this.waiters.push(waiter);
      else this.waiters.splice(firstBulk, 0, waiter);
      this.kick();
    });
  }

  /** Hands a token back when its send ended; `taken: false` gives its hourly and daily counts back. */
  release(grant: BudgetGrant, end: { taken: boolean }): void {
    this.ops.push({ kind: 'release', grant, end: { at: this.deps.clock.now(), taken: end.taken } });
    if (this.releaseTimer || this.closed) return;
    this.releaseTimer = this.deps.clock.setTimer(RELEASE_BATCH_MS, () => {
      this.releaseTimer = undefined;
      this.kick();
    });
  }

  /** An urgent waiter that held a send is gone: its hold goes too. */
  private unhold(): void {
    this.ops.push({ kind: 'unhold' });
    this.kick();
  }

  /** Slows the budget down after a rate-limit reply; resolves with when the next send may go. */
  slowDown(options: { urgent: boolean; retryAfterMs?: number | undefined }): Promise<SlowDownResult> {
    return new Promise<SlowDownResult>((resolve) => {
      this.ops.push({ kind: 'slow', urgent: options.urgent, retryAfterMs: options.retryAfterMs, resolve });
      this.kick();
    });
  }

  /** The figures of the last state this process read or wrote (undefined before the first). */
  usage(): BudgetUsage | undefined {
    return this.latest ? usageOf(this.latest, this.limits, this.deps.clock.now()) : undefined;
  }

  /** Stops serving: waiting sends are refused, tokens already handed out are released as they end. */
  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.releaseTimer?.cancel();
    // Their holds lapse on their own: this process writes nothing more.
    for (const waiter of this.waiters.splice(0)) {
      waiter.detach();
      waiter.reject(new AppError('SHUTTING_DOWN', `the transport ${this.transport} is closed`));
    }
  }

  /** Runs a cycle after the current turn, so that takers arriving together are decided together. */
  private kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        if (this.closed || (this.waiters.length === 0 && this.ops.length === 0)) break;
        await this.cycle();
      } while (this.again);
    } finally {
      this.running = false;
    }
  }

  /** One read, one decision over everything pending, one conditional write (again if another write came first). */
  private async cycle(): Promise<void> {
    const { store, clock } = this.deps;
    for (let lost = 0; lost < MAX_LOST_WRITES; lost++) {
      const now = clock.now();
      const ops = this.ops.slice();
      const waiters = this.waiters.slice();
      let plan: BudgetPlan<Waiter>;
      try {
        const row = await this.load(now);
        plan = planCycle(row.state, this.limits, now, ops, waiters, this.deps.maxWaitMs ?? 5000);
        if (row.state.share < 1 && plan.state.share >= 1)
          this.deps.logger.info(
            { event: 'budget.recovered', transport: this.transport },
            'the transport budget is back at its full rate',
          );
        if (plan.changed) {
          const written = await writeBudgetRow(
            store.db,
            this.transport,
            row.version,
            encodeBudget(plan.state),
            now,
          );
          if (!written) continue;
          this.written = { state: plan.state, version: row.version + 1 };
        }
      } catch (error) {
        this.failed(error);
        return;
      }
      this.failures = 0;
      this.latest = plan.state;
      this.deps.metrics.observe(this.transport, usageOf(plan.state, this.limits, now));
      this.settle(plan, ops, now);
      return;
    }
    // Other instances won every write: let them through, then try again.
    this.arm(clock.now() + 5);
  }

  /** The stored state (a row created when there is none; an unreadable one starts afresh). */
  private async load(now: number): Promise<{ state: BudgetState; version: number }> {
    const { store, logger } = this.deps;
    let row = await readBudgetRow(store.db, this.transport);
    if (!row) {
      await createBudgetRow(store.db, this.transport, encodeBudget(emptyBudget(now)), now);
      row = await readBudgetRow(store.db, this.transport);
      if (!row) throw new Error(`the budget row of ${this.transport} cannot be created`);
    }
    if (this.written?.version === row.version) return { state: this.written.state, version: row.version };
    const state = decodeBudget(row.state);
    if (!state)
      logger.warn(
        { event: 'budget.unreadable', transport: this.transport },
        'the stored budget cannot be read; starting from an empty one',
      );
    return { state: state ?? emptyBudget(now), version: row.version };
  }

  /** Applies a written plan: tokens to their waiters, deferrals thrown, the next wake-up armed. */
  private settle(plan: BudgetPlan<Waiter>, ops: BudgetOp[], now: number): void {
    const { metrics, logger } = this.deps;
    this.ops.splice(0, ops.length);
    for (const [op, result] of plan.slowResults) op.resolve(result);
    if (plan.slowResults.some(([, result]) => result.slowed))
      logger.warn(
        {
          event: 'budget.slowed',
          transport: this.transport,
          share: plan.state.share,
          effectiveRate: this.limits.rate ? effectiveCount(plan.state, this.limits) : null,
        },
        'the transport asked to slow down; its budget rate is halved for a while',
      );
    for (const [waiter, grant] of plan.grants) {
      if (!this.remove(waiter)) {
        // Aborted while the cycle ran: nobody sends with this token, so it goes back.
        this.release(grant, { taken: false });
        continue;
      }
      metrics.granted(this.transport, waiter.refused ? (now - waiter.since) / 1000 : undefined);
      waiter.resolve(grant);
    }
    for (const [waiter, runAt, reason] of plan.deferrals) {
      if (!this.remove(waiter)) continue;
      metrics.deferred(this.transport, reason);
      const error = new AppError('BUDGET_EXHAUSTED', this.waitMessage(reason, runAt), {
        details: { transport: this.transport, reason, retryAt: runAt },
      });
      waiter.reject(new JobDeferral(runAt, error.message, error));
    }
    for (const [waiter, holding] of plan.holding) {
      waiter.holding = holding;
      waiter.refused = true;
    }
    if (plan.wakeAt !== undefined && this.waiters.length > 0) this.arm(plan.wakeAt);
  }

  private waitMessage(reason: WaitReason, runAt: number): string {
    const until = new Date(runAt).toISOString();
    const name = this.transport;
    switch (reason) {
      case 'hourly':
        return `the hourly budget of ${name} (${this.limits.hourly}) is used up; waiting until ${until}`;
      case 'daily':
        return `the daily budget of ${name} (${this.limits.daily}) is used up; waiting until ${until}`;
      case 'paused':
        return `${name} asked to wait; its budget is paused until ${until}`;
      default:
        return `the rate budget of ${name} has no token before ${until}`;
    }
  }

  private remove(waiter: Waiter): boolean {
    const index = this.waiters.indexOf(waiter);
    if (index === -1) return false;
    this.waiters.splice(index, 1);
    waiter.detach();
    return true;
  }

  private arm(at: number): void {
    this.timer?.cancel();
    if (this.closed) return;
    this.timer = this.deps.clock.setTimer(Math.max(0, at - this.deps.clock.now()), () => {
      this.timer = undefined;
      this.kick();
    });
  }

  /** The database failed: waiting sends fail (their jobs retry), operations are tried again later. */
  private failed(error: unknown): void {
    this.failures++;
    const classified = classifyDatabaseError(error);
    const failure =
      classified ??
      (error instanceof AppError
        ? error
        : new AppError('INTERNAL', String((error as Error)?.message ?? error)));
    this.deps.logger.warn(
      { event: 'budget.unavailable', transport: this.transport, err: failure },
      'cannot read or write the transport budget',
    );
    for (const waiter of this.waiters.splice(0)) {
      waiter.detach();
      waiter.reject(failure);
    }
    if (this.ops.length > 0)
      this.arm(this.deps.clock.now() + Math.min(5000, 250 * 2 ** Math.min(this.failures, 5)));
  }
}
