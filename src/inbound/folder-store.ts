import type { Kysely } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';

/**
 * SQL for what a watcher keeps per folder: its resume point (`mailbox_folders`) and the mailbox
 * actions waiting on its messages (`inbound_messages.ack_state`). No decisions here.
 */

/** The resume point of a folder, if it was ever connected. */
export async function folderCursor(
  db: Kysely<Database>,
  mailboxId: string,
  folder: string,
): Promise<{ uidvalidity: number; nextUid: number } | undefined> {
  const row = await db
    .selectFrom('mailbox_folders')
    .select(['uidvalidity', 'next_uid'])
    .where('mailbox_id', '=', mailboxId)
    .where('folder', '=', folder)
    .executeTakeFirst();
  return row ? { uidvalidity: Number(row.uidvalidity), nextUid: Number(row.next_uid) } : undefined;
}

/** Sets the resume point (a new folder, a new UIDVALIDITY, or UIDs recorded up to `nextUid - 1`). */
export async function saveFolderCursor(
  tx: Tx,
  cursor: { mailboxId: string; folder: string; uidvalidity: number; nextUid: number },
  now: number,
): Promise<void> {
  await tx.db
    .insertInto('mailbox_folders')
    .values({
      mailbox_id: cursor.mailboxId,
      folder: cursor.folder,
      uidvalidity: cursor.uidvalidity,
      next_uid: cursor.nextUid,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['mailbox_id', 'folder']).doUpdateSet({
        uidvalidity: cursor.uidvalidity,
        next_uid: cursor.nextUid,
        updated_at: now,
      }),
    )
    .execute();
}

/** When the newest message recorded from a folder reached the server; null when none was. */
export async function lastReceivedAt(
  db: Kysely<Database>,
  mailboxId: string,
  folder: string,
): Promise<number | null> {
  const last = await db
    .selectFrom('inbound_messages')
    .select((eb) => eb.fn.max('received_at').as('at'))
    .where('mailbox_id', '=', mailboxId)
    .where('folder', '=', folder)
    .executeTakeFirst();
  return last?.at ? Number(last.at) : null;
}

/** A message waiting for its mailbox action. */
export interface PendingAck {
  id: string;
  uid: number | null;
  uidvalidity: number | null;
}

/** Up to `limit` messages of a folder waiting for their mailbox action, in UID order. */
export async function pendingAcks(
  db: Kysely<Database>,
  mailboxId: string,
  folder: string,
  limit: number,
): Promise<PendingAck[]> {
  return db
    .selectFrom('inbound_messages')
    .select(['id', 'uid', 'uidvalidity'])
    .where('mailbox_id', '=', mailboxId)
    .where('folder', '=', folder)
    .where('ack_state', '=', 'pending')
    .orderBy('uid')
    .limit(limit)
    .execute();
}

/** The UIDs belong to an older UIDVALIDITY: they no longer name these messages. */
export async function markAcksStale(tx: Tx, ids: readonly string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await tx.db
    .updateTable('inbound_messages')
    .set({ ack_state: 'stale', updated_at: now })
    .where('id', 'in', ids)
    .execute();
}

/** The mailbox action failed: say why; it stays pending, for the next cycle. */
export async function noteAckError(
  tx: Tx,
  ids: readonly string[],
  error: string,
  now: number,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.db
    .updateTable('inbound_messages')
    .set({ ack_error: error, updated_at: now })
    .where('id', 'in', ids)
    .execute();
}

/** The mailbox action was applied: done, and delivered messages become acknowledged. */
export async function markAcksDone(tx: Tx, ids: readonly string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await tx.db
    .updateTable('inbound_messages')
    .set((eb) => ({
      ack_state: 'done',
      ack_error: null,
      state: eb.case().when('state', '=', 'delivered').then('acknowledged').else(eb.ref('state')).end(),
      updated_at: now,
    }))
    .where('id', 'in', ids)
    .execute();
}
