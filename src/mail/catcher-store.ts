import type { Kysely, Selectable } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import type { CatcherMessagesTable } from '../core/db/schema.js';

/** SQL for the built-in catcher's messages. */

/** A caught message as stored. */
export type CaughtRow = Selectable<CatcherMessagesTable>;

/** Stores a caught message. */
export async function insertCaught(tx: Tx, row: CaughtRow): Promise<void> {
  await tx.db.insertInto('catcher_messages').values(row).execute();
}

/** Deletes all but the newest `retain` caught messages. */
export async function pruneCaught(db: Kysely<Database>, retain: number): Promise<void> {
  const boundary = await db
    .selectFrom('catcher_messages')
    .select('id')
    .orderBy('id', 'desc')
    .offset(retain - 1)
    .limit(1)
    .executeTakeFirst();
  if (boundary) await db.deleteFrom('catcher_messages').where('id', '<', boundary.id).execute();
}

/** Caught messages without their source, newest first. */
export async function listCaughtRows(
  db: Kysely<Database>,
  filter: { limit: number; before?: string },
): Promise<Omit<CaughtRow, 'raw'>[]> {
  let query = db
    .selectFrom('catcher_messages')
    .select(['id', 'message_id', 'from_address', 'to_addresses', 'subject', 'size', 'received_at'])
    .orderBy('id', 'desc')
    .limit(filter.limit);
  if (filter.before) query = query.where('id', '<', filter.before);
  return query.execute();
}

/** One caught message with its source. */
export async function getCaughtRow(db: Kysely<Database>, id: string): Promise<CaughtRow | undefined> {
  return db.selectFrom('catcher_messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Deletes every caught message; returns how many. */
export async function clearCaught(db: Kysely<Database>): Promise<number> {
  const result = await db.deleteFrom('catcher_messages').executeTakeFirst();
  return Number(result.numDeletedRows);
}
