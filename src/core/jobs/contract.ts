import type { Kysely } from 'kysely';
import type { Database, Tx } from '../db/index.js';
import type { Logger } from '../observability/logger.js';
import type { Job, RetryPolicy, Settlement } from './model.js';

/**
 * The job contract: what a feature writes to define a queue, apart from the engine that runs
 * it. A feature's `jobs.ts` returns a `QueueDefinition`; the composition root registers it.
 */

/** What a handler receives besides its job. */
export interface JobContext {
  /** Aborted when the lease is lost or the shutdown deadline passes: stop and throw. */
  signal: AbortSignal;
  /** A logger carrying the job id, queue and attempt. */
  logger: Logger;
}

/** Runs the job; returns its result or throws (AppError, JobDeferral, anything). */
export type JobHandler<P = unknown> = (job: Job<P>, context: JobContext) => Promise<unknown>;

/** A job and the new state the engine recorded for it. */
export interface SettledJob<P = unknown> {
  job: Job<P>;
  settlement: Settlement;
}

/**
 * Updates domain rows in the transaction that records the jobs' new states (a batch of
 * settlements, a recovery, a release at shutdown): the rows and their jobs change together. It
 * receives every job of the queue whose state the transaction recorded (never one whose lease was
 * lost), in the order they finished, so that it can write a batch in a few multi-row statements.
 * A batch that fails is applied again item by item: the hook must be re-runnable (read run state,
 * never take it).
 */
export type SettledHook<P = unknown> = (tx: Tx, settled: readonly SettledJob<P>[]) => Promise<void>;

/** A settled hook from one that handles a job at a time, for queues whose batches are small. */
export function oneByOne<P>(
  hook: (tx: Tx, job: Job<P>, settlement: Settlement) => Promise<void>,
): SettledHook<P> {
  return async (tx, settled) => {
    for (const { job, settlement } of settled) await hook(tx, job, settlement);
  };
}

/**
 * Reads what the handlers of freshly claimed jobs will need, in one query for the whole claim,
 * before they start (the mail queue reads the claimed messages with one `IN` list instead of one
 * read per job). Only an optimisation: a handler must still work without it (it failed, or the
 * job came another way), so it keeps what it read by job and reads itself when nothing is kept.
 */
export type ClaimedHook<P = unknown> = (db: Kysely<Database>, jobs: readonly Job<P>[]) => Promise<void>;

/** Updates domain rows when a failed or dead job is replayed, in the replay's transaction. */
export type ReplayedHook<P = unknown> = (tx: Tx, job: Job<P>) => Promise<void>;

/** A queue: its handler, limits and retry policy (methods, so a definition of any payload registers). */
export interface QueueDefinition<P = unknown> {
  name: string;
  /** Jobs of this queue running at once in this process. */
  concurrency: number;
  /** Jobs sharing a concurrency key running at once in this process (default: no limit beyond `concurrency`). */
  keyConcurrency?: number | ((key: string) => number);
  /** The retry policy, or a function giving each job its own (e.g. one schedule per webhook endpoint). */
  retry: RetryPolicy | ((job: Job<P>) => RetryPolicy);
  /** Does the work; returns the job's result or throws (AppError, JobDeferral, anything). */
  handle(job: Job<P>, context: JobContext): Promise<unknown>;
  /** Updates domain rows in the same transaction that records the jobs' new states (`SettledHook`). */
  onSettled?(tx: Tx, settled: readonly SettledJob<P>[]): Promise<void>;
  /** Reads ahead for a claim's jobs before their handlers start (`ClaimedHook`). */
  onClaimed?(db: Kysely<Database>, jobs: readonly Job<P>[]): Promise<void>;
  /** Updates domain rows when a failed or dead job is replayed, in the same transaction. */
  onReplayed?(tx: Tx, job: Job<P>): Promise<void>;
}

/** The retry policy of `job` under `def`. */
export function retryPolicyOf<P>(def: QueueDefinition<P>, job: Job<P>): RetryPolicy {
  return typeof def.retry === 'function' ? def.retry(job) : def.retry;
}

/** The concurrency limit of `key` under `def` (infinite without `keyConcurrency`). */
export function keyLimitOf<P>(def: QueueDefinition<P>, key: string): number {
  const limit = def.keyConcurrency;
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  return typeof limit === 'number' ? limit : limit(key);
}
