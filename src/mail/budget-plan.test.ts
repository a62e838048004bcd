import { describe, expect, it } from 'vitest';
import { emptyBudget, IN_FLIGHT_MS, release, take } from './budget-model.js';
import { IN_FLIGHT_RECHECK_MS, planCycle } from './budget-plan.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const waiter = (name: string, urgent: boolean) => ({ name, urgent, holding: false });

describe('a budget cycle', () => {
  const limits = { rate: { count: 2, windowMs: 1000 } };

  it('grants what is free to the waiters in order, and says when to look again for the rest', () => {
    const plan = planCycle(
      emptyBudget(T0),
      limits,
      T0,
      [],
      [waiter('a', true), waiter('b', false), waiter('c', false)],
      5000,
    );
    expect(plan.grants.map(([w]) => w.name)).toEqual(['a', 'b']);
    expect(plan.holding.map(([w, holding]) => [w.name, holding])).toEqual([['c', false]]);
    // The two grants are in flight: their end is an upper bound, so the cycle looks again soon.
    expect(plan.wakeAt).toBe(T0 + IN_FLIGHT_RECHECK_MS);
    expect(plan.changed).toBe(true);
  });

  it('applies the sends that ended first: their tokens leave one window after the answer', () => {
    let state = emptyBudget(T0);
    const grants = [];
    for (let i = 0; i < 2; i++) {
      const d = take(state, limits, T0, { urgent: true, holding: false });
      if (!d.granted) throw new Error('expected a grant');
      state = d.state;
      grants.push(d.grant);
    }
    const ops = grants.map((grant) => ({
      kind: 'release' as const,
      grant,
      end: { at: T0 + 5, taken: true },
    }));
    const plan = planCycle(state, limits, T0 + 6, ops, [waiter('x', false)], 5000);
    expect(plan.grants).toEqual([]);
    expect(plan.wakeAt).toBe(T0 + 1005);
    expect(plan.deferrals).toEqual([]);
  });

  it('defers the waiters whose token is expected later than the wait allowed, spaced at the rate', () => {
    const slow = { rate: { count: 1, windowMs: 1000 } };
    const d = take(emptyBudget(T0), slow, T0, { urgent: true, holding: false });
    if (!d.granted) throw new Error('expected a grant');
    const state = release(d.state, slow, d.grant, { at: T0, taken: true });
    const waiters = ['a', 'b', 'c', 'd'].map((name) => waiter(name, false));
    const plan = planCycle(state, slow, T0, [], waiters, 2500);
    // a at +1 s and b at +2 s wait here; c (+3 s) and d (+4 s) are deferred to when theirs come.
    expect(plan.holding.map(([w]) => w.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(plan.deferrals.map(([w, at, reason]) => [w.name, at - T0, reason])).toEqual([
      ['c', 3000, 'rate'],
      ['d', 4000, 'rate'],
    ]);
    expect(plan.wakeAt).toBe(T0 + 1000);
  });

  it('does not take an in-flight send at its latest when deciding whether to defer', () => {
    const slow = { rate: { count: 1, windowMs: 1000 } };
    const d = take(emptyBudget(T0), slow, T0, { urgent: true, holding: false });
    const plan = planCycle(d.state, slow, T0 + 1, [], [waiter('a', false)], 2000);
    expect(plan.deferrals).toEqual([]);
    expect(plan.wakeAt).toBe(T0 + 1 + IN_FLIGHT_RECHECK_MS);
    expect(IN_FLIGHT_MS).toBeGreaterThan(2000);
  });

  it("answers a rate-limit reply with the share and the next send's time", () => {
    let resolved: unknown;
    const ops = [
      {
        kind: 'slow' as const,
        urgent: false,
        retryAfterMs: undefined,
        resolve: (r: unknown) => (resolved = r),
      },
    ];
    const plan = planCycle(emptyBudget(T0), limits, T0, ops, [], 5000);
    expect(plan.slowResults.map(([, result]) => result)).toEqual([{ slowed: true, share: 0.5, retryAt: T0 }]);
    expect(resolved).toBeUndefined(); // the budget resolves it once the plan is written
  });
});
