/**
 * Time as a dependency. Everything that schedules (job retries, leases, wake-up timers) takes
 * a `Clock`, so that tests drive time with `ManualClock` instead of sleeping.
 */

/** A cancellable timer returned by `Clock.setTimer`. */
export interface Timer {
  cancel(): void;
}

/** The source of "now" and of timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `delayMs` (clamped at 0). Timers never keep the process alive. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

/** Node's longest setTimeout; longer delays are chained. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    let handle: NodeJS.Timeout;
    let cancelled = false;
    const arm = (remaining: number): void => {
      const step = Math.min(Math.max(0, remaining), MAX_TIMEOUT_MS);
      handle = setTimeout(() => {
        if (cancelled) return;
        if (remaining > MAX_TIMEOUT_MS) arm(remaining - MAX_TIMEOUT_MS);
        else fn();
      }, step);
      handle.unref();
    };
    arm(delayMs);
    return {
      cancel() {
        cancelled = true;
        clearTimeout(handle);
      },
    };
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that only moves when told to; timers fire during `advance`. For tests. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  /** Starts at `start` (default: 2026-01-05T09:00:00Z, a Monday). */
  constructor(start: number = Date.UTC(2026, 0, 5, 9, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer: PendingTimer = {
      at: this.current + Math.max(0, delayMs),
      seq: this.seq++,
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order (including ones they create). */
  advance(ms: number): void {
    this.set(this.current + ms);
  }

  /**
   * Moves time to `at` (never backwards), firing due timers in order. Fired and cancelled timers
   * leave the list as it is scanned, so a long jump that fires a periodic timer thousands of
   * times stays linear in the live timers instead of growing with every firing.
   */
  set(at: number): void {
    const target = Math.max(at, this.current);
    for (;;) {
      let next = -1;
      let kept = 0;
      for (const timer of this.timers) {
        if (timer.cancelled) continue;
        this.timers[kept] = timer;
        if (timer.at <= target) {
          const best = next < 0 ? undefined : this.timers[next];
          if (!best || timer.at < best.at || (timer.at === best.at && timer.seq < best.seq)) next = kept;
        }
        kept++;
      }
      this.timers.length = kept;
      if (next < 0) break;
      const [due] = this.timers.splice(next, 1) as [PendingTimer];
      due.cancelled = true;
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = target;
  }
}
