import type { Clock } from '../core/clock.js';
import { type ErrorCode, isAppError } from '../core/errors.js';
import { type Facts, formatDuration, type StageResult } from './model.js';

/**
 * The stage runner: a check is a sequence of stages, each with its own timeout. A stage that
 * hangs ends at its timeout and says so; once a stage failed, the stages after it are skipped.
 */

/** A stage's failure, with what to do about it. */
export class StageError extends Error {
  constructor(
    readonly errorCode: ErrorCode,
    message: string,
    readonly hint?: string,
    readonly detail: Facts = {},
  ) {
    super(message);
    this.name = 'StageError';
  }
}

/** What a stage's body returns. */
export interface StageValue<T> {
  value?: T;
  detail?: Facts;
  /** Default ok. */
  outcome?: 'ok' | 'warning' | 'skipped';
  message?: string;
  hint?: string;
}

/** How a stage is bounded, and what its timeout means. */
export interface StageOptions {
  timeoutMs: number;
  /** The code of a timeout. */
  timeoutCode: ErrorCode;
  /** What did not happen, e.g. `no greeting`: the message reads "no greeting within 10 s". */
  timeoutWhat: string;
  timeoutHint?: string;
  /** Turns an unexpected error into a stage failure (default: its message, with `fallbackCode`). */
  classify?: (error: unknown) => StageError;
  /** The code of an error nothing classified. */
  fallbackCode?: ErrorCode;
}

/** The abort reason a stage's signal carries when its timeout fires. */
export class StageTimeout extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'StageTimeout';
  }
}

/** Runs the stages of one check in order. */
export class StageRunner {
  readonly stages: StageResult[] = [];
  private failed: string | undefined;

  constructor(
    private readonly clock: Clock,
    /** Called as each stage completes (the CLI prints it at once). */
    private readonly onStage?: (stage: StageResult) => void,
  ) {}

  /** The current time of the runner's clock. */
  now(): number {
    return this.clock.now();
  }

  /** True while no stage failed. */
  get ok(): boolean {
    return this.failed === undefined;
  }

  private record(result: StageResult): void {
    this.stages.push(result);
    this.onStage?.(result);
  }

  /** Records a stage that does not apply (or cannot run), without running anything. */
  skip(stage: string, message: string, detail: Facts = {}): void {
    this.record({ stage, outcome: 'skipped', ms: 0, detail, message });
  }

  /**
   * Runs `body` as the stage `name`, unless an earlier stage failed (then it is recorded as
   * skipped and resolves undefined). The body gets a signal aborted at the stage's timeout; it
   * must release what it holds then (sockets), although the stage ends at once either way.
   */
  async stage<T>(
    name: string,
    options: StageOptions,
    body: (signal: AbortSignal) => Promise<StageValue<T>>,
  ): Promise<T | undefined> {
    if (this.failed !== undefined) {
      this.skip(name, `skipped: the ${this.failed} stage failed`);
      return undefined;
    }
    const started = this.clock.now();
    const controller = new AbortController();
    let timer: { cancel(): void } | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(options.timeoutMs, () => {
        const reason = new StageTimeout(options.timeoutMs);
        controller.abort(reason);
        reject(reason);
      });
    });
    try {
      const result = await Promise.race([body(controller.signal), timedOut]);
      this.record({
        stage: name,
        outcome: result.outcome ?? 'ok',
        ms: this.clock.now() - started,
        detail: result.detail ?? {},
        ...(result.message ? { message: result.message } : {}),
        ...(result.hint ? { hint: result.hint } : {}),
      });
      return result.value;
    } catch (error) {
      const failure =
        error instanceof StageTimeout || controller.signal.reason === error
          ? new StageError(
              options.timeoutCode,
              `${options.timeoutWhat} within ${formatDuration(options.timeoutMs)}`,
              options.timeoutHint,
            )
          : toStageError(error, options);
      this.failed = name;
      this.record({
        stage: name,
        outcome: 'failed',
        ms: this.clock.now() - started,
        detail: failure.detail,
        errorCode: failure.errorCode,
        message: failure.message,
        ...(failure.hint ? { hint: failure.hint } : {}),
      });
      return undefined;
    } finally {
      // The signal is not aborted on success: the connection a stage opened serves the next ones.
      timer?.cancel();
    }
  }
}

function toStageError(error: unknown, options: StageOptions): StageError {
  if (error instanceof StageError) return error;
  if (options.classify) return options.classify(error);
  if (isAppError(error)) return new StageError(error.code, error.message);
  return new StageError(
    options.fallbackCode ?? 'INTERNAL',
    error instanceof Error ? error.message : String(error),
  );
}
