import { type Kysely, sql, type UpdateObject } from 'kysely';
import {
  type Database,
  findByIdempotencyKey,
  insertOrSkipByIdempotencyKey,
  type Tx,
} from '../core/db/index.js';
import type { WebhookAttemptsTable, WebhookDeliveriesTable, WebhookEventsTable } from '../core/db/schema.js';
import { bringJobsForward, cancelJobsByKey, runningJobIds, setMaxAttemptsByKey } from '../core/jobs/index.js';
import { DELIVERY_QUEUE } from './events.js';
import type { DeliveryStatus } from './model.js';

/** Row access for endpoints, events, deliveries and attempts. No decisions here. */

export type EventRow = WebhookEventsTable;
export type DeliveryRow = WebhookDeliveriesTable;
export type AttemptRow = WebhookAttemptsTable;

/** A delivery with what the API derives from its job and event. */
export interface DeliveryRowView extends DeliveryRow {
  job_status: string | null;
  event_type: string;
}

/** Cancels the waiting and running jobs of an endpoint's deliveries (it is being deleted). */
export async function cancelEndpointJobs(tx: Tx, endpointId: string, now: number): Promise<void> {
  await cancelJobsByKey(tx, DELIVERY_QUEUE, endpointId, now);
}

/** Disables an endpoint (410 Gone, failing too long); false when it already was. */
export async function disableEndpointRow(tx: Tx, id: string, reason: string, now: number): Promise<boolean> {
  const result = await tx.db
    .updateTable('webhook_endpoints')
    .set({ status: 'disabled', disabled_at: now, disabled_reason: reason, updated_at: now })
    .where('id', '=', id)
    .where('status', '!=', 'disabled')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Notes that the endpoint's failing alert went out; false when another process already did. */
export async function markEndpointWarned(tx: Tx, endpointId: string, now: number): Promise<boolean> {
  const marked = await tx.db
    .updateTable('webhook_endpoints')
    .set({ failure_warned_at: now })
    .where('id', '=', endpointId)
    .where('failure_warned_at', 'is', null)
    .executeTakeFirst();
  return Number(marked.numUpdatedRows) > 0;
}

/** Ends an endpoint's run of failures (a success). */
export async function clearEndpointFailing(tx: Tx, endpointId: string): Promise<void> {
  await tx.db
    .updateTable('webhook_endpoints')
    .set({ failing_since: null, failure_warned_at: null })
    .where('id', '=', endpointId)
    .where('failing_since', 'is not', null)
    .execute();
}

/** Starts an endpoint's run of failures at `now` unless one is running. */
export async function markEndpointFailing(tx: Tx, endpointId: string, now: number): Promise<void> {
  await tx.db
    .updateTable('webhook_endpoints')
    .set({ failing_since: now })
    .where('id', '=', endpointId)
    .where('failing_since', 'is', null)
    .execute();
}

/** Inserts an event; false (nothing written) when its idempotency key is already taken in its scope. */
export async function insertEvent(tx: Tx, row: EventRow): Promise<boolean> {
  return (await insertOrSkipByIdempotencyKey(tx, 'webhook_events', row)).created;
}

export async function findEventByIdempotencyKey(
  db: Kysely<Database>,
  scope: string,
  key: string,
): Promise<EventRow | undefined> {
  return findByIdempotencyKey(db, 'webhook_events', scope, key);
}

export async function getEventRow(db: Kysely<Database>, id: string): Promise<EventRow | undefined> {
  return db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertDeliveries(tx: Tx, rows: DeliveryRow[]): Promise<void> {
  if (rows.length > 0) await tx.db.insertInto('webhook_deliveries').values(rows).execute();
}

export async function listDeliveriesOfEvent(db: Kysely<Database>, eventId: string): Promise<DeliveryRow[]> {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('event_id', '=', eventId)
    .orderBy('id')
    .execute();
}

/** What a delivery job needs in one read: the delivery and its event. */
export async function getDeliveryWork(
  db: Kysely<Database>,
  deliveryId: string,
): Promise<
  (DeliveryRow & { event_type: string; event_payload: string; event_created_at: number }) | undefined
> {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .selectAll('d')
    .select(['e.type as event_type', 'e.payload as event_payload', 'e.created_at as event_created_at'])
    .where('d.id', '=', deliveryId)
    .executeTakeFirst();
}

/** A delivery with its event type and whether its job runs now (`delivering` is not stored). */
function deliveryViewQuery(db: Kysely<Database>) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .selectAll('d')
    .select((eb) => [
      'e.type as event_type',
      eb
        .case()
        .when('d.job_id', 'in', runningJobIds(db, DELIVERY_QUEUE))
        .then('running')
        .else(null)
        .end()
        .as('job_status'),
    ]);
}

export async function getDeliveryRow(db: Kysely<Database>, id: string): Promise<DeliveryRowView | undefined> {
  return deliveryViewQuery(db).where('d.id', '=', id).executeTakeFirst();
}

/** Filters of GET /api/deliveries. */
export interface DeliveryFilter {
  endpointId?: string;
  status?: DeliveryStatus;
  since?: number;
  before?: string;
  limit: number;
}

export async function listDeliveryRows(
  db: Kysely<Database>,
  filter: DeliveryFilter,
): Promise<DeliveryRowView[]> {
  let query = deliveryViewQuery(db);
  if (filter.endpointId !== undefined) query = query.where('d.endpoint_id', '=', filter.endpointId);
  if (filter.status === 'delivering') {
    query = query
      .where('d.status', 'in', ['pending', 'held'])
      .where('d.job_id', 'in', runningJobIds(db, DELIVERY_QUEUE));
  } else if (filter.status === 'pending' || filter.status === 'held') {
    query = query
      .where('d.status', '=', filter.status)
      .where('d.job_id', 'not in', runningJobIds(db, DELIVERY_QUEUE));
  } else if (filter.status !== undefined) {
    query = query.where('d.status', '=', filter.status);
  }
  if (filter.since !== undefined) query = query.where('d.created_at', '>=', filter.since);
  if (filter.before !== undefined) query = query.where('d.id', '<', filter.before);
  return query.orderBy('d.id', 'desc').limit(filter.limit).execute();
}

export async function updateDelivery(
  tx: Tx,
  id: string,
  values: UpdateObject<Database, 'webhook_deliveries', 'webhook_deliveries'>,
): Promise<void> {
  await tx.db.updateTable('webhook_deliveries').set(values).where('id', '=', id).execute();
}

/** The delivery's attempt count raised by `n`, for `updateDelivery`. */
export function attemptCountPlus(n: number) {
  return sql<number>`attempt_count + ${n}`;
}

/** How many attempts a delivery has recorded (undefined when it no longer exists). */
export async function getDeliveryAttemptCount(db: Kysely<Database>, id: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .select('attempt_count')
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? Number(row.attempt_count) : undefined;
}

/** A replayed delivery is pending again (only while `jobId` is still its job). */
export async function markDeliveryReplayed(tx: Tx, id: string, jobId: string, now: number): Promise<void> {
  await tx.db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: now, finished_at: null, updated_at: now })
    .where('id', '=', id)
    .where('job_id', '=', jobId)
    .execute();
}

export async function insertAttempts(tx: Tx, rows: AttemptRow[]): Promise<void> {
  if (rows.length > 0) await tx.db.insertInto('webhook_attempts').values(rows).execute();
}

export async function listAttemptRows(db: Kysely<Database>, deliveryId: string): Promise<AttemptRow[]> {
  return db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', '=', deliveryId)
    .orderBy('number')
    .orderBy('id')
    .execute();
}

/** Failed or dead deliveries of an endpoint created at or after `since`, oldest first. */
export async function listReplayableDeliveries(
  db: Kysely<Database>,
  endpointId: string,
  since: number,
  statuses: readonly string[],
): Promise<DeliveryRow[]> {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('endpoint_id', '=', endpointId)
    .where('status', 'in', statuses)
    .where('created_at', '>=', since)
    .orderBy('id')
    .execute();
}

/** Counts for metrics: held deliveries and the oldest open one's creation time. */
export async function openDeliveryStatistics(
  db: Kysely<Database>,
): Promise<{ held: number; pending: number; oldestPendingAt: number | null }> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['status', sql<number>`count(*)`.as('count'), sql<number | null>`min(created_at)`.as('oldest')])
    .where('status', 'in', ['pending', 'held'])
    .groupBy('status')
    .execute();
  const held = rows.find((r) => r.status === 'held');
  const pending = rows.find((r) => r.status === 'pending');
  return {
    held: Number(held?.count ?? 0),
    pending: Number(pending?.count ?? 0),
    oldestPendingAt: pending?.oldest == null ? null : Number(pending.oldest),
  };
}

/**
 * Runs an endpoint's waiting jobs now (endpoint resumed or changed, breaker closed). Only jobs
 * that wait for one of `codes` (or, with `fresh`, held since their event arrived) move: a retry
 * scheduled after a failure keeps its time.
 */
export async function bringEndpointJobsForward(
  tx: Tx,
  endpointId: string,
  now: number,
  codes: readonly string[],
  fresh: boolean,
): Promise<number> {
  return bringJobsForward(tx, { queue: DELIVERY_QUEUE, key: endpointId, codes, orNoError: fresh }, now);
}

/** Keeps queued jobs' attempt limit in step with a changed retry schedule. */
export async function setEndpointMaxAttempts(tx: Tx, endpointId: string, maxAttempts: number): Promise<void> {
  await setMaxAttemptsByKey(tx, DELIVERY_QUEUE, endpointId, maxAttempts);
}

/** For other features (inbound): the event a delivery belongs to. */
export async function eventOfDelivery(db: Kysely<Database>, deliveryId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .select('event_id')
    .where('id', '=', deliveryId)
    .executeTakeFirst();
  return row?.event_id;
}

/** A delivery as other features (inbound) see it. */
export type DeliverySummary = Pick<
  DeliveryRow,
  'id' | 'event_id' | 'endpoint_id' | 'status' | 'attempt_count' | 'last_error_code' | 'last_error_message'
>;

/** For other features (inbound): the deliveries of these events, in id order. */
export async function deliveriesOfEvents(
  db: Kysely<Database>,
  eventIds: readonly string[],
): Promise<DeliverySummary[]> {
  if (eventIds.length === 0) return [];
  return db
    .selectFrom('webhook_deliveries')
    .select([
      'id',
      'event_id',
      'endpoint_id',
      'status',
      'attempt_count',
      'last_error_code',
      'last_error_message',
    ])
    .where('event_id', 'in', eventIds)
    .orderBy('id')
    .execute();
}
