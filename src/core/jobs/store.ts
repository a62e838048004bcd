import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type { Database, Store, Tx } from '../db/index.js';
import type { JobsTable } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import type { Job, JobSpec, JobStatus } from './model.js';

/**
 * The job engine's SQL. Claiming is one atomic statement on both dialects:
 * `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING *`, with `FOR UPDATE SKIP LOCKED`
 * on PostgreSQL so that concurrent claimers take different rows instead of waiting.
 */

/** The notification channel that wakes workers; the payload is the queue name. */
export const JOBS_CHANNEL = 'jobs';

type JobRow = Selectable<JobsTable>;

/** Converts a row into a Job. */
export function jobFromRow<P = unknown>(row: JobRow): Job<P> {
  return {
    id: row.id,
    queue: row.queue,
    concurrencyKey: row.concurrency_key,
    idempotencyKey: row.idempotency_key,
    payload: JSON.parse(row.payload) as P,
    status: row.status as JobStatus,
    priority: Number(row.priority),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    runAt: Number(row.run_at),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    lastError: row.last_error_code
      ? { code: row.last_error_code, message: row.last_error_message ?? '' }
      : null,
    result: row.result === null ? null : JSON.parse(row.result),
    replays: Number(row.replays),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

function newJobRow<P>(spec: JobSpec<P>, now: number): Insertable<JobsTable> & { id: string } {
  if (!Number.isInteger(spec.maxAttempts) || spec.maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be a whole number >= 1 (got ${spec.maxAttempts})`);
  }
  return {
    id: uuidv7(),
    queue: spec.queue,
    concurrency_key: spec.concurrencyKey ?? null,
    idempotency_key: spec.idempotencyKey ?? null,
    payload: JSON.stringify(spec.payload ?? null),
    status: 'queued',
    priority: spec.priority ?? 0,
    attempts: 0,
    max_attempts: spec.maxAttempts,
    run_at: spec.runAt ?? now,
    replays: 0,
    created_at: now,
    updated_at: now,
  };
}

/**
 * Inserts a job in the caller's transaction (the outbox pattern) and signals workers at commit.
 * With an idempotency key already used in the queue, returns the existing job and `created: false`.
 */
export async function enqueueJob<P>(
  tx: Tx,
  spec: JobSpec<P>,
  now: number,
): Promise<{ job: Job<P>; created: boolean }> {
  const row = newJobRow(spec, now);
  const inserted = await tx.db
    .insertInto('jobs')
    .values(row)
    // The conflict target names the partial unique index, predicate included.
    .onConflict((oc) =>
      oc.columns(['queue', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing(),
    )
    .returningAll()
    .executeTakeFirst();
  if (inserted) {
    tx.notify(JOBS_CHANNEL, spec.queue);
    return { job: jobFromRow<P>(inserted), created: true };
  }
  const existing = await tx.db
    .selectFrom('jobs')
    .selectAll()
    .where('queue', '=', spec.queue)
    .where('idempotency_key', '=', spec.idempotencyKey ?? null)
    .executeTakeFirstOrThrow();
  return { job: jobFromRow<P>(existing), created: false };
}

/** Inserts many jobs in one statement (no idempotency keys), for bulk producers. */
export async function enqueueJobs<P>(tx: Tx, specs: readonly JobSpec<P>[], now: number): Promise<string[]> {
  const ids: string[] = [];
  const queues = new Set<string>();
  for (let offset = 0; offset < specs.length; offset += 500) {
    const rows = specs.slice(offset, offset + 500).map((spec) => {
      const row = newJobRow(spec, now);
      ids.push(row.id);
      queues.add(spec.queue);
      return row;
    });
    await tx.db.insertInto('jobs').values(rows).execute();
  }
  for (const queue of queues) tx.notify(JOBS_CHANNEL, queue);
  return ids;
}

/** Parameters of one claim. */
export interface ClaimRequest {
  queue: string;
  limit: number;
  owner: string;
  leaseMs: number;
  now: number;
  /** Concurrency keys that are saturated in this process: skip their jobs. */
  excludeKeys: readonly string[];
  /** Claim only jobs of this concurrency key. */
  onlyKey?: string;
}

/** Atomically moves up to `limit` due jobs of a queue to `running`, leased to `owner`. */
export async function claimJobs(store: Pick<Store, 'db' | 'dialect'>, request: ClaimRequest): Promise<Job[]> {
  const { queue, limit, owner, leaseMs, now, excludeKeys, onlyKey } = request;
  const keyFilter =
    onlyKey !== undefined
      ? sql`and concurrency_key = ${onlyKey}`
      : excludeKeys.length === 0
        ? sql``
        : sql`and (concurrency_key is null or concurrency_key not in (${sql.join(excludeKeys.map((k) => sql`${k}`))}))`;
  const set = sql`status = 'running', lease_owner = ${owner}, lease_expires_at = ${now + leaseMs},
           attempts = attempts + 1, started_at = ${now}, updated_at = ${now}`;
  const due = sql`queue = ${queue} and status = 'queued' and run_at <= ${now} ${keyFilter}
        order by priority desc, run_at, id limit ${limit}`;
  // PostgreSQL may re-run an IN (subquery ... LIMIT) once per outer row and so claim more than
  // the limit; a MATERIALIZED CTE runs once. SKIP LOCKED lets concurrent claimers take other rows.
  const result =
    store.dialect === 'postgres'
      ? await sql<JobRow>`
    with picked as materialized (select id from jobs where ${due} for update skip locked)
    update jobs set ${set} from picked where jobs.id = picked.id returning jobs.*`.execute(store.db)
      : await sql<JobRow>`
    update jobs set ${set} where id in (select id from jobs where ${due}) returning *`.execute(store.db);
  return result.rows
    .map((row) => jobFromRow(row))
    .sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : 1));
}

/** Renews the leases of every job `owner` runs; returns the ids it still holds (renewed now, or at the next pass when locked). */
export async function renewLeases(
  store: Store,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<Set<string>> {
  if (store.dialect === 'postgres') {
    // SKIP LOCKED: a row being settled (its settlement batch holds the lock) is renewed at the
    // next pass. Waiting for it deadlocked against the batch, which locks its rows in its own
    // order. The outer select (the statement's snapshot) says which jobs are still ours,
    // renewed now or not.
    const result = await sql<{ id: string }>`
    with mine as materialized (
      select id from jobs where lease_owner = ${owner} and status = 'running' for update skip locked),
    renewed as (update jobs set lease_expires_at = ${now + leaseMs} from mine where jobs.id = mine.id)
    select id from jobs where lease_owner = ${owner} and status = 'running'`.execute(store.db);
    return new Set(result.rows.map((r) => r.id));
  }
  const rows = await store.db
    .updateTable('jobs')
    .set({ lease_expires_at: now + leaseMs })
    .where('lease_owner', '=', owner)
    .where('status', '=', 'running')
    .returning('id')
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Running jobs whose lease has expired (their process died or stalled). */
export async function findExpiredLeases(db: Kysely<Database>, now: number, limit: number): Promise<Job[]> {
  const rows = await db
    .selectFrom('jobs')
    .selectAll()
    .where('status', '=', 'running')
    .where('lease_expires_at', '<', now)
    .orderBy('lease_expires_at')
    .limit(limit)
    .execute();
  return rows.map((row) => jobFromRow(row));
}

/**
 * Running jobs whose lease owner starts with `prefix`, by id after `afterId`. Candidates only:
 * SQLite's LIKE ignores ASCII case, so the caller compares each owner exactly.
 */
export async function findRunningJobsByOwnerPrefix(
  db: Kysely<Database>,
  prefix: string,
  afterId: string,
  limit: number,
): Promise<Job[]> {
  const pattern = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await db
    .selectFrom('jobs')
    .selectAll()
    .where('status', '=', 'running')
    // SQLite's LIKE has no escape character unless one is named.
    .where(sql<boolean>`lease_owner like ${pattern} escape '\\'`)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => jobFromRow(row));
}

/** Puts jobs `owner` holds back in the queue without counting the attempt (shutdown, over-claim). */
export async function releaseJobs(
  store: Store,
  ids: readonly string[],
  owner: string,
  now: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  return store.transaction(async (tx) => {
    const result = await tx.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'queued',
        lease_owner: null,
        lease_expires_at: null,
        attempts: eb('attempts', '-', 1),
        updated_at: now,
      }))
      .where('id', 'in', ids)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    const count = Number(result.numUpdatedRows);
    if (count > 0) {
      const queues = await tx.db
        .selectFrom('jobs')
        .select('queue')
        .distinct()
        .where('id', 'in', ids)
        .execute();
      for (const { queue } of queues) tx.notify(JOBS_CHANNEL, queue);
    }
    return count;
  });
}

/** The earliest `run_at` of a queued job in `queue`, if any. */
export async function nextRunAt(db: Kysely<Database>, queue: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('jobs')
    .select('run_at')
    .where('queue', '=', queue)
    .where('status', '=', 'queued')
    .orderBy('run_at')
    .limit(1)
    .executeTakeFirst();
  return row ? Number(row.run_at) : undefined;
}

/** Reads one job. */
export async function getJob(db: Kysely<Database>, id: string): Promise<Job | undefined> {
  const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? jobFromRow(row) : undefined;
}

/** Moves a `dead` or `failed` job back to `queued` with fresh attempts. Returns the job, or undefined if not replayable. */
export async function replayJob(tx: Tx, id: string, now: number): Promise<Job | undefined> {
  const row = await tx.db
    .updateTable('jobs')
    .set((eb) => ({
      status: 'queued',
      attempts: 0,
      run_at: now,
      finished_at: null,
      updated_at: now,
      replays: eb('replays', '+', 1),
    }))
    .where('id', '=', id)
    .where('status', 'in', ['dead', 'failed'])
    .returningAll()
    .executeTakeFirst();
  if (!row) return undefined;
  tx.notify(JOBS_CHANNEL, row.queue);
  return jobFromRow(row);
}

/** Deletes succeeded and cancelled jobs finished before `before`; returns how many. */
export async function pruneFinishedJobs(db: Kysely<Database>, before: number): Promise<number> {
  const result = await db
    .deleteFrom('jobs')
    .where('status', 'in', ['succeeded', 'cancelled'])
    .where('finished_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Counts of unfinished jobs per queue and status, and the oldest due queued job per queue. */
export async function queueStatistics(
  db: Kysely<Database>,
  now: number,
): Promise<Array<{ queue: string; status: string; count: number; oldestRunAt: number | null }>> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => [
      'queue',
      'status',
      eb.fn.countAll<number>().as('count'),
      eb.fn.min('run_at').as('oldest'),
    ])
    .where('status', 'in', ['queued', 'running'])
    .groupBy(['queue', 'status'])
    .execute();
  return rows.map((r) => ({
    queue: r.queue,
    status: r.status,
    count: Number(r.count),
    oldestRunAt:
      r.status === 'queued' && r.oldest !== null && Number(r.oldest) <= now ? Number(r.oldest) : null,
  }));
}
