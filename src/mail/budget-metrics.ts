import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BudgetUsage, WaitReason } from './budget-model.js';

/**
 * The Prometheus figures of transport budgets (`facteur_budget_*`), one set per registry shared
 * by every budget of the process, labelled by transport.
 */
export class BudgetMetrics {
  private readonly grants: Counter<'transport' | 'wait'>;
  private readonly waits: Histogram<'transport'>;
  private readonly deferrals: Counter<'transport' | 'reason'>;
  private readonly replies: Counter<'transport' | 'slowed'>;
  private readonly rate: Gauge<'transport'>;
  private readonly windows: Gauge<'transport' | 'window'>;

  constructor(registry: Registry) {
    const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
    this.grants =
      existing('facteur_budget_grants_total') ??
      new Counter({
        name: 'facteur_budget_grants_total',
        help: 'Tokens a transport budget granted, by whether the send waited for it (none, waited).',
        labelNames: ['transport', 'wait'],
        registers: [registry],
      });
    this.waits =
      existing('facteur_budget_wait_seconds') ??
      new Histogram({
        name: 'facteur_budget_wait_seconds',
        help: 'How long sends that waited for a token of a transport budget waited in the process.',
        labelNames: ['transport'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      });
    this.deferrals =
      existing('facteur_budget_deferrals_total') ??
      new Counter({
        name: 'facteur_budget_deferrals_total',
        help: 'Sends deferred by a transport budget, by reason (hourly, daily, paused, rate, rate_limited).',
        labelNames: ['transport', 'reason'],
        registers: [registry],
      });
    this.replies =
      existing('facteur_budget_rate_limited_total') ??
      new Counter({
        name: 'facteur_budget_rate_limited_total',
        help: "Rate-limit replies (SMTP 421/451 4.7.x, HTTP 429) of a transport's server, by whether they halved the budget's rate.",
        labelNames: ['transport', 'slowed'],
        registers: [registry],
      });
    this.rate =
      existing('facteur_budget_effective_rate') ??
      new Gauge({
        name: 'facteur_budget_effective_rate',
        help: "Sends a transport budget's rate window admits now (the configured rate, or less after a slow-down).",
        labelNames: ['transport'],
        registers: [registry],
      });
    this.windows =
      existing('facteur_budget_window_sends') ??
      new Gauge({
        name: 'facteur_budget_window_sends',
        help: "Sends counted in a transport budget's current window (rate, hour, day), as this process last saw it.",
        labelNames: ['transport', 'window'],
        registers: [registry],
      });
  }

  /** A token granted; `waitedSeconds` when the send had to wait for it. */
  granted(transport: string, waitedSeconds: number | undefined): void {
    this.grants.inc({ transport, wait: waitedSeconds === undefined ? 'none' : 'waited' });
    if (waitedSeconds !== undefined) this.waits.observe({ transport }, waitedSeconds);
  }

  /** A send deferred (JobDeferral) for `reason`. */
  deferred(transport: string, reason: WaitReason | 'rate_limited'): void {
    this.deferrals.inc({ transport, reason });
  }

  /** A rate-limit reply met. */
  rateLimited(transport: string, slowed: boolean): void {
    this.replies.inc({ transport, slowed: String(slowed) });
  }

  /** The budget's figures after a cycle. */
  observe(transport: string, usage: BudgetUsage): void {
    if (usage.effectiveRate !== null) this.rate.set({ transport }, usage.effectiveRate);
    this.windows.set({ transport, window: 'rate' }, usage.inWindow);
    this.windows.set({ transport, window: 'hour' }, usage.hourCount);
    this.windows.set({ transport, window: 'day' }, usage.dayCount);
  }
}
