import { sql } from 'kysely';
import type { Tx } from '../db/index.js';
import type { JobsTable } from '../db/schema.js';
import type { Job, Settlement } from './model.js';
import { JOBS_CHANNEL } from './store.js';

/** The SQL that records jobs' outcomes, one by one or a batch at a time (`settlements.ts`). */

/**
 * Records a settlement if the job is still leased to `owner` (and, for recovery of an expired
 * lease, still expired). Returns false when the lease was lost: someone else owns the job now.
 */
export async function recordSettlement(
  tx: Tx,
  job: Job,
  settlement: Settlement,
  owner: string,
  now: number,
  options: { onlyIfExpired?: boolean } = {},
): Promise<boolean> {
  const base = { updated_at: now, lease_owner: null, lease_expires_at: null };
  let values: Partial<JobsTable>;
  switch (settlement.status) {
    case 'succeeded':
      values = {
        ...base,
        status: 'succeeded',
        result: JSON.stringify(settlement.result ?? null),
        finished_at: now,
      };
      break;
    case 'queued':
      values = {
        ...base,
        status: 'queued',
        run_at: settlement.runAt,
        ...(settlement.deferred ? { attempts: Math.max(0, job.attempts - 1) } : {}),
        ...(settlement.error
          ? { last_error_code: settlement.error.code, last_error_message: settlement.error.message }
          : {}),
      };
      break;
    case 'failed':
    case 'dead':
      values = {
        ...base,
        status: settlement.status,
        finished_at: now,
        last_error_code: settlement.error.code,
        last_error_message: settlement.error.message,
      };
      break;
  }
  let query = tx.db
    .updateTable('jobs')
    .set(values)
    .where('id', '=', job.id)
    .where('status', '=', 'running')
    .where('lease_owner', '=', owner);
  if (options.onlyIfExpired) query = query.where('lease_expires_at', '<', now);
  const result = await query.executeTakeFirst();
  const recorded = Number(result.numUpdatedRows) === 1;
  if (recorded && settlement.status === 'queued') tx.notify(JOBS_CHANNEL, job.queue);
  return recorded;
}

/**
 * Records a batch of settlements leased to `owner`; answers the ids it recorded (the others'
 * leases were lost). The succeeded ones, nearly all of a busy batch, share one statement (each
 * job's result picked by a `case` on its id); the rest are written one by one.
 */
export async function recordSettlements(
  tx: Tx,
  items: readonly { job: Job; settlement: Settlement }[],
  owner: string,
  now: number,
): Promise<Set<string>> {
  const recorded = new Set<string>();
  const succeeded: { id: string; result: string }[] = [];
  for (const { job, settlement } of items) {
    if (settlement.status === 'succeeded')
      succeeded.push({ id: job.id, result: JSON.stringify(settlement.result ?? null) });
    else if (await recordSettlement(tx, job, settlement, owner, now)) recorded.add(job.id);
  }
  if (succeeded.length === 1) {
    const [only] = succeeded as [{ id: string; result: string }];
    const job = items.find((item) => item.job.id === only.id) as { job: Job; settlement: Settlement };
    if (await recordSettlement(tx, job.job, job.settlement, owner, now)) recorded.add(only.id);
  } else if (succeeded.length > 1) {
    const result = sql<string>`case id ${sql.join(
      succeeded.map((s) => sql`when ${s.id} then ${s.result}`),
      sql` `,
    )} end`;
    const rows = await tx.db
      .updateTable('jobs')
      .set({
        status: 'succeeded',
        result,
        finished_at: now,
        updated_at: now,
        lease_owner: null,
        lease_expires_at: null,
      })
      .where(
        'id',
        'in',
        succeeded.map((s) => s.id),
      )
      .where('status', '=', 'running')
      .where('lease_owner', '=', owner)
      .returning('id')
      .execute();
    for (const row of rows) recorded.add(row.id);
  }
  return recorded;
}
