import {
  type BudgetLimits,
  type BudgetState,
  effectiveCount,
  nextGrantAt,
  normalize,
  release,
  retryAtIsUpperBound,
  type SendEnd,
  slowDown,
  take,
  unhold,
  type WaitReason,
} from './budget-model.js';

/**
 * One cycle of a budget's decisions in a process (budget.ts), pure: given the stored state and
 * everything pending here (sends that ended, rate-limit replies, holds given up, waiters in
 * order, urgent first), the new state and what each waiter gets: a token, a deferral to the time
 * its token is expected, or a wait until the next cycle.
 */

/** A token: the grant's number and time, handed back with `release` when the send ends. */
export interface BudgetGrant {
  seq: number;
  at: number;
}

/** What a rate-limit reply did: whether it halved the rate, the share in effect, when the next send may go. */
export interface SlowDownResult {
  slowed: boolean;
  share: number;
  retryAt: number;
}

/** An operation waiting for the next cycle. */
export type BudgetOp =
  | { kind: 'release'; grant: BudgetGrant; end: SendEnd }
  | { kind: 'unhold' }
  | {
      kind: 'slow';
      urgent: boolean;
      retryAfterMs: number | undefined;
      resolve(result: SlowDownResult): void;
    };

/** What the plan reads of a waiter. */
export interface PlanWaiter {
  urgent: boolean;
  holding: boolean;
}

/** A cycle's decisions. */
export interface BudgetPlan<W extends PlanWaiter> {
  state: BudgetState;
  /** The state differs from the stored one in more than the passing of time: it must be written. */
  changed: boolean;
  grants: Array<[W, BudgetGrant]>;
  /** Waiters whose token is further off than the wait allowed: deferred to when it is expected. */
  deferrals: Array<[W, number, WaitReason]>;
  /** Whether each waiter still waiting holds a send (urgent ones, once refused). */
  holding: Array<[W, boolean]>;
  slowResults: Array<[Extract<BudgetOp, { kind: 'slow' }>, SlowDownResult]>;
  /** When to look again for the waiters left. */
  wakeAt: number | undefined;
}

/** While the next token waits on a send still in flight (anywhere), look again this often. */
export const IN_FLIGHT_RECHECK_MS = 25;

/** Decides every pending operation, then every waiter in order, against `stored` at `now`. */
export function planCycle<W extends PlanWaiter>(
  stored: BudgetState,
  limits: BudgetLimits,
  now: number,
  ops: readonly BudgetOp[],
  waiters: readonly W[],
  maxWaitMs: number,
): BudgetPlan<W> {
  const normalized = normalize(stored, limits, now);
  let state = normalized;
  const slowOps: Array<Extract<BudgetOp, { kind: 'slow' }>> = [];
  let slowed = false;
  for (const op of ops) {
    if (op.kind === 'release') state = release(state, limits, op.grant, op.end);
    else if (op.kind === 'unhold') state = unhold(state);
    else {
      const result = slowDown(state, limits, now, op.retryAfterMs);
      state = result.state;
      slowed ||= result.slowed;
      slowOps.push(op);
    }
  }
  const plan: BudgetPlan<W> = {
    state,
    changed: false,
    grants: [],
    deferrals: [],
    holding: [],
    slowResults: [],
    wakeAt: undefined,
  };
  let ahead = 0;
  for (const waiter of waiters) {
    const decision = take(plan.state, limits, now, { urgent: waiter.urgent, holding: waiter.holding });
    plan.state = decision.state;
    if (decision.granted) {
      plan.grants.push([waiter, decision.grant]);
      continue;
    }
    plan.holding.push([waiter, decision.holding]);
    // The waiters behind the first get their tokens one spacing after another.
    const spacing =
      decision.reason === 'rate' && limits.rate
        ? limits.rate.windowMs / effectiveCount(plan.state, limits)
        : 0;
    const expected = Math.ceil(decision.expectedAt + ahead * spacing);
    ahead++;
    if (expected - now > maxWaitMs) {
      plan.deferrals.push([waiter, expected, decision.reason]);
      continue;
    }
    const wake = retryAtIsUpperBound(plan.state, decision.retryAt)
      ? Math.min(decision.retryAt, now + IN_FLIGHT_RECHECK_MS)
      : decision.retryAt;
    plan.wakeAt = Math.min(plan.wakeAt ?? wake, wake);
  }
  for (const op of slowOps)
    plan.slowResults.push([
      op,
      { slowed, share: plan.state.share, retryAt: nextGrantAt(plan.state, limits, now, op.urgent) },
    ]);
  // Every decision that changes the state makes a new one (the passing of time alone needs no write).
  plan.changed = plan.state !== normalized;
  return plan;
}
