import { type Kysely, sql, type UpdateObject } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import type {
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
  WebhookEventsTable,
} from '../core/db/schema.js';
import type { DeliveryStatus } from './model.js';

/** Row access for endpoints, events, deliveries and attempts. No decisions here. */

export type EndpointRow = WebhookEndpointsTable;
export type EventRow = WebhookEventsTable;
export type DeliveryRow = WebhookDeliveriesTable;
export type AttemptRow = WebhookAttemptsTable;

/** A delivery with what the API derives from its job and event. */
export interface DeliveryRowView extends DeliveryRow {
  job_status: string | null;
  event_type: string;
}

export async function insertEndpoint(tx: Tx, row: EndpointRow): Promise<void> {
  await tx.db.insertInto('webhook_endpoints').values(row).execute();
}

export async function getEndpointRow(db: Kysely<Database>, id: string): Promise<EndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listEndpointRows(db: Kysely<Database>): Promise<EndpointRow[]> {
  return db.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute();
}

export async function updateEndpointRow(
  tx: Tx,
  id: string,
  values: Partial<Omit<EndpointRow, 'id' | 'created_at'>>,
): Promise<boolean> {
  const result = await tx.db
    .updateTable('webhook_endpoints')
    .set(values)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function deleteEndpointRow(tx: Tx, id: string, now: number): Promise<boolean> {
  // Cancel the jobs of its deliveries first: the rows they point at are about to go.
  await tx.db
    .updateTable('jobs')
    .set({
      status: 'cancelled',
      finished_at: now,
      updated_at: now,
      lease_owner: null,
      lease_expires_at: null,
    })
    .where('queue', '=', 'webhook.deliver')
    .where('concurrency_key', '=', id)
    .where('status', 'in', ['queued', 'running'])
    .execute();
  const result = await tx.db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function insertEvent(tx: Tx, row: EventRow): Promise<boolean> {
  const inserted = await tx.db
    .insertInto('webhook_events')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['idempotency_scope', 'idempotency_key'])
        .where('idempotency_key', 'is not', null)
        .doNothing(),
    )
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function findEventByIdempotencyKey(
  db: Kysely<Database>,
  scope: string,
  key: string,
): Promise<EventRow | undefined> {
  return db
    .selectFrom('webhook_events')
    .selectAll()
    .where('idempotency_scope', '=', scope)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
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

function deliveryViewQuery(db: Kysely<Database>) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .leftJoin('jobs as j', 'j.id', 'd.job_id')
    .selectAll('d')
    .select(['j.status as job_status', 'e.type as event_type']);
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
    query = query.where('d.status', 'in', ['pending', 'held']).where('j.status', '=', 'running');
  } else if (filter.status === 'pending' || filter.status === 'held') {
    query = query
      .where('d.status', '=', filter.status)
      .where((eb) => eb.or([eb('j.status', 'is', null), eb('j.status', '!=', 'running')]));
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
  const result = await tx.db
    .updateTable('jobs')
    .set({ run_at: now, updated_at: now })
    .where('queue', '=', 'webhook.deliver')
    .where('concurrency_key', '=', endpointId)
    .where('status', '=', 'queued')
    .where('run_at', '>', now)
    .where((eb) =>
      fresh
        ? eb.or([eb('last_error_code', 'in', codes), eb('last_error_code', 'is', null)])
        : eb('last_error_code', 'in', codes),
    )
    .executeTakeFirst();
  const moved = Number(result.numUpdatedRows);
  if (moved > 0) tx.notify('jobs', 'webhook.deliver');
  return moved;
}

/** Keeps queued jobs' attempt limit in step with a changed retry schedule. */
export async function setEndpointMaxAttempts(tx: Tx, endpointId: string, maxAttempts: number): Promise<void> {
  await tx.db
    .updateTable('jobs')
    .set({ max_attempts: maxAttempts })
    .where('queue', '=', 'webhook.deliver')
    .where('concurrency_key', '=', endpointId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
}
