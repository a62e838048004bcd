import { type Kysely, sql } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';

/**
 * SQL for the inbound ledger (`inbound_messages`) and the webhook events its messages raised
 * (`inbound_message_events`). No decisions here. Folder resume points and mailbox actions are in
 * folder-store.ts.
 */

/** A ledger row. */
export type LedgerRow = Database['inbound_messages'];

/** Rows per statement when a list of ids or rows is long. */
const CHUNK = 500;
const INSERT_CHUNK = 200;

/**
 * First recordings (not duplicates, parsed) with one of these content hashes, oldest first:
 * what a new arrival may be a duplicate of.
 */
export async function findFirstRecordings(
  db: Kysely<Database>,
  contentHashes: readonly string[],
): Promise<Array<Pick<LedgerRow, 'id' | 'message_id' | 'content_hash'>>> {
  const found: Array<Pick<LedgerRow, 'id' | 'message_id' | 'content_hash'>> = [];
  for (let offset = 0; offset < contentHashes.length; offset += CHUNK) {
    const rows = await db
      .selectFrom('inbound_messages')
      .select(['id', 'message_id', 'content_hash'])
      .where('content_hash', 'in', contentHashes.slice(offset, offset + CHUNK))
      .where('duplicate_of', 'is', null)
      // A recording that could not be parsed (a worker that crashed, a parser bug since fixed)
      // does not make a new copy a duplicate: the copy gets its chance.
      .where('email', 'is not', null)
      .orderBy('id')
      .execute();
    found.push(...rows);
  }
  return found;
}

/** Inserts rows, skipping IMAP coordinates already recorded; returns the ids written. */
export async function insertLedgerRows(tx: Tx, rows: readonly LedgerRow[]): Promise<Set<string>> {
  const written = new Set<string>();
  for (let offset = 0; offset < rows.length; offset += INSERT_CHUNK) {
    const inserted = await tx.db
      .insertInto('inbound_messages')
      .values(rows.slice(offset, offset + INSERT_CHUNK))
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .execute();
    for (const row of inserted) written.add(row.id);
  }
  return written;
}

/** One ledger row. */
export async function getLedgerRow(db: Kysely<Database>, id: string): Promise<LedgerRow | undefined> {
  return db.selectFrom('inbound_messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A row's state inside `tx`, locked until commit on PostgreSQL (SQLite runs one writer at a time). */
export async function lockLedgerState(tx: Tx, id: string): Promise<string | undefined> {
  let query = tx.db.selectFrom('inbound_messages').select('state').where('id', '=', id);
  if (tx.dialect === 'postgres') query = query.forUpdate();
  return (await query.executeTakeFirst())?.state;
}

/** A row's stored email (JSON), or null. */
export async function getLedgerEmail(db: Kysely<Database>, id: string): Promise<string | null> {
  const row = await db.selectFrom('inbound_messages').select('email').where('id', '=', id).executeTakeFirst();
  return row?.email ?? null;
}

/** Filters of a ledger page: state, mailbox, the cursor (ids before it), how many rows. */
export interface LedgerQuery {
  state?: string | undefined;
  mailbox?: string | undefined;
  before?: string | undefined;
  limit: number;
}

/** One page of the ledger, newest first (`limit` rows at most). */
export async function listLedgerRows(db: Kysely<Database>, query: LedgerQuery): Promise<LedgerRow[]> {
  let select = db.selectFrom('inbound_messages').selectAll().orderBy('id', 'desc').limit(query.limit);
  if (query.state) select = select.where('state', '=', query.state);
  if (query.mailbox) select = select.where('mailbox_id', '=', query.mailbox);
  if (query.before) select = select.where('id', '<', query.before);
  return select.execute();
}

/** The newest parsed first recordings (no duplicates), newest first: what a backtest runs over. */
export async function listRecentParsedRows(
  db: Kysely<Database>,
  limit: number,
): Promise<
  Array<Pick<LedgerRow, 'id' | 'source' | 'subject' | 'from_address' | 'received_at' | 'state' | 'email'>>
> {
  return db
    .selectFrom('inbound_messages')
    .select(['id', 'source', 'subject', 'from_address', 'received_at', 'state', 'email'])
    .where('email', 'is not', null)
    .where('duplicate_of', 'is', null)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/**
 * True when another message of the same subject group was already routed. On PostgreSQL two
 * instances routing the same group at once are serialised: the second waits for the first's commit.
 */
export async function subjectGroupTaken(tx: Tx, group: string, id: string): Promise<boolean> {
  if (tx.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext(${group}))`.execute(tx.db);
  const other = await tx.db
    .selectFrom('inbound_messages')
    .select('id')
    .where('subject_group', '=', group)
    .where('id', '!=', id)
    .where('state', 'in', ['matched', 'delivered', 'acknowledged', 'unmatched'])
    .executeTakeFirst();
  return other !== undefined;
}

/** What routing writes on a row. */
export type RoutingUpdate = Pick<
  LedgerRow,
  | 'state'
  | 'skip_reason'
  | 'tags'
  | 'matched_rules'
  | 'subject_group'
  | 'error_code'
  | 'error_message'
  | 'ack_state'
  | 'updated_at'
>;

/** Writes a row's routing. */
export async function saveRouting(tx: Tx, id: string, update: RoutingUpdate): Promise<void> {
  await tx.db.updateTable('inbound_messages').set(update).where('id', '=', id).execute();
}

/** Records on a row still `parsed` why its routing failed for good. */
export async function noteRoutingFailed(
  tx: Tx,
  id: string,
  error: { code: string; message: string },
  now: number,
): Promise<void> {
  await tx.db
    .updateTable('inbound_messages')
    .set({ error_code: error.code, error_message: error.message, updated_at: now })
    .where('id', '=', id)
    .where('state', '=', 'parsed')
    .execute();
}

/**
 * A message whose deliveries all succeeded: `matched` becomes `delivered`, a mailbox action
 * `waiting` becomes `pending`. Answers the row's mailbox and action state when it changed.
 */
export async function markLedgerDelivered(
  tx: Tx,
  id: string,
  now: number,
): Promise<{ mailbox_id: string | null; ack_state: string } | undefined> {
  return tx.db
    .updateTable('inbound_messages')
    .set((eb) => ({
      state: eb.case().when('state', '=', 'matched').then('delivered').else(eb.ref('state')).end(),
      ack_state: eb.case().when('ack_state', '=', 'waiting').then('pending').else(eb.ref('ack_state')).end(),
      updated_at: now,
    }))
    .where('id', '=', id)
    .where((eb) => eb.or([eb('state', '=', 'matched'), eb('ack_state', '=', 'waiting')]))
    .returning(['mailbox_id', 'ack_state'])
    .executeTakeFirst();
}

/** Links a webhook event to the message that raised it. */
export async function linkEvent(tx: Tx, inboundId: string, eventId: string): Promise<void> {
  await tx.db
    .insertInto('inbound_message_events')
    .values({ inbound_id: inboundId, event_id: eventId })
    .execute();
}

/** The messages that raised an event. */
export async function messagesOfEvent(db: Kysely<Database>, eventId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('inbound_message_events')
    .select('inbound_id')
    .where('event_id', '=', eventId)
    .execute();
  return rows.map((r) => r.inbound_id);
}

/** The events a message raised. */
export async function eventsOfMessage(db: Kysely<Database>, inboundId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('inbound_message_events')
    .select('event_id')
    .where('inbound_id', '=', inboundId)
    .execute();
  return rows.map((r) => r.event_id);
}
