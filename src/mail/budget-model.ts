import type { TransportBudget } from '../core/config/transport-url.js';

/**
 * The decisions of a transport's rate budget, pure: no I/O, time is a parameter. The state is
 * one small document per transport (stored in `rate_budgets`, read and written whole by
 * `budget-store.ts`), so that every instance sharing the database decides on the same facts.
 *
 * - **Rate** (`rate=N/s`, `N/m`): a sliding window, exact. Each send counts from the moment it
 *   is granted until one window after the server answered it (`release`), so that no window
 *   of the *server's* receive times holds more than N messages, whatever the send latency and
 *   the timer jitter. GCRA (one theoretical arrival time) was not used: without a tolerance it
 *   loses rate to every late wake-up (at 100/s a 2 ms lateness is 20 %), and with one it lets a
 *   window hold N + 1. Here lateness costs only the delay of the lane it happens on, once per
 *   window (about 0.3 % at 3 ms), and a window never holds more than N. A send still in flight
 *   counts for at most `IN_FLIGHT_MS` past its window (a process that died mid-send).
 *   Sends are also paced (GCRA, one theoretical arrival time, with a tolerance of a tenth of the
 *   window): the window alone would let a backlog go in one burst and then leave a gap in every
 *   window after, where an urgent send that comes has to wait; the pacing spreads it evenly. The
 *   tolerance absorbs late wake-ups, so the pacing costs no rate; the window keeps it exact.
 * - **Hourly and daily** counts: fixed UTC windows, counted when a send is granted; a send the
 *   server certainly did not take gives its count back.
 * - **Slowing down** (AIMD): a rate-limit reply halves the share of the rate in effect (at most
 *   once per window, down to 1/64); the share then grows back by a tenth every `growEveryMs`.
 *   A `Retry-After` pauses the budget; without a configured rate a rate-limit reply pauses it.
 * - **Urgent first**: a transactional send that has to wait holds a slot of the rate window
 *   for itself; bulk sends (campaigns) may only take a slot nobody holds. Holds lapse after
 *   `HOLD_MS`, so a waiter that died does not keep one.
 */

/** A budget's limits as configured; see `TransportBudget`. */
export type BudgetLimits = TransportBudget;

/** A send counted in the rate window: when it stops counting, its grant number, whether it is still in flight (1). */
export type WindowEntry = [until: number, seq: number, inFlight: 0 | 1];

/** The stored state of one transport's budget. */
export interface BudgetState {
  /** Sends counting in the rate window. */
  window: WindowEntry[];
  /** Grants so far (each grant's number). */
  seq: number;
  hour: { start: number; count: number };
  day: { start: number; count: number };
  /** The share of the configured rate in effect (1: all of it). */
  share: number;
  /** When the share was last halved, and when it next grows (null: at full share). */
  slowedAt: number | null;
  growAt: number | null;
  /** No send is granted before this. */
  pausedUntil: number;
  /**
   * The pacing of the rate (GCRA's theoretical arrival time): sends are spaced one interval of
   * the rate apart, with a tolerance of about a tenth of the window, so that a backlog leaves
   * evenly over the window instead of in one burst followed by a gap at every window.
   */
  tat: number;
  /** Rate slots held by urgent sends that wait, and when the holds lapse. */
  held: { count: number; until: number };
}

/** How long a granted send counts past its window while no answer is recorded (it may have died). */
export const IN_FLIGHT_MS = 5000;
/** How long a hold of an urgent waiter lasts past the time it was told to come back. */
export const HOLD_MS = 1000;
/** The smallest share of the rate a budget slows down to. */
export const MIN_SHARE = 1 / 64;
/** How much of the rate comes back at each step of the recovery. */
export const GROW_STEP = 0.1;
/** A rate-limit reply without `Retry-After`, on a budget without a rate, pauses it this long. */
export const DEFAULT_PAUSE_MS = 5000;
/** The longest pause a `Retry-After` may ask for. */
export const MAX_PAUSE_MS = 3_600_000;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The start of the UTC hour or day `at` falls in. */
export function windowStart(at: number, span: 'hour' | 'day'): number {
  const size = span === 'hour' ? HOUR_MS : DAY_MS;
  return Math.floor(at / size) * size;
}

/** A fresh budget. */
export function emptyBudget(now: number): BudgetState {
  return {
    window: [],
    seq: 0,
    hour: { start: windowStart(now, 'hour'), count: 0 },
    day: { start: windowStart(now, 'day'), count: 0 },
    share: 1,
    slowedAt: null,
    growAt: null,
    pausedUntil: 0,
    tat: 0,
    held: { count: 0, until: 0 },
  };
}

/** How often the share grows back by `GROW_STEP` after a slow-down. */
export function growEveryMs(limits: BudgetLimits): number {
  return Math.max(5000, 5 * (limits.rate?.windowMs ?? 1000));
}

/** Sends the rate window admits now: the configured count times the share, at least 1. */
export function effectiveCount(state: BudgetState, limits: BudgetLimits): number {
  if (!limits.rate) return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.floor(limits.rate.count * state.share + 1e-9));
}

/** The state as of `now`: sends out of the window dropped, windows rolled, holds lapsed, the share grown back. */
export function normalize(state: BudgetState, limits: BudgetLimits, now: number): BudgetState {
  const hour = windowStart(now, 'hour');
  const day = windowStart(now, 'day');
  let { share, growAt } = state;
  while (growAt !== null && now >= growAt) {
    // Rounded: tenths added to halves drift in binary floating point (0.9999999999999999).
    share = Math.min(1, Math.round((share + GROW_STEP) * 1e6) / 1e6);
    growAt = share >= 1 ? null : growAt + growEveryMs(limits);
  }
  return {
    ...state,
    window: state.window.filter(([until]) => until > now),
    hour: state.hour.start === hour ? state.hour : { start: hour, count: 0 },
    day: state.day.start === day ? state.day : { start: day, count: 0 },
    share,
    growAt,
    held: state.held.until > now ? state.held : { count: 0, until: 0 },
  };
}

/** Who asks for a send: an urgent one (transactional) or bulk, and whether it already holds a slot. */
export interface Taker {
  urgent: boolean;
  /** This waiter was counted in `held` by an earlier refusal. */
  holding: boolean;
}

/** Why a send must wait. */
export type WaitReason = 'paused' | 'daily' | 'hourly' | 'rate';

/** The answer to a taker. */
export type TakeDecision =
  | { granted: true; state: BudgetState; grant: { seq: number; at: number } }
  | {
      granted: false;
      state: BudgetState;
      /** When to come back: no send can be granted before. */
      retryAt: number;
      /** When a send is likely granted, if the sends in flight are answered at once (<= retryAt). */
      expectedAt: number;
      reason: WaitReason;
      holding: boolean;
    };

/**
 * Grants a send now, or says when to come back and why. `state` must be normalized at `now`.
 * A bulk taker may only take what is left once the holds of urgent waiters are set aside, under
 * every limit; an urgent taker that is refused holds a send for itself (counted once per waiter)
 * until a moment after the time it was told to come back.
 */
export function take(state: BudgetState, limits: BudgetLimits, now: number, taker: Taker): TakeDecision {
  if (now < state.pausedUntil) {
    const at = state.pausedUntil;
    return { granted: false, state, retryAt: at, expectedAt: at, reason: 'paused', holding: taker.holding };
  }
  const reserved = taker.urgent ? 0 : state.held.count;
  // Each limit that stops this taker: why, when for sure, when likely.
  const blocks: Array<[WaitReason, number, number]> = [];
  // Left after the holds only (not the count itself): the holds lapse, or their waiters take them.
  const countBlock = (reason: 'daily' | 'hourly', left: number, nextWindow: number): void => {
    const at = left >= 1 ? state.held.until : nextWindow;
    if (left - reserved < 1) blocks.push([reason, at, at]);
  };
  if (limits.daily !== undefined)
    countBlock('daily', limits.daily - state.day.count, state.day.start + DAY_MS);
  if (limits.hourly !== undefined)
    countBlock('hourly', limits.hourly - state.hour.count, state.hour.start + HOUR_MS);
  if (limits.rate) {
    const paced = Math.ceil(state.tat - paceTolerance(state, limits));
    if (now < paced) blocks.push(['rate', paced, paced]);
    const free = effectiveCount(state, limits) - state.window.length;
    if (free - reserved < 1)
      blocks.push([
        'rate',
        rateRetryAt(state, now, free - reserved, false),
        // Likely: when a slot frees; the waiters ahead (holders among them) are the caller's to count.
        rateRetryAt(state, now, Math.min(free, 0), true),
      ]);
  }
  const first = blocks[0];
  if (first) {
    const retryAt = Math.max(...blocks.map(([, at]) => at));
    const expectedAt = Math.max(...blocks.map(([, , likely]) => likely));
    const refusal = { granted: false as const, retryAt, expectedAt, reason: first[0] };
    if (!taker.urgent) return { ...refusal, state, holding: false };
    const held = {
      count: state.held.count + (taker.holding ? 0 : 1),
      until: Math.max(state.held.until, retryAt + HOLD_MS),
    };
    return { ...refusal, state: { ...state, held }, holding: true };
  }
  const seq = state.seq + 1;
  const window: WindowEntry[] = limits.rate
    ? [...state.window, [now + limits.rate.windowMs + IN_FLIGHT_MS, seq, 1]]
    : state.window;
  const held =
    taker.urgent && taker.holding && state.held.count > 0
      ? { count: state.held.count - 1, until: state.held.until }
      : state.held;
  return {
    granted: true,
    grant: { seq, at: now },
    state: {
      ...state,
      seq,
      window,
      held,
      tat: limits.rate ? Math.max(state.tat, now) + paceInterval(state, limits) : state.tat,
      hour: { ...state.hour, count: state.hour.count + 1 },
      day: { ...state.day, count: state.day.count + 1 },
    },
  };
}

/** The pacing's interval: one window over the sends it admits now. */
function paceInterval(state: BudgetState, limits: BudgetLimits): number {
  return (limits.rate?.windowMs ?? 0) / effectiveCount(state, limits);
}

/**
 * How early a send may come before its paced time: a tenth of the window's worth of sends (at
 * least one), so that a late wake-up never costs rate and a burst is at most that many at once.
 */
function paceTolerance(state: BudgetState, limits: BudgetLimits): number {
  return paceInterval(state, limits) * Math.max(1, Math.round(effectiveCount(state, limits) / 10));
}

/**
 * When `1 - room` sends will have left the rate window (`room` < 1: what is free beyond the
 * holds). `likely`: a send in flight is taken to be answered at once (it leaves a window after
 * its grant) instead of at the latest.
 */
function rateRetryAt(state: BudgetState, now: number, room: number, likely: boolean): number {
  const leaving = 1 - room;
  const untils = sortedUntils(state.window, likely);
  if (leaving <= untils.length) return untils[leaving - 1] as number;
  // More is held than the window will ever free: the holds must lapse (or be taken) first.
  return Math.max(untils[untils.length - 1] ?? now, state.held.until);
}

/** The window's ends in order, once per window array (a cycle asks for them for every waiter). */
const sortedCache = new WeakMap<readonly WindowEntry[], { sure: number[]; likely: number[] }>();

function sortedUntils(window: readonly WindowEntry[], likely: boolean): number[] {
  let cached = sortedCache.get(window);
  if (!cached) {
    cached = {
      sure: window.map(([until]) => until).sort((a, b) => a - b),
      likely: window
        .map(([until, , inFlight]) => (inFlight === 1 ? until - IN_FLIGHT_MS : until))
        .sort((a, b) => a - b),
    };
    sortedCache.set(window, cached);
  }
  return likely ? cached.likely : cached.sure;
}

/**
 * Whether the send that sets a refusal's `retryAt` is still in flight: its end is only an upper
 * bound, and may come much earlier once its answer is recorded (by any instance).
 */
export function retryAtIsUpperBound(state: BudgetState, retryAt: number): boolean {
  return state.window.some(([until, , inFlight]) => inFlight === 1 && until === retryAt);
}

/** How a granted send ended. */
export interface SendEnd {
  /** When the server answered (or the send failed). */
  at: number;
  /** False when the server certainly did not take it: its hourly and daily counts are given back. */
  taken: boolean;
}

/** Records the end of granted send `grant`: it counts until one window after `end.at`. */
export function release(
  state: BudgetState,
  limits: BudgetLimits,
  grant: { seq: number; at: number },
  end: SendEnd,
): BudgetState {
  let next = state;
  if (limits.rate) {
    const until = end.at + limits.rate.windowMs;
    const others = state.window.filter(([, seq]) => seq !== grant.seq);
    next = { ...next, window: [...others, [until, grant.seq, 0]] };
  }
  if (!end.taken) {
    if (windowStart(grant.at, 'hour') === next.hour.start)
      next = { ...next, hour: { ...next.hour, count: Math.max(0, next.hour.count - 1) } };
    if (windowStart(grant.at, 'day') === next.day.start)
      next = { ...next, day: { ...next.day, count: Math.max(0, next.day.count - 1) } };
  }
  return next;
}

/** An urgent waiter that held a send gave up (aborted): its hold goes. */
export function unhold(state: BudgetState): BudgetState {
  return state.held.count > 0 ? { ...state, held: { ...state.held, count: state.held.count - 1 } } : state;
}

/**
 * A rate-limit reply from the transport's server: halves the share of the rate (at most once
 * per window) and restarts its recovery; a `Retry-After` (or, without a rate, a default pause)
 * pauses the budget. `slowed` says whether the share was halved by this call.
 */
export function slowDown(
  state: BudgetState,
  limits: BudgetLimits,
  now: number,
  retryAfterMs: number | undefined,
): { state: BudgetState; slowed: boolean } {
  let next = state;
  let slowed = false;
  if (limits.rate) {
    const recent = state.slowedAt !== null && now - state.slowedAt < limits.rate.windowMs;
    if (!recent) {
      next = {
        ...next,
        share: Math.max(MIN_SHARE, state.share / 2),
        slowedAt: now,
        growAt: now + growEveryMs(limits),
      };
      slowed = true;
    }
  }
  const pauseMs = retryAfterMs ?? (limits.rate ? 0 : DEFAULT_PAUSE_MS);
  if (pauseMs > 0)
    next = { ...next, pausedUntil: Math.max(next.pausedUntil, now + Math.min(pauseMs, MAX_PAUSE_MS)) };
  return { state: next, slowed };
}

/** When a new send of this kind would be granted, given the state alone (now if at once). */
export function nextGrantAt(state: BudgetState, limits: BudgetLimits, now: number, urgent: boolean): number {
  const decision = take(state, limits, now, { urgent, holding: false });
  return decision.granted ? now : decision.retryAt;
}

/** What /metrics shows of a budget. */
export interface BudgetUsage {
  /** Sends counting in the rate window now. */
  inWindow: number;
  /** Sends the rate window admits now (null: no rate). */
  effectiveRate: number | null;
  share: number;
  hourCount: number;
  dayCount: number;
  pausedUntil: number | null;
}

/** The budget's figures at `now`. */
export function usageOf(state: BudgetState, limits: BudgetLimits, now: number): BudgetUsage {
  const current = normalize(state, limits, now);
  return {
    inWindow: current.window.length,
    effectiveRate: limits.rate ? effectiveCount(current, limits) : null,
    share: current.share,
    hourCount: current.hour.count,
    dayCount: current.day.count,
    pausedUntil: current.pausedUntil > now ? current.pausedUntil : null,
  };
}
