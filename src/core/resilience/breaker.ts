import type { Clock } from '../clock.js';

/**
 * A consecutive-failure circuit breaker on the injected clock. After `failureThreshold`
 * failures in a row it opens for `halfOpenAfterMs`; then one probe goes through: success
 * closes it, failure opens it again. Callers that are refused learn when to come back, so
 * work is deferred instead of hammering a dependency that is down.
 */

/** Breaker states. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Options for CircuitBreaker. */
export interface BreakerOptions {
  clock: Clock;
  /** Failures in a row that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe (default 30 s). */
  halfOpenAfterMs?: number;
  /** Called on every state change. */
  onStateChange?: (state: BreakerState) => void;
}

/** The answer to "may I call now?". */
export type BreakerPermit = { allowed: true; probe: boolean } | { allowed: false; retryAt: number };

/** A circuit breaker for one dependency. */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeStartedAt: number | undefined;
  private readonly threshold: number;
  private readonly halfOpenAfterMs: number;

  constructor(private readonly options: BreakerOptions) {
    this.threshold = options.failureThreshold ?? 5;
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? 30_000;
  }

  /** The state now (an open circuit whose wait is over reads as half_open). */
  get state(): BreakerState {
    if (this.current === 'open' && this.options.clock.now() >= this.openedAt + this.halfOpenAfterMs)
      return 'half_open';
    return this.current;
  }

  /** Failures in a row so far. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Asks to make a call. In half-open state only one probe at a time is allowed. */
  acquire(): BreakerPermit {
    const now = this.options.clock.now();
    const state = this.state;
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'open') return { allowed: false, retryAt: this.openedAt + this.halfOpenAfterMs };
    // half-open: one probe; a probe that never reported (its caller died) is replaced after a while
    if (this.probeStartedAt !== undefined && now < this.probeStartedAt + this.halfOpenAfterMs) {
      return { allowed: false, retryAt: this.probeStartedAt + this.halfOpenAfterMs };
    }
    this.probeStartedAt = now;
    this.transition('half_open');
    return { allowed: true, probe: true };
  }

  /** Reports a successful call. */
  recordSuccess(): void {
    this.failures = 0;
    this.probeStartedAt = undefined;
    this.transition('closed');
  }

  /** Reports a failed call (only failures that say the dependency is unhealthy). */
  recordFailure(): void {
    this.failures++;
    if (this.current === 'half_open' || this.state === 'half_open' || this.failures >= this.threshold) {
      this.openedAt = this.options.clock.now();
      this.probeStartedAt = undefined;
      this.transition('open');
    }
  }

  private transition(state: BreakerState): void {
    if (this.current === state) return;
    this.current = state;
    this.options.onStateChange?.(state);
  }
}
