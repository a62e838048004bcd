import { AppError } from '../errors.js';

/**
 * The job model and the pure decisions of the engine: how long to wait before a retry and what
 * a handler's outcome does to the job. No I/O here; the clock and randomness are parameters.
 */

/** Lifecycle of a job. `failed` is a permanent error; `dead` means retries ran out. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead' | 'cancelled';

/** Final states: the engine never touches these jobs again unless they are replayed. */
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'dead', 'cancelled'];

/** A job as the engine and handlers see it. Times are epoch milliseconds. */
export interface Job<P = unknown> {
  id: string;
  queue: string;
  /** Jobs sharing a key are limited together (one SMTP account, one webhook endpoint). */
  concurrencyKey: string | null;
  idempotencyKey: string | null;
  payload: P;
  status: JobStatus;
  priority: number;
  /** Attempts started so far, including the one running. */
  attempts: number;
  maxAttempts: number;
  runAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: { code: string; message: string } | null;
  result: unknown;
  replays: number;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** What to enqueue. */
export interface JobSpec<P = unknown> {
  queue: string;
  payload: P;
  /** Attempts allowed before the job is `dead` (at least 1). */
  maxAttempts: number;
  concurrencyKey?: string;
  /** Unique per queue: enqueueing the same key again returns the existing job. */
  idempotencyKey?: string;
  /** Not before this time (default: now). */
  runAt?: number;
  /** Higher runs first among due jobs (default 0). */
  priority?: number;
}

/** How a queue spaces its retries. */
export type RetryPolicy =
  | {
      kind: 'exponential';
      /** Delay after the first failure. */
      initialDelayMs: number;
      /** Cap on any one delay. */
      maxDelayMs: number;
      /** Growth per attempt (default 2). */
      factor?: number;
      /** Random spread as a fraction of the delay, ± (default 0.2). */
      jitter?: number;
    }
  | {
      kind: 'schedule';
      /** Delay before retry 1, 2, ...; past the end the last one repeats. */
      delaysMs: readonly number[];
      /** Random spread as a fraction of the delay, ± (default 0.1). */
      jitter?: number;
    };

/** Attempts a schedule policy allows: the first try plus one per listed delay. */
export function attemptsForSchedule(delaysMs: readonly number[]): number {
  return delaysMs.length + 1;
}

/**
 * Delay before the next attempt after attempt number `attempt` (1-based) failed.
 * `random` returns a number in [0, 1).
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const index = Math.max(0, attempt - 1);
  let base: number;
  let jitter: number;
  if (policy.kind === 'schedule') {
    const delays = policy.delaysMs;
    base = delays.length === 0 ? 0 : (delays[Math.min(index, delays.length - 1)] as number);
    jitter = policy.jitter ?? 0.1;
  } else {
    base = Math.min(policy.maxDelayMs, policy.initialDelayMs * (policy.factor ?? 2) ** index);
    jitter = policy.jitter ?? 0.2;
  }
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(base + spread));
}

/**
 * Thrown by a handler to run the job again later without counting an attempt (window closed,
 * breaker open). `error`, when given, is recorded as the job's last error so the wait is explained.
 */
export class JobDeferral extends Error {
  constructor(
    readonly runAt: number,
    readonly reason: string,
    readonly error?: AppError,
  ) {
    super(`deferred until ${new Date(runAt).toISOString()}: ${reason}`);
    this.name = 'JobDeferral';
  }
}

/** What a handler's run amounted to. */
export type JobOutcome =
  | { kind: 'succeeded'; result: unknown }
  | { kind: 'errored'; error: AppError }
  | { kind: 'deferred'; runAt: number; reason: string; error?: AppError };

/** What the engine records for a job after a run. */
export type Settlement =
  | { status: 'succeeded'; result: unknown }
  /** Back in the queue: a retry (counts an attempt) or a deferral (does not). */
  | { status: 'queued'; runAt: number; error: AppError | null; deferred: boolean }
  | { status: 'failed'; error: AppError }
  | { status: 'dead'; error: AppError };

/** Maps a handler outcome to the job's next state, per the queue's retry policy. */
export function decideSettlement(
  job: Pick<Job, 'attempts' | 'maxAttempts'>,
  outcome: JobOutcome,
  policy: RetryPolicy,
  now: number,
  random: () => number = Math.random,
): Settlement {
  if (outcome.kind === 'succeeded') return { status: 'succeeded', result: outcome.result };
  if (outcome.kind === 'deferred') {
    return { status: 'queued', runAt: outcome.runAt, error: outcome.error ?? null, deferred: true };
  }
  const { error } = outcome;
  if (!error.retryable) return { status: 'failed', error };
  if (job.attempts >= job.maxAttempts) return { status: 'dead', error };
  const delay = Math.max(retryDelay(policy, job.attempts, random), error.retryAfterMs ?? 0);
  return { status: 'queued', runAt: now + delay, error, deferred: false };
}

/** Turns whatever a handler threw into an outcome. Unknown errors are retryable `JOB_ERROR`s. */
export function outcomeOfThrown(thrown: unknown): JobOutcome {
  if (thrown instanceof JobDeferral) {
    return {
      kind: 'deferred',
      runAt: thrown.runAt,
      reason: thrown.reason,
      ...(thrown.error ? { error: thrown.error } : {}),
    };
  }
  if (thrown instanceof AppError) return { kind: 'errored', error: thrown };
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { kind: 'errored', error: new AppError('JOB_ERROR', message, { cause: thrown }) };
}
