import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { type ErrorCode, isAppError } from '../errors.js';
import {
  type DependencyAlert,
  failingAlert,
  healthOf,
  mergeInto,
  recoveredAlert,
} from './dependency-alerts.js';
import {
  type AlertState,
  type DependencyFigures,
  type DependencyThresholds,
  nextAlertState,
  RollingWindow,
} from './dependency-model.js';
import { DependencyProber, type ProbeSource } from './dependency-probes.js';
import type { HealthRegistry } from './health.js';
import type { Logger } from './logger.js';

/**
 * Watching every dependency: what one call to a dependency (database, transport, mailbox,
 * endpoint, report data source) reports. Each adapter calls `observe` once per call it makes,
 * success or failure; the monitor turns samples into latency percentiles, error counts per
 * outcome, /readyz and /metrics figures and threshold alerts.
 */

/** The kinds of dependency Facteur watches. */
export type DependencyKind = 'database' | 'transport' | 'mailbox' | 'endpoint' | 'data_source';

/** One call to a dependency and how it ended. */
export interface DependencySample {
  kind: DependencyKind;
  /** The dependency's name as /readyz shows it (`smtp`, `postmark`, a mailbox's name, ...). */
  name: string;
  /** `ok`, or the error code of the failure (e.g. `SMTP_TIMEOUT`). */
  outcome: string;
  /** How long the call took. */
  ms: number;
}

/** Where adapters send their samples. */
export type ObserveDependency = (sample: DependencySample) => void;

export { DEPENDENCY_ALERT_TYPES, type DependencyAlert } from './dependency-alerts.js';

/** What /readyz and `snapshot` show of one dependency. */
export interface DependencySnapshot extends DependencyFigures {
  kind: DependencyKind;
  name: string;
  lastError: { code: string; at: number } | null;
  lastSuccessAt: number | null;
  alert: { threshold: string; crossed: string[]; since: number } | null;
}

/** Options of a `DependencyMonitor`: the thresholds (FACTEUR_DEPENDENCY_*) and the rest. */
export interface DependencyMonitorOptions extends DependencyThresholds {
  clock: Clock;
  logger: Logger;
  /** Where the histogram, counter and gauge are registered; none: no metrics. */
  metrics?: Registry;
  /** Time between probe rounds; 0 (the default) turns probes off. */
  probeIntervalMs?: number;
  /** Limit of one probe; default 5 s. */
  probeTimeoutMs?: number;
}

interface Tracked {
  kind: DependencyKind;
  name: string;
  window: RollingWindow;
  consecutiveFailures: number;
  lastOk: boolean;
  lastAt: number;
  lastError: { code: string; at: number } | null;
  lastSuccessAt: number | null;
  alert: AlertState;
}

/** A dependency with no sample for this long (and not in alert) leaves /readyz. */
const FORGET_AFTER_MS = 24 * 3_600_000;
/** After a failed attempt to raise an alert, the next try waits at least this long. */
const ALERT_RETRY_MS = 5_000;
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Latency, errors and alert state of every dependency, from the samples adapters report. */
export class DependencyMonitor {
  private readonly tracked = new Map<string, Tracked>();
  private readonly prober: DependencyProber;
  private readonly duration: Histogram<'kind' | 'name' | 'outcome'> | undefined;
  private readonly calls: Counter<'kind' | 'name' | 'outcome'> | undefined;
  private readonly failing: Gauge<'kind' | 'name'> | undefined;
  private sink: ((alert: DependencyAlert) => Promise<void>) | undefined;
  private readonly pending: DependencyAlert[] = [];
  private flushing: Promise<void> | undefined;
  private lastFlushFailure = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: DependencyMonitorOptions) {
    const registers = options.metrics ? [options.metrics] : undefined;
    if (registers) {
      this.duration = new Histogram({
        name: 'facteur_dependency_duration_seconds',
        help: 'Duration of calls to each dependency, by outcome (ok or error code)',
        labelNames: ['kind', 'name', 'outcome'],
        buckets: DURATION_BUCKETS,
        registers,
      });
      this.calls = new Counter({
        name: 'facteur_dependency_calls_total',
        help: 'Calls to each dependency, by outcome (ok or error code)',
        labelNames: ['kind', 'name', 'outcome'],
        registers,
      });
      this.failing = new Gauge({
        name: 'facteur_dependency_failing',
        help: '1 while a dependency is over an alert threshold (facteur.alert.dependency_failing raised)',
        labelNames: ['kind', 'name'],
        registers,
      });
    }
    this.prober = new DependencyProber({
      clock: options.clock,
      logger: options.logger,
      observe: this.observe,
      intervalMs: options.probeIntervalMs ?? 0,
      timeoutMs: options.probeTimeoutMs ?? 5000,
    });
  }

  /** Records one call (bound: pass it around as `observe`). */
  readonly observe: ObserveDependency = (sample) => {
    const ms = Number.isFinite(sample.ms) && sample.ms > 0 ? sample.ms : 0;
    const { kind, name, outcome } = sample;
    this.duration?.observe({ kind, name, outcome }, ms / 1000);
    this.calls?.inc({ kind, name, outcome });
    const now = this.options.clock.now();
    const dependency = this.dependency(kind, name, now);
    const ok = outcome === 'ok';
    dependency.window.add(now, ms, outcome);
    dependency.consecutiveFailures = ok ? 0 : dependency.consecutiveFailures + 1;
    dependency.lastOk = ok;
    dependency.lastAt = now;
    if (ok) dependency.lastSuccessAt = now;
    else dependency.lastError = { code: outcome, at: now };
    const figures = this.figuresOf(dependency, now);
    const decision = nextAlertState(dependency.alert, figures, this.options, now);
    const before = dependency.alert;
    dependency.alert = decision.state;
    if (decision.transition === 'failing') this.raise(this.failingAlert(dependency, figures, now));
    else if (decision.transition === 'recovered' && before.failing)
      this.raise(this.recoveredAlert(dependency, figures, before.since, now));
    else if (this.pending.length > 0) this.flush();
  };

  /** Runs `work` as one call of (kind, name): `ok`, or the code of what it threw (`fallbackCode` for non-AppErrors). */
  async measure<T>(
    kind: DependencyKind,
    name: string,
    work: () => Promise<T>,
    fallbackCode: ErrorCode = 'INTERNAL',
  ): Promise<T> {
    const startedAt = performance.now();
    try {
      const result = await work();
      this.observe({ kind, name, outcome: 'ok', ms: performance.now() - startedAt });
      return result;
    } catch (error) {
      const outcome = isAppError(error) ? error.code : fallbackCode;
      this.observe({ kind, name, outcome, ms: performance.now() - startedAt });
      throw error;
    }
  }

  /** The figures of one dependency, or undefined when it never reported a sample. */
  snapshot(kind: DependencyKind, name: string): DependencySnapshot | undefined {
    const dependency = this.tracked.get(keyOf(kind, name));
    return dependency ? this.snapshotOf(dependency, this.options.clock.now()) : undefined;
  }

  /** Every dependency that reported a sample (those quiet for a day and not in alert are forgotten). */
  snapshots(): DependencySnapshot[] {
    const now = this.options.clock.now();
    for (const [key, dependency] of this.tracked) {
      if (!dependency.alert.failing && now - dependency.lastAt > FORGET_AFTER_MS) this.tracked.delete(key);
    }
    return [...this.tracked.values()].map((d) => this.snapshotOf(d, now));
  }

  /** Where alerts go. Alerts raised before this is set (or while it fails) wait and go in order. */
  alertThrough(sink: (alert: DependencyAlert) => Promise<void>): void {
    this.sink = sink;
    this.flush();
  }

  /**
   * Shows every dependency in /readyz: its figures merged into the `detail` of the check that
   * stands for it (`database`, `transport:NAME`, ...), else a check of its own, `KIND:NAME`.
   * A dependency in alert turns its check `degraded` (never `down`: that is the check's call).
   */
  watchHealth(health: HealthRegistry): void {
    health.augment((checks) => {
      for (const snapshot of this.snapshots()) {
        const name = snapshot.kind === 'database' ? 'database' : `${snapshot.kind}:${snapshot.name}`;
        const existing = checks[name];
        checks[name] = existing
          ? { ...mergeInto(existing, snapshot), critical: existing.critical }
          : { ...healthOf(snapshot), critical: false };
      }
    });
  }

  /** Adds probes, run every FACTEUR_PROBE_INTERVAL once `start` is called. */
  addProbes(source: ProbeSource): void {
    this.prober.add(source);
  }

  /** Starts the probes (when an interval is set). */
  start(): void {
    this.prober.start();
  }

  /** Runs one round of probes now. */
  probeNow(): Promise<void> {
    return this.prober.runRound();
  }

  /** Stops the probes and waits for the alerts being raised. */
  async stop(): Promise<void> {
    await this.prober.stop();
    await this.flushing;
    if (this.pending.length > 0) {
      this.options.logger.warn(
        { event: 'dependency.alerts_dropped', alerts: this.pending.map((a) => a.type) },
        'stopping with dependency alerts not raised',
      );
    }
  }

  private dependency(kind: DependencyKind, name: string, now: number): Tracked {
    const key = keyOf(kind, name);
    let dependency = this.tracked.get(key);
    if (!dependency) {
      dependency = {
        kind,
        name,
        window: new RollingWindow({ windowMs: this.options.windowMs }),
        consecutiveFailures: 0,
        lastOk: true,
        lastAt: now,
        lastError: null,
        lastSuccessAt: null,
        alert: { failing: false },
      };
      this.tracked.set(key, dependency);
    }
    return dependency;
  }

  private figuresOf(dependency: Tracked, now: number): DependencyFigures {
    return {
      ...dependency.window.figures(now),
      consecutiveFailures: dependency.consecutiveFailures,
      lastOk: dependency.lastOk,
    };
  }

  private snapshotOf(dependency: Tracked, now: number): DependencySnapshot {
    const { alert } = dependency;
    return {
      kind: dependency.kind,
      name: dependency.name,
      ...this.figuresOf(dependency, now),
      lastError: dependency.lastError,
      lastSuccessAt: dependency.lastSuccessAt,
      alert: alert.failing
        ? { threshold: alert.threshold, crossed: alert.lastCrossed, since: alert.since }
        : null,
    };
  }

  private failingAlert(dependency: Tracked, figures: DependencyFigures, now: number): DependencyAlert {
    const state = dependency.alert as Extract<AlertState, { failing: true }>;
    const alert = failingAlert(dependency, figures, state, this.options, now);
    this.failing?.set({ kind: dependency.kind, name: dependency.name }, 1);
    this.options.logger.warn(
      {
        event: 'dependency.failing',
        kind: dependency.kind,
        name: dependency.name,
        threshold: state.threshold,
      },
      alert.subject,
    );
    return alert;
  }

  private recoveredAlert(dependency: Tracked, figures: DependencyFigures, since: number, now: number) {
    this.failing?.set({ kind: dependency.kind, name: dependency.name }, 0);
    const alert = recoveredAlert(dependency, figures, since, now);
    this.options.logger.info(
      { event: 'dependency.recovered', kind: dependency.kind, name: dependency.name },
      alert.subject,
    );
    return alert;
  }

  private raise(alert: DependencyAlert): void {
    this.pending.push(alert);
    this.flush();
  }

  /** Sends the waiting alerts in order, one at a time; a failure keeps the rest for later. */
  private flush(): void {
    const sink = this.sink;
    if (!sink || this.flushing || this.pending.length === 0) return;
    if (this.options.clock.now() - this.lastFlushFailure < ALERT_RETRY_MS) return;
    this.flushing = (async () => {
      while (this.pending.length > 0) {
        const alert = this.pending[0] as DependencyAlert;
        try {
          await sink(alert);
          this.pending.shift();
        } catch (error) {
          this.lastFlushFailure = this.options.clock.now();
          this.options.logger.warn(
            { event: 'dependency.alert_failed', type: alert.type, err: error },
            'cannot raise a dependency alert; it is tried again with the next sample',
          );
          return;
        }
      }
    })().finally(() => {
      this.flushing = undefined;
      // An alert raised while the last one was being sent, after the loop looked.
      this.flush();
    });
  }
}

function keyOf(kind: string, name: string): string {
  return `${kind}\n${name}`;
}
