import type { Store, Tx } from '../db/index.js';
import { JOBS_CHANNEL } from './store.js';

/**
 * Operations features ask of their queued jobs, so that no feature writes the jobs table: bring
 * jobs forward (a breaker closed, an endpoint resumed), cancel or re-limit the jobs of one
 * concurrency key (an endpoint deleted or its retry schedule changed), run one job now.
 * Called with the feature's queue-name constant; workers are woken through JOBS_CHANNEL.
 */

/** Which queued jobs to bring forward. */
export interface BringForward {
  queue: string;
  /** Only jobs of this concurrency key (default: every key). */
  key?: string;
  /** Jobs whose last error code is one of these. */
  codes: readonly string[];
  /** Also jobs with no error yet (e.g. held since they were enqueued). */
  orNoError?: boolean;
}

/** Makes the matching queued jobs due now (only those waiting for later); returns how many. */
export async function bringJobsForward(tx: Tx, which: BringForward, now: number): Promise<number> {
  const { queue, key, codes, orNoError } = which;
  if (codes.length === 0 && !orNoError) return 0;
  let query = tx.db
    .updateTable('jobs')
    .set({ run_at: now, updated_at: now })
    .where('queue', '=', queue)
    .where('status', '=', 'queued')
    .where('run_at', '>', now)
    .where((eb) =>
      eb.or([
        ...(codes.length > 0 ? [eb('last_error_code', 'in', codes)] : []),
        ...(orNoError ? [eb('last_error_code', 'is', null)] : []),
      ]),
    );
  if (key !== undefined) query = query.where('concurrency_key', '=', key);
  const moved = Number((await query.executeTakeFirst()).numUpdatedRows);
  if (moved > 0) tx.notify(JOBS_CHANNEL, queue);
  return moved;
}

/**
 * Brings forward queued jobs of `queue` that wait because of `errorCode` (e.g. deferred while a
 * circuit breaker was open) so they run now; returns how many. In its own transaction; an
 * engine's `runDeferredNow` first waits for the outcomes it has not recorded yet.
 */
export async function runDeferredNow(
  store: Store,
  queue: string,
  errorCode: string,
  now: number,
): Promise<number> {
  return store.transaction((tx) => bringJobsForward(tx, { queue, codes: [errorCode] }, now));
}

/** Cancels the queued and running jobs of `queue` with concurrency key `key` (their subject is gone). */
export async function cancelJobsByKey(tx: Tx, queue: string, key: string, now: number): Promise<number> {
  const result = await tx.db
    .updateTable('jobs')
    .set({
      status: 'cancelled',
      finished_at: now,
      updated_at: now,
      lease_owner: null,
      lease_expires_at: null,
    })
    .where('queue', '=', queue)
    .where('concurrency_key', '=', key)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Sets the attempt limit of the unfinished jobs of `queue` with concurrency key `key`. */
export async function setMaxAttemptsByKey(
  tx: Tx,
  queue: string,
  key: string,
  maxAttempts: number,
): Promise<void> {
  await tx.db
    .updateTable('jobs')
    .set({ max_attempts: maxAttempts })
    .where('queue', '=', queue)
    .where('concurrency_key', '=', key)
    .where('status', 'in', ['queued', 'running'])
    .execute();
}

/**
 * Makes one queued job of `queue` due now, e.g. from its queue's `onSettled` when the wait a
 * deferral asked for is already over.
 */
export async function runJobNow(tx: Tx, queue: string, id: string, now: number): Promise<void> {
  await tx.db
    .updateTable('jobs')
    .set({ run_at: now })
    .where('id', '=', id)
    .where('queue', '=', queue)
    .where('status', '=', 'queued')
    .execute();
  tx.notify(JOBS_CHANNEL, queue);
}
