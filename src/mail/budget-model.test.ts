import { describe, expect, it } from 'vitest';
import { decodeBudget, encodeBudget } from './budget-codec.js';
import {
  type BudgetLimits,
  type BudgetState,
  effectiveCount,
  emptyBudget,
  GROW_STEP,
  HOLD_MS,
  IN_FLIGHT_MS,
  MIN_SHARE,
  nextGrantAt,
  normalize,
  release,
  retryAtIsUpperBound,
  slowDown,
  type TakeDecision,
  take,
  usageOf,
  windowStart,
} from './budget-model.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const bulk = { urgent: false, holding: false };
const urgent = { urgent: true, holding: false };

/** A small deterministic PRNG, so that the simulations are the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Largest number of `times` in any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/**
 * A backlog that always has a taker waiting, as the send job does: each takes at the time its
 * refusal named (plus `lateMs`, a timer's lateness), and the server answers `latencyMs(i)` later.
 * Returns the time each server received a message (between grant and answer).
 */
function drain(
  limits: BudgetLimits,
  options: { until: number; lateMs: () => number; latencyMs: () => number; receivedAt: () => number },
): number[] {
  let state = emptyBudget(T0);
  const received: number[] = [];
  const inFlight: Array<{ grant: { seq: number; at: number }; endAt: number }> = [];
  let now = T0;
  while (now < options.until) {
    // Answers that came in before now are recorded first, in the order they came.
    inFlight.sort((a, b) => a.endAt - b.endAt);
    while (inFlight.length > 0 && (inFlight[0]?.endAt as number) <= now) {
      const done = inFlight.shift() as (typeof inFlight)[number];
      state = release(state, limits, done.grant, { at: done.endAt, taken: true });
    }
    state = normalize(state, limits, now);
    const decision = take(state, limits, now, bulk);
    state = decision.state;
    if (decision.granted) {
      const latency = options.latencyMs();
      received.push(now + latency * options.receivedAt());
      inFlight.push({ grant: decision.grant, endAt: now + latency });
      continue;
    }
    const nextAnswer = inFlight[0]?.endAt ?? Number.POSITIVE_INFINITY;
    now = Math.min(decision.retryAt + options.lateMs(), Math.max(now + 1, nextAnswer));
  }
  return received;
}

describe('rate budget: the sliding window', () => {
  const limits: BudgetLimits = { rate: { count: 100, windowMs: 1000 } };

  it('grants exactly the rate over a long run, with no window over it and no drift', () => {
    const received = drain(limits, {
      until: T0 + 60_000,
      lateMs: () => 0,
      latencyMs: () => 0,
      receivedAt: () => 1,
    });
    expect(received).toHaveLength(6000);
    expect(maxInWindow(received, 1000)).toBe(100);
  });

  it("never lets a window of the server's receive times hold more than the rate, whatever the latency and lateness", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = prng(seed);
      const received = drain(limits, {
        until: T0 + 20_000,
        lateMs: () => Math.floor(random() * 4),
        latencyMs: () => 1 + Math.floor(random() * 40),
        // The server receives the message at any point between the grant and its answer.
        receivedAt: () => random(),
      });
      expect(maxInWindow(received, 1000)).toBeLessThanOrEqual(100);
      // Lateness and latency are paid once per lane and window, not once per message:
      // at most (3 + 40) ms of each second is lost on each lane.
      expect(received.length).toBeGreaterThanOrEqual(Math.floor(20_000 / 1043) * 100);
    }
  });

  it('paces a backlog evenly over the window: no burst beyond a tenth of it, then one interval apart', () => {
    let state = emptyBudget(T0);
    const grants: number[] = [];
    let now = T0;
    while (grants.length < 40) {
      const d = take(normalize(state, limits, now), limits, now, bulk);
      state = d.state;
      if (d.granted) {
        grants.push(now);
        state = release(state, limits, d.grant, { at: now, taken: true });
      } else now = d.retryAt;
    }
    // Ten at once (the tolerance), then one every 10 ms: never half the window in a burst.
    expect(grants.filter((t) => t === T0)).toHaveLength(11);
    expect(grants.slice(11).every((t, i) => t === T0 + (i + 1) * 10)).toBe(true);
  });

  it('refuses until the first send leaves the window, and says when that is', () => {
    const small: BudgetLimits = { rate: { count: 2, windowMs: 1000 } };
    let state = emptyBudget(T0);
    const first = take(state, small, T0, bulk) as Extract<TakeDecision, { granted: true }>;
    state = release(first.state, small, first.grant, { at: T0 + 10, taken: true });
    const second = take(state, small, T0 + 20, bulk) as Extract<TakeDecision, { granted: true }>;
    state = second.state;
    const refused = take(state, small, T0 + 30, bulk);
    expect(refused).toMatchObject({ granted: false, reason: 'rate', retryAt: T0 + 1010 });
    // The second send is still in flight: it counts for a window past its grant plus IN_FLIGHT_MS.
    expect(state.window[1]).toEqual([T0 + 20 + 1000 + IN_FLIGHT_MS, 2, 1]);
    expect(take(normalize(state, small, T0 + 1009), small, T0 + 1009, bulk).granted).toBe(false);
    expect(take(normalize(state, small, T0 + 1010), small, T0 + 1010, bulk).granted).toBe(true);
  });

  it('says when a refusal waits on a send still in flight (its end may come sooner)', () => {
    const one: BudgetLimits = { rate: { count: 1, windowMs: 1000 } };
    const granted = take(emptyBudget(T0), one, T0, bulk) as Extract<TakeDecision, { granted: true }>;
    const refused = take(granted.state, one, T0 + 1, bulk);
    if (refused.granted) throw new Error('expected a refusal');
    expect(retryAtIsUpperBound(refused.state, refused.retryAt)).toBe(true);
    const answered = release(granted.state, one, granted.grant, { at: T0 + 5, taken: true });
    const again = take(answered, one, T0 + 6, bulk);
    if (again.granted) throw new Error('expected a refusal');
    expect(again.retryAt).toBe(T0 + 1005);
    expect(retryAtIsUpperBound(again.state, again.retryAt)).toBe(false);
  });

  it('counts per minute with rate=N/m', () => {
    const perMinute: BudgetLimits = { rate: { count: 3, windowMs: 60_000 } };
    let state = emptyBudget(T0);
    // Paced 20 s apart (a minute over 3), with one send of tolerance.
    for (const at of [T0, T0 + 1]) {
      const d = take(state, perMinute, at, bulk);
      expect(d.granted).toBe(true);
      state = d.state;
    }
    expect(take(state, perMinute, T0 + 2, bulk)).toMatchObject({ granted: false, retryAt: T0 + 20_000 });
    const third = take(state, perMinute, T0 + 20_000, bulk);
    expect(third.granted).toBe(true);
    // The window holds three: the next one waits for the first to leave it.
    expect(take(third.state, perMinute, T0 + 40_000, bulk)).toMatchObject({
      granted: false,
      retryAt: T0 + 60_000 + IN_FLIGHT_MS,
    });
  });
});

describe('rate budget: hourly and daily windows', () => {
  it('grants `hourly` per UTC hour and names the next hour when it runs out', () => {
    const limits: BudgetLimits = { hourly: 3 };
    const start = T0 + 59 * 60_000; // 09:59
    let state = emptyBudget(start);
    for (let i = 0; i < 3; i++) {
      const d = take(normalize(state, limits, start + i), limits, start + i, bulk);
      expect(d.granted).toBe(true);
      state = d.state;
    }
    const refused = take(normalize(state, limits, start + 10), limits, start + 10, urgent);
    expect(refused).toMatchObject({ granted: false, reason: 'hourly', retryAt: T0 + 3_600_000 });
    const nextHour = T0 + 3_600_000;
    expect(take(normalize(state, limits, nextHour - 1), limits, nextHour - 1, bulk).granted).toBe(false);
    expect(take(normalize(state, limits, nextHour), limits, nextHour, bulk).granted).toBe(true);
  });

  it('grants `daily` per UTC day', () => {
    const limits: BudgetLimits = { daily: 1, hourly: 10 };
    const first = take(emptyBudget(T0), limits, T0, bulk);
    expect(first.granted).toBe(true);
    const refused = take(normalize(first.state, limits, T0 + 7_200_000), limits, T0 + 7_200_000, bulk);
    expect(refused).toMatchObject({
      granted: false,
      reason: 'daily',
      retryAt: windowStart(T0, 'day') + 86_400_000,
    });
  });

  it('gives the counts back for a send the server did not take, in the same window only', () => {
    const limits: BudgetLimits = { hourly: 1, daily: 5 };
    const first = take(emptyBudget(T0), limits, T0, bulk) as Extract<TakeDecision, { granted: true }>;
    const refunded = release(first.state, limits, first.grant, { at: T0 + 5, taken: false });
    expect(refunded.hour.count).toBe(0);
    expect(refunded.day.count).toBe(0);
    expect(take(refunded, limits, T0 + 6, bulk).granted).toBe(true);
    // An answer after the hour rolled gives nothing back to the new hour.
    const later = normalize(first.state, limits, T0 + 3_600_000);
    const late = take(later, limits, T0 + 3_600_000, bulk) as Extract<TakeDecision, { granted: true }>;
    expect(release(late.state, limits, first.grant, { at: T0 + 3_600_001, taken: false }).hour.count).toBe(1);
  });
});

describe('rate budget: slowing down and recovering', () => {
  const limits: BudgetLimits = { rate: { count: 40, windowMs: 1000 } };

  it('halves the rate at most once per window, down to the floor', () => {
    let state = emptyBudget(T0);
    const first = slowDown(state, limits, T0, undefined);
    expect(first.slowed).toBe(true);
    expect(effectiveCount(first.state, limits)).toBe(20);
    // Ten refused messages in flight at once answer in the same window: one halving.
    const again = slowDown(first.state, limits, T0 + 500, undefined);
    expect(again.slowed).toBe(false);
    expect(effectiveCount(again.state, limits)).toBe(20);
    state = again.state;
    for (let i = 1; i <= 10; i++) state = slowDown(state, limits, T0 + i * 1000, undefined).state;
    expect(state.share).toBe(MIN_SHARE);
    expect(effectiveCount(state, limits)).toBe(1);
  });

  it('grows back by a tenth per step after the last slow-down, to the full rate', () => {
    const slowed = slowDown(emptyBudget(T0), limits, T0, undefined).state;
    const step = 5000;
    expect(effectiveCount(normalize(slowed, limits, T0 + step - 1), limits)).toBe(20);
    expect(effectiveCount(normalize(slowed, limits, T0 + step), limits)).toBe(
      Math.floor(40 * (0.5 + GROW_STEP)),
    );
    const recovered = normalize(slowed, limits, T0 + 5 * step);
    expect(recovered.share).toBe(1);
    expect(recovered.growAt).toBeNull();
    expect(effectiveCount(recovered, limits)).toBe(40);
  });

  it('admits only the slowed rate while the window is full', () => {
    let state = emptyBudget(T0);
    for (let i = 0; i < 30; i++) {
      const d = take(state, limits, T0 + i * 25, bulk) as Extract<TakeDecision, { granted: true }>;
      state = release(d.state, limits, d.grant, { at: T0 + i * 25, taken: true });
    }
    state = slowDown(state, limits, T0 + 750, undefined).state;
    // 30 in the window, 20 admitted: none until 11 have left, the 11th one window after its answer.
    expect(take(state, limits, T0 + 751, bulk)).toMatchObject({ granted: false, retryAt: T0 + 250 + 1000 });
  });

  it("pauses for the server's Retry-After, and without a rate for a default pause", () => {
    const paused = slowDown(emptyBudget(T0), limits, T0, 30_000).state;
    expect(take(paused, limits, T0 + 1, urgent)).toMatchObject({
      granted: false,
      reason: 'paused',
      retryAt: T0 + 30_000,
    });
    const hourlyOnly: BudgetLimits = { hourly: 100 };
    const noRate = slowDown(emptyBudget(T0), hourlyOnly, T0, undefined);
    expect(noRate.slowed).toBe(false);
    expect(nextGrantAt(noRate.state, hourlyOnly, T0, true)).toBe(T0 + 5000);
  });
});

describe('rate budget: urgent sends first', () => {
  const limits: BudgetLimits = { rate: { count: 2, windowMs: 1000 } };

  function full(): BudgetState {
    let state = emptyBudget(T0);
    for (let i = 0; i < 2; i++) {
      const d = take(state, limits, T0, bulk) as Extract<TakeDecision, { granted: true }>;
      state = release(d.state, limits, d.grant, { at: T0 + i, taken: true });
    }
    return state;
  }

  it('lets a waiting urgent send hold the next slot: a bulk send cannot take it', () => {
    const waiting = take(full(), limits, T0 + 10, urgent);
    expect(waiting).toMatchObject({ granted: false, retryAt: T0 + 1000, holding: true });
    let state = waiting.state;
    expect(state.held).toEqual({ count: 1, until: T0 + 1000 + HOLD_MS });
    // One slot frees at T0 + 1000: held, so a bulk send still waits, for the second one.
    state = normalize(state, limits, T0 + 1000);
    expect(take(state, limits, T0 + 1000, bulk)).toMatchObject({ granted: false, retryAt: T0 + 1001 });
    const served = take(state, limits, T0 + 1000, { urgent: true, holding: true });
    expect(served.granted).toBe(true);
    expect(served.state.held.count).toBe(0);
    // Counted once per waiter however often it is refused.
    const twice = take(waiting.state, limits, T0 + 20, { urgent: true, holding: true });
    expect(twice.state.held.count).toBe(1);
  });

  it('keeps what urgent sends waited for when the next hour opens, whichever asks first', () => {
    const hourly: BudgetLimits = { hourly: 3 };
    const start = T0 + 59 * 60_000;
    let state = emptyBudget(start);
    for (let i = 0; i < 3; i++) state = take(state, hourly, start, urgent).state;
    // Two urgent sends and a bulk one find the hour used up.
    const a = take(state, hourly, start + 1, urgent);
    const b = take(a.state, hourly, start + 2, urgent);
    const c = take(b.state, hourly, start + 3, bulk);
    expect(c).toMatchObject({ granted: false, reason: 'hourly', retryAt: T0 + 3_600_000 });
    state = normalize(c.state, hourly, T0 + 3_600_000);
    expect(state.held).toEqual({ count: 2, until: T0 + 3_600_000 + HOLD_MS });
    // The new hour: bulk sends come first, yet only one of the three is theirs.
    const bulk1 = take(state, hourly, T0 + 3_600_000, bulk);
    expect(bulk1.granted).toBe(true);
    const bulk2 = take(bulk1.state, hourly, T0 + 3_600_000, bulk);
    expect(bulk2).toMatchObject({ granted: false, retryAt: T0 + 3_600_000 + HOLD_MS });
    const u1 = take(bulk2.state, hourly, T0 + 3_600_000, { urgent: true, holding: true });
    const u2 = take(u1.state, hourly, T0 + 3_600_000, { urgent: true, holding: true });
    expect([u1.granted, u2.granted]).toEqual([true, true]);
    expect(u2.state.held.count).toBe(0);
  });

  it('lets a hold lapse when its waiter does not come back', () => {
    const waiting = take(full(), limits, T0 + 10, urgent).state;
    const lapsed = normalize(waiting, limits, T0 + 1000 + HOLD_MS);
    expect(lapsed.held.count).toBe(0);
    expect(take(lapsed, limits, T0 + 1000 + HOLD_MS, bulk).granted).toBe(true);
  });
});

describe('rate budget: stored form', () => {
  it('reads back what it wrote, and reads anything else as nothing', () => {
    const limits: BudgetLimits = { rate: { count: 5, windowMs: 1000 }, hourly: 10 };
    const d = take(emptyBudget(T0), limits, T0, urgent);
    expect(decodeBudget(encodeBudget(d.state))).toEqual(d.state);
    expect(decodeBudget('not json')).toBeUndefined();
    expect(decodeBudget(JSON.stringify({ ...d.state, share: 2 }))).toBeUndefined();
  });

  it('shows its figures', () => {
    const limits: BudgetLimits = { rate: { count: 5, windowMs: 1000 }, hourly: 10 };
    const d = take(emptyBudget(T0), limits, T0, urgent);
    expect(usageOf(d.state, limits, T0 + 1)).toEqual({
      inWindow: 1,
      effectiveRate: 5,
      share: 1,
      hourCount: 1,
      dayCount: 1,
      pausedUntil: null,
    });
  });
});
