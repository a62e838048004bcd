import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import type { ComponentHealth } from '../core/observability/index.js';
import { type BreakerState, CircuitBreaker } from '../core/resilience/breaker.js';
import { openDeliveryStatistics } from './store.js';

/**
 * What keeps endpoints apart: a circuit breaker and a rate limiter per endpoint (in this
 * process), the per-endpoint health shown in /readyz, and the webhook metrics.
 */

/** Failures in a row that open an endpoint's breaker, and how long it stays open. */
const BREAKER_THRESHOLD = 5;
const BREAKER_OPEN_MS = 30_000;

interface EndpointGuard {
  breaker: CircuitBreaker;
  /** Start times of the deliveries inside the current rate window (sliding log). */
  sent: number[];
  lastSuccessAt: number | null;
  lastError: { message: string; at: number } | null;
}

/** The answer to "may this endpoint get a request now?". */
export type RatePermit = { ok: true } | { ok: false; retryAt: number };

export class EndpointGuards {
  private readonly guards = new Map<string, EndpointGuard>();
  readonly metrics: WebhookMetrics | undefined;

  constructor(
    private readonly options: {
      clock: Clock;
      store: Store;
      metrics?: Registry;
      /** Called when an endpoint's breaker closes again: deliveries it deferred can go now. */
      onBreakerClosed?: (endpointId: string) => void;
    },
  ) {
    this.metrics = options.metrics
      ? createWebhookMetrics(options.metrics, options.store, options.clock, this)
      : undefined;
  }

  private guard(endpointId: string): EndpointGuard {
    let guard = this.guards.get(endpointId);
    if (!guard) {
      const breaker = new CircuitBreaker({
        clock: this.options.clock,
        failureThreshold: BREAKER_THRESHOLD,
        halfOpenAfterMs: BREAKER_OPEN_MS,
        onStateChange: (state) => {
          if (state === 'closed') this.options.onBreakerClosed?.(endpointId);
        },
      });
      guard = { breaker, sent: [], lastSuccessAt: null, lastError: null };
      this.guards.set(endpointId, guard);
    }
    return guard;
  }

  breaker(endpointId: string): CircuitBreaker {
    return this.guard(endpointId).breaker;
  }

  /**
   * Takes a slot of the endpoint's rate limit, or says when the next one frees up. A sliding
   * log, not a bucket: no window of `perMs` ever holds more than `max` requests.
   */
  takeRateSlot(endpointId: string, limit: { max: number; perMs: number } | null): RatePermit {
    if (!limit) return { ok: true };
    const guard = this.guard(endpointId);
    const now = this.options.clock.now();
    while (guard.sent.length > 0 && (guard.sent[0] as number) <= now - limit.perMs) guard.sent.shift();
    if (guard.sent.length >= limit.max) {
      return { ok: false, retryAt: (guard.sent[guard.sent.length - limit.max] as number) + limit.perMs };
    }
    guard.sent.push(now);
    return { ok: true };
  }

  recordSuccess(endpointId: string): void {
    const guard = this.guard(endpointId);
    guard.lastSuccessAt = this.options.clock.now();
    guard.breaker.recordSuccess();
  }

  /** `unhealthy`: the failure says the receiver is down (network, timeout, 5xx, 429), not that it refused this one. */
  recordFailure(endpointId: string, message: string, unhealthy: boolean): void {
    const guard = this.guard(endpointId);
    guard.lastError = { message, at: this.options.clock.now() };
    if (unhealthy) guard.breaker.recordFailure();
    else guard.breaker.recordSuccess();
  }

  breakerStates(): Array<{ endpointId: string; state: BreakerState }> {
    return [...this.guards].map(([endpointId, g]) => ({ endpointId, state: g.breaker.state }));
  }

  /** One /readyz entry for all endpoints: degraded while any breaker is not closed. */
  health(names: Map<string, string>): ComponentHealth {
    const endpoints: Record<string, unknown> = {};
    let open = 0;
    let lastSuccessAt: number | null = null;
    for (const [id, g] of this.guards) {
      const state = g.breaker.state;
      if (state !== 'closed') open++;
      if (g.lastSuccessAt !== null && (lastSuccessAt === null || g.lastSuccessAt > lastSuccessAt)) {
        lastSuccessAt = g.lastSuccessAt;
      }
      endpoints[id] = {
        name: names.get(id) ?? null,
        breaker: state,
        consecutiveFailures: g.breaker.consecutiveFailures,
        lastSuccessAt: g.lastSuccessAt === null ? null : new Date(g.lastSuccessAt).toISOString(),
        lastError: g.lastError
          ? { message: g.lastError.message, at: new Date(g.lastError.at).toISOString() }
          : null,
      };
    }
    return {
      status: open > 0 ? 'degraded' : 'ok',
      ...(open > 0 ? { message: `${open} endpoint breaker(s) open: their deliveries wait` } : {}),
      lastSuccessAt,
      detail: { endpoints },
    };
  }
}

/** The webhook metrics; held and pending figures are read from the database at scrape time. */
export interface WebhookMetrics {
  deliveries: Counter<'endpoint' | 'outcome'>;
  attemptDuration: Histogram<'endpoint'>;
  retries: Counter<'endpoint'>;
}

function createWebhookMetrics(
  registry: Registry,
  store: Store,
  clock: Clock,
  guards: EndpointGuards,
): WebhookMetrics {
  const states: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
  new Gauge({
    name: 'facteur_webhook_breaker_state',
    help: 'Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open.',
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { endpointId, state } of guards.breakerStates())
        this.set({ endpoint: endpointId }, states[state]);
    },
  });
  new Gauge({
    name: 'facteur_webhook_deliveries_held',
    help: 'Deliveries held (endpoint paused or disabled, outside its window, absence day).',
    registers: [registry],
    async collect() {
      this.set((await openDeliveryStatistics(store.db)).held);
    },
  });
  new Gauge({
    name: 'facteur_webhook_oldest_pending_seconds',
    help: 'Age of the oldest delivery still pending (0 when none).',
    registers: [registry],
    async collect() {
      const stats = await openDeliveryStatistics(store.db);
      this.set(stats.oldestPendingAt === null ? 0 : Math.max(0, clock.now() - stats.oldestPendingAt) / 1000);
    },
  });
  return {
    deliveries: new Counter({
      name: 'facteur_webhook_deliveries_total',
      help: 'Delivery outcomes per endpoint: succeeded, retried, failed, dead, held, deferred.',
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    }),
    attemptDuration: new Histogram({
      name: 'facteur_webhook_attempt_seconds',
      help: 'Latency of each HTTP attempt per endpoint, until the answer was read.',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'facteur_webhook_retries_total',
      help: 'Failed attempts that were scheduled for a retry, per endpoint.',
      labelNames: ['endpoint'],
      registers: [registry],
    }),
  };
}
