import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import { insertOrSkipByIdempotencyKey } from '../core/db/index.js';
import type { ReportRunsTable } from '../core/db/schema.js';
import type { RunStatus, Stage } from './model.js';

/** The SQL of report runs. */

export type RunRow = ReportRunsTable;

/** A run as the feature works with it (stages parsed). */
export interface Run {
  id: string;
  reportId: string;
  trigger: string;
  slotAt: number | null;
  status: RunStatus;
  stages: Stage[];
  data: Record<string, unknown> | null;
  messageId: string | null;
  smtpResponse: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  note: string | null;
  deadlineAt: number | null;
  lateAlertedAt: number | null;
  jobId: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
}

export function runFromRow(row: RunRow): Run {
  return {
    id: row.id,
    reportId: row.report_id,
    trigger: row.trigger,
    slotAt: row.slot_at === null ? null : Number(row.slot_at),
    status: row.status as RunStatus,
    stages: JSON.parse(row.stages) as Stage[],
    data: row.data === null ? null : (JSON.parse(row.data) as Record<string, unknown>),
    messageId: row.message_id,
    smtpResponse: row.smtp_response,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    note: row.note,
    deadlineAt: row.deadline_at === null ? null : Number(row.deadline_at),
    lateAlertedAt: row.late_alerted_at === null ? null : Number(row.late_alerted_at),
    jobId: row.job_id,
    idempotencyKey: row.idempotency_key,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Inserts a run for a scheduled slot unless that slot has one; false when it had. */
export async function insertSlotRun(tx: Tx, row: RunRow): Promise<boolean> {
  const inserted = await tx.db
    .insertInto('report_runs')
    .values(row)
    .onConflict((oc) => oc.columns(['report_id', 'slot_at']).where('slot_at', 'is not', null).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Inserts a manual run, or answers the run already holding its idempotency key. */
export async function insertManualRun(tx: Tx, row: RunRow): Promise<{ row: RunRow; created: boolean }> {
  return insertOrSkipByIdempotencyKey(tx, 'report_runs', row);
}

export async function getRunRow(db: Kysely<Database>, id: string): Promise<RunRow | undefined> {
  return db.selectFrom('report_runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The run of `reportId` for `slotAt`, if any. */
export async function getSlotRun(
  db: Kysely<Database>,
  reportId: string,
  slotAt: number,
): Promise<RunRow | undefined> {
  return db
    .selectFrom('report_runs')
    .selectAll()
    .where('report_id', '=', reportId)
    .where('slot_at', '=', slotAt)
    .executeTakeFirst();
}

/** The run that produced message `messageId`, if any. */
export async function getRunByMessage(db: Kysely<Database>, messageId: string): Promise<RunRow | undefined> {
  return db.selectFrom('report_runs').selectAll().where('message_id', '=', messageId).executeTakeFirst();
}

/** Runs of a report, newest first; `before` pages on by id. */
export async function listRunRows(
  db: Kysely<Database>,
  reportId: string,
  options: { limit: number; before?: string; status?: string },
): Promise<RunRow[]> {
  let query = db.selectFrom('report_runs').selectAll().where('report_id', '=', reportId);
  if (options.before) query = query.where('id', '<', options.before);
  if (options.status) query = query.where('status', '=', options.status);
  return query.orderBy('id', 'desc').limit(options.limit).execute();
}

/** The data pushed with the report's newest run that had some (a `push` report's preview page). */
export async function latestPushedData(
  db: Kysely<Database>,
  reportId: string,
): Promise<Record<string, unknown> | null> {
  const row = await db
    .selectFrom('report_runs')
    .select('data')
    .where('report_id', '=', reportId)
    .where('data', 'is not', null)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.data ? (JSON.parse(row.data) as Record<string, unknown>) : null;
}

/** The newest scheduled slot each report has a run for. */
export async function latestSlots(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('report_runs')
    .select(['report_id', sql<number>`max(slot_at)`.as('slot')])
    .where('slot_at', 'is not', null)
    .groupBy('report_id')
    .execute();
  return new Map(rows.map((r) => [r.report_id, Number(r.slot)]));
}

/** The newest run of each report (scheduled runs by slot, else by creation), for health; in progress or not. */
export async function latestRuns(db: Kysely<Database>): Promise<Map<string, RunRow>> {
  const rows = await db
    .selectFrom('report_runs as r')
    .selectAll('r')
    .where(({ eb, selectFrom }) =>
      eb(
        'r.id',
        '=',
        selectFrom('report_runs as l')
          .select('l.id')
          .whereRef('l.report_id', '=', 'r.report_id')
          .orderBy(sql`coalesce(l.slot_at, l.created_at)`, 'desc')
          .orderBy('l.id', 'desc')
          .limit(1),
      ),
    )
    .execute();
  return new Map(rows.map((r) => [r.report_id, r]));
}

/** Unfinished runs past their deadline that have not been alerted about. */
export async function lateRuns(db: Kysely<Database>, now: number): Promise<RunRow[]> {
  return db
    .selectFrom('report_runs')
    .selectAll()
    .where('finished_at', 'is', null)
    .where('deadline_at', '<=', now)
    .where('late_alerted_at', 'is', null)
    .limit(100)
    .execute();
}

/** The earliest deadline of an unfinished run still to alert about. */
export async function nextDeadline(db: Kysely<Database>): Promise<number | null> {
  const row = await db
    .selectFrom('report_runs')
    .select(sql<number | null>`min(deadline_at)`.as('at'))
    .where('finished_at', 'is', null)
    .where('late_alerted_at', 'is', null)
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

/** Marks a late run alerted; false when another process did first. */
export async function markLateAlerted(tx: Tx, id: string, now: number): Promise<boolean> {
  const result = await tx.db
    .updateTable('report_runs')
    .set({ late_alerted_at: now, updated_at: now })
    .where('id', '=', id)
    .where('late_alerted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** The changed columns of a run. */
export type RunChange = Partial<
  Pick<
    RunRow,
    | 'status'
    | 'message_id'
    | 'smtp_response'
    | 'error_code'
    | 'error_message'
    | 'started_at'
    | 'finished_at'
    | 'job_id'
    | 'note'
  >
> & { stages?: Stage[] };

/** Writes a run's changes; with `unlessFinal`, leaves a run already sent, failed or missed alone. */
export async function updateRun(
  tx: Tx,
  id: string,
  change: RunChange,
  now: number,
  options: { unlessFinal?: boolean } = {},
): Promise<boolean> {
  const { stages, ...columns } = change;
  let query = tx.db
    .updateTable('report_runs')
    .set({ ...columns, ...(stages ? { stages: JSON.stringify(stages) } : {}), updated_at: now })
    .where('id', '=', id);
  if (options.unlessFinal) query = query.where('status', 'not in', ['sent', 'failed', 'missed']);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Reads a run in a transaction, locking it on PostgreSQL. */
export async function lockRun(tx: Tx, id: string): Promise<RunRow | undefined> {
  let query = tx.db.selectFrom('report_runs').selectAll().where('id', '=', id);
  if (tx.dialect === 'postgres') query = query.forUpdate();
  return query.executeTakeFirst();
}
