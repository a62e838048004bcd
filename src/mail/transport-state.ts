import type { Clock } from '../core/clock.js';
import type { AppError } from '../core/errors.js';
import type { ObserveDependency } from '../core/observability/dependencies.js';
import type { ComponentHealth, Logger } from '../core/observability/index.js';
import { CircuitBreaker } from '../core/resilience/breaker.js';

/**
 * What every transport keeps about the server or API it sends through, SMTP or provider alike:
 * the circuit breaker and the half-open probe this process holds, the last success and the last
 * error, the /readyz health made of them, and one dependency sample per send or verify. Each
 * transport says which failures count toward the breaker and how its log lines read.
 */

/** How a transport's state is set up. */
export interface TransportStateOptions {
  /** The transport's name, in log lines and samples. */
  name: string;
  clock: Clock;
  logger: Logger;
  /** Failures in a row that open the breaker (default 5). */
  breakerThreshold?: number;
  /** How long the breaker stays open (default 30 s). */
  breakerOpenMs?: number;
  /** Whether a failure counts toward the breaker (the server is unreachable or failing). */
  countsTowardBreaker: (error: AppError) => boolean;
  /** The breaker's log line: its event, and what stands before `circuit open` in the message. */
  breakerLog: { event: string; subject: string };
  /** The log line of a failed send or verify. */
  failureLog: { event: string; message: string };
  /** Why the circuit is not closed, in the health message (`repeated connection failures`). */
  openedBy: string;
  /** Called when the breaker closes again, so work deferred while it was open can go now. */
  onCircuitClosed?: () => void;
  /** Gets one sample per send or verify (dependency watching). */
  observe?: ObserveDependency;
}

/** The breaker, the last outcomes and the health of one transport. */
export class TransportState {
  private readonly breaker: CircuitBreaker;
  private lastSuccessAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  /** This process holds the half-open probe; its outcome decides the breaker. */
  private breakerProbeHeld = false;

  constructor(private readonly options: TransportStateOptions) {
    const { logger, breakerLog, onCircuitClosed } = options;
    this.breaker = new CircuitBreaker({
      clock: options.clock,
      failureThreshold: options.breakerThreshold ?? 5,
      halfOpenAfterMs: options.breakerOpenMs ?? 30_000,
      onStateChange: (state) => {
        logger.warn(
          { event: breakerLog.event, transport: options.name, state },
          `${breakerLog.subject} circuit ${state.replace('_', '-')}`,
        );
        if (state === 'closed') onCircuitClosed?.();
      },
    });
  }

  /**
   * Asks the breaker whether a send may start. Refused while the circuit is open: the caller
   * defers its work until `retryAt` instead of spending an attempt on a server known to be down.
   */
  reserveSend(): { ok: true } | { ok: false; retryAt: number } {
    const permit = this.breaker.acquire();
    if (!permit.allowed) return { ok: false, retryAt: permit.retryAt };
    if (permit.probe) this.breakerProbeHeld = true;
    return { ok: true };
  }

  /** Records a send or verify that worked, begun at `measuredFrom` (`performance.now()`). */
  succeeded(measuredFrom: number): void {
    this.lastSuccessAt = this.options.clock.now();
    this.breakerProbeHeld = false;
    this.breaker.recordSuccess();
    this.observe('ok', measuredFrom);
  }

  /** Records a send or verify that failed with `error`, begun at `measuredFrom`. */
  failed(error: AppError, measuredFrom: number): void {
    const { clock, logger, failureLog, name } = this.options;
    this.lastError = { message: error.message, at: clock.now() };
    // An answer (an SMTP reply, a provider's refusal) proves the server is up: only failures
    // that count toward the breaker do; anything else ends a held probe as a success.
    if (this.options.countsTowardBreaker(error)) this.breaker.recordFailure();
    else if (this.breakerProbeHeld) this.breaker.recordSuccess();
    this.breakerProbeHeld = false;
    logger.info(
      { event: failureLog.event, transport: name, code: error.code, reason: error.message },
      failureLog.message,
    );
    this.observe(error.code, measuredFrom);
  }

  /** State for /readyz: ok, degraded while failing, down while the breaker is open. */
  health(detail: Record<string, unknown>): ComponentHealth {
    const state = this.breaker.state;
    const failing =
      this.lastError !== null && (this.lastSuccessAt === null || this.lastError.at > this.lastSuccessAt);
    return {
      status: state === 'open' ? 'down' : failing || state === 'half_open' ? 'degraded' : 'ok',
      ...(state !== 'closed'
        ? { message: `circuit ${state.replace('_', '-')} after ${this.options.openedBy}` }
        : {}),
      lastError: this.lastError,
      lastSuccessAt: this.lastSuccessAt,
      detail: { breaker: state, ...detail },
    };
  }

  /** Latency is measured on the monotonic clock: the injected clock is for schedules, not durations. */
  private observe(outcome: string, measuredFrom: number): void {
    this.options.observe?.({
      kind: 'transport',
      name: this.options.name,
      outcome,
      ms: performance.now() - measuredFrom,
    });
  }
}
