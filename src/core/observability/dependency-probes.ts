import type { Clock, Timer } from '../clock.js';
import { AppError, type ErrorCode, isAppError } from '../errors.js';
import type { DependencyKind, ObserveDependency } from './dependencies.js';
import type { Logger } from './logger.js';

/**
 * Active probes (FACTEUR_PROBE_INTERVAL): a call to each dependency on a schedule, so that a
 * relay or a receiver that went down is seen before the next real send needs it. Each probe
 * is bounded by FACTEUR_PROBE_TIMEOUT, runs at most once at a time, and feeds the same samples
 * as real calls.
 */

/** One dependency's probe. */
export interface DependencyProbe {
  kind: DependencyKind;
  name: string;
  /** Throws (an AppError, ideally) when the dependency fails; should honour `signal` and `timeoutMs`. */
  run(options: { signal: AbortSignal; timeoutMs: number }): Promise<void>;
  /**
   * The call observes itself (a transport's `verify()` reports its own sample); the prober then
   * records only a timeout. Default false.
   */
  selfObserved?: boolean;
  /** The outcome of a failure that is not an AppError; default INTERNAL. */
  fallbackCode?: ErrorCode;
  /** The outcome of a probe that outlives FACTEUR_PROBE_TIMEOUT (e.g. SMTP_TIMEOUT, DATABASE_UNAVAILABLE). */
  timeoutCode: ErrorCode;
}

/** Gives the probes of one round (read again each round: endpoints come and go). */
export type ProbeSource = () => readonly DependencyProbe[] | Promise<readonly DependencyProbe[]>;

/** Options of a `DependencyProber`. */
export interface ProberOptions {
  clock: Clock;
  logger: Logger;
  observe: ObserveDependency;
  /** Time between rounds; 0 turns probing off. */
  intervalMs: number;
  /** Longest a probe may take before it counts as failed with the probe's `timeoutCode`. */
  timeoutMs: number;
}

/** Runs every source's probes every `intervalMs`, on the injected clock. */
export class DependencyProber {
  private readonly sources: ProbeSource[] = [];
  /** Probes in flight by `kind:name`: a probe that outlives its timeout still blocks the next one. */
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private timer: Timer | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: ProberOptions) {}

  /** Adds probes; a source that throws is logged and skipped for that round. */
  add(source: ProbeSource): void {
    this.sources.push(source);
  }

  /** Arms the first round one interval from now (nothing when the interval is 0). */
  start(): void {
    if (this.options.intervalMs <= 0 || this.stopped || this.timer) return;
    const tick = (): void => {
      // One round at a time: a clock that jumps ahead does not start one per interval skipped.
      this.round ??= this.runRound().finally(() => {
        this.round = undefined;
      });
      if (!this.stopped) this.timer = this.options.clock.setTimer(this.options.intervalMs, tick);
    };
    this.timer = this.options.clock.setTimer(this.options.intervalMs, tick);
  }

  /** Stops the schedule, aborts the probes in flight and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    for (const { controller } of this.running.values()) controller.abort(new Error('stopping'));
    await this.round;
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Runs one probe of every dependency not already being probed; resolves when each ended or timed out. */
  async runRound(): Promise<void> {
    const probes: DependencyProbe[] = [];
    for (const source of this.sources) {
      try {
        probes.push(...(await source()));
      } catch (error) {
        this.options.logger.warn(
          { event: 'dependency.probe_source_failed', err: error },
          'cannot list probes',
        );
      }
    }
    await Promise.all(probes.map((probe) => this.runProbe(probe)));
  }

  private runProbe(probe: DependencyProbe): Promise<void> {
    const key = `${probe.kind}:${probe.name}`;
    if (this.stopped || this.running.has(key)) return Promise.resolve();
    const { clock, timeoutMs } = this.options;
    const controller = new AbortController();
    const startedAt = performance.now();
    let settled = false;
    const record = (outcome: string): void => {
      if (settled) return;
      settled = true;
      this.options.observe({
        kind: probe.kind,
        name: probe.name,
        outcome,
        ms: performance.now() - startedAt,
      });
    };
    let timeoutReached: () => void = () => undefined;
    const timedOut = new Promise<void>((resolve) => {
      timeoutReached = resolve;
    });
    const timer = clock.setTimer(timeoutMs, () => {
      const error = new AppError(
        probe.timeoutCode,
        `the ${probe.kind} ${probe.name} did not answer the probe within ${timeoutMs} ms`,
      );
      record(error.code);
      controller.abort(error);
      timeoutReached();
    });
    const done = (async () => {
      try {
        await probe.run({ signal: controller.signal, timeoutMs });
        if (!probe.selfObserved) record('ok');
      } catch (error) {
        if (!probe.selfObserved) record(isAppError(error) ? error.code : (probe.fallbackCode ?? 'INTERNAL'));
      } finally {
        settled = true;
        timer.cancel();
        this.running.delete(key);
      }
    })();
    this.running.set(key, { controller, done });
    return Promise.race([done, timedOut]);
  }
}

/** The database's probe: `select 1` within the probe timeout. */
export function databaseProbe(store: {
  dialect: string;
  ping(timeoutMs?: number): Promise<void>;
}): DependencyProbe {
  return {
    kind: 'database',
    name: store.dialect,
    timeoutCode: 'DATABASE_UNAVAILABLE',
    fallbackCode: 'DATABASE_UNAVAILABLE',
    run: ({ timeoutMs }) => store.ping(timeoutMs),
  };
}

/**
 * A transport's probe: `verify()` (SMTP: connect, greet, authenticate; providers: their own
 * check; no message), which reports its own sample.
 */
export function transportProbe(transport: {
  name: string;
  kind?: string;
  verify(): Promise<void>;
}): DependencyProbe {
  return {
    kind: 'transport',
    name: transport.name,
    timeoutCode:
      transport.kind === undefined || transport.kind === 'smtp' ? 'SMTP_TIMEOUT' : 'PROVIDER_TIMEOUT',
    selfObserved: true,
    run: () => transport.verify(),
  };
}
