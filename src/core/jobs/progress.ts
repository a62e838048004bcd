import type { Kysely } from 'kysely';
import type { Database } from '../db/index.js';

/**
 * What features read of their jobs to show work in progress (a message `sending`, a delivery
 * `delivering`) without naming the jobs table: a running state is not stored on the domain
 * row, it is that row's job running now.
 */

/** The ids of the running jobs of `queue`, as a subquery for `where(column, 'in' | 'not in', ...)`. */
export function runningJobIds(db: Kysely<Database>, queue: string) {
  return db
    .selectFrom('jobs')
    .select('jobs.id')
    .where('jobs.queue', '=', queue)
    .where('jobs.status', '=', 'running');
}

/** For those of `jobIds` that are running now: when their current run started. */
export async function runningSince(
  db: Kysely<Database>,
  jobIds: readonly string[],
): Promise<Map<string, number>> {
  const running = new Map<string, number>();
  for (let from = 0; from < jobIds.length; from += 500) {
    const rows = await db
      .selectFrom('jobs')
      .select(['id', 'started_at', 'updated_at'])
      .where('id', 'in', jobIds.slice(from, from + 500))
      .where('status', '=', 'running')
      .execute();
    for (const row of rows) running.set(row.id, Number(row.started_at ?? row.updated_at));
  }
  return running;
}
