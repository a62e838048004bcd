import { type Kysely, type Selectable, sql } from 'kysely';
import {
  containsText,
  type Database,
  findByIdempotencyKey,
  type IdempotentInsert,
  insertOrSkipByIdempotencyKey,
  type Store,
  type Tx,
} from '../core/db/index.js';
import type { MessageAttemptsTable, MessagesTable } from '../core/db/schema.js';
import { runningJobIds } from '../core/jobs/index.js';
import { type MessageStatus, SEND_QUEUE } from './model.js';

/** SQL for outbound messages and their attempts. */

/** A stored message. */
export type MessageRow = Selectable<MessagesTable>;
/** A stored attempt. */
export type AttemptRow = Selectable<MessageAttemptsTable>;

/**
 * Attempt outcomes: `in_progress` while the send runs (shown from the running job, not stored:
 * an attempt is written with its outcome when the job settles); `sent`; `partial` (taken for some
 * recipients, refused with a 4xx for others, who get the next attempt); `transient_failure` (4xx,
 * network, timeout: retried while attempts remain); `permanent_failure` (5xx); `interrupted` when
 * the worker stopped before the server answered.
 */
export const ATTEMPT_OUTCOMES = [
  'in_progress',
  'sent',
  'partial',
  'transient_failure',
  'permanent_failure',
  'interrupted',
] as const;

/** One of ATTEMPT_OUTCOMES. */
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/**
 * Inserts a message unless its idempotency key is already taken in its scope; then answers the
 * message holding the key (`created: false`) and writes nothing.
 */
export async function insertMessage(tx: Tx, row: MessageRow): Promise<IdempotentInsert<MessageRow>> {
  return insertOrSkipByIdempotencyKey(tx, 'messages', row);
}

/** Inserts messages without idempotency keys, many rows per statement (a campaign's window). */
export async function insertMessages(tx: Tx, rows: readonly MessageRow[]): Promise<void> {
  // 28 columns a row: 100 rows stay well under every dialect's parameter limit.
  for (let offset = 0; offset < rows.length; offset += 100)
    await tx.db
      .insertInto('messages')
      .values(rows.slice(offset, offset + 100))
      .execute();
}

/** The message holding this idempotency key within a scope (an API key, or the CLI). */
export async function findMessageByIdempotencyKey(
  db: Kysely<Database>,
  scope: string,
  key: string,
): Promise<MessageRow | undefined> {
  return findByIdempotencyKey(db, 'messages', scope, key);
}

/** One message. */
export async function getMessageRow(db: Kysely<Database>, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The messages of `ids` that exist (one read for a claim's worth of send jobs). */
export async function getMessageRows(db: Kysely<Database>, ids: readonly string[]): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('messages').selectAll().where('id', 'in', ids).execute();
}

/** A message's attempts in order. */
export async function listAttempts(db: Kysely<Database>, messageId: string): Promise<AttemptRow[]> {
  return db
    .selectFrom('message_attempts')
    .selectAll()
    .where('message_id', '=', messageId)
    .orderBy('number')
    .execute();
}

/**
 * Messages, newest first, optionally by status, matching a search, before a cursor id.
 * `sending` is not stored: it is a `queued` message whose job runs now, so `queued` and
 * `sending` are told apart by the running jobs of the send queue. `q` matches the subject, the
 * sender or a recipient as a substring (ASCII case ignored), or the id or Message-ID exactly.
 */
export async function listMessageRows(
  store: Pick<Store, 'db' | 'dialect'>,
  filter: { status?: MessageStatus; q?: string; before?: string; limit: number },
): Promise<MessageRow[]> {
  const { db } = store;
  let query = db.selectFrom('messages').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status === 'sending' || filter.status === 'queued') {
    const running = runningJobIds(db, SEND_QUEUE);
    query = query
      .where('status', '=', 'queued')
      .where('job_id', filter.status === 'sending' ? 'in' : 'not in', running);
  } else if (filter.status) {
    query = query.where('status', '=', filter.status);
  }
  if (filter.before) query = query.where('id', '<', filter.before);
  const q = filter.q;
  if (q) {
    query = query.where((eb) =>
      eb.or([
        eb('id', '=', q),
        eb('message_id_header', '=', q),
        containsText(store.dialect, 'subject', q),
        containsText(store.dialect, 'from_address', q),
        containsText(store.dialect, 'to_addresses', q),
        containsText(store.dialect, 'cc_addresses', q),
      ]),
    );
  }
  return query.execute();
}

/**
 * Records a finished attempt (in the settlement transaction of the run that made it) and counts
 * it on its message.
 */
export async function insertAttempt(tx: Tx, row: AttemptRow, now: number): Promise<void> {
  await insertAttemptRows(tx, [row]);
  await tx.db
    .updateTable('messages')
    .set({ attempt_count: row.number, updated_at: now })
    .where('id', '=', row.message_id)
    .execute();
}

/** Records finished attempts in one statement without counting them: `markMessagesSent` counts them. */
export async function insertAttemptRows(tx: Tx, rows: readonly AttemptRow[]): Promise<void> {
  if (rows.length > 0) await tx.db.insertInto('message_attempts').values(rows).execute();
}

/**
 * Closes attempts left `in_progress` (by a version that recorded an attempt before sending) as
 * `interrupted`, with the reason; answers how many there were.
 */
export async function interruptOpenAttempts(
  tx: Tx,
  messageId: string,
  now: number,
  reason: { code: string; message: string },
): Promise<number> {
  const result = await tx.db
    .updateTable('message_attempts')
    .set({
      outcome: 'interrupted',
      finished_at: now,
      error_code: reason.code,
      error_message: `${reason.message}; ${MAY_HAVE_TAKEN}`,
    })
    .where('message_id', '=', messageId)
    .where('outcome', '=', 'in_progress')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** What an interrupted attempt's message adds to the reason. */
export const MAY_HAVE_TAKEN = 'the SMTP server may or may not have taken the message';

/**
 * Marks messages sent (every recipient was taken, or refused for good) in one statement, each
 * with the number of attempts it took: its last attempt is counted here, not by a second update.
 * `sent_at` keeps the first time any recipient had it.
 */
export async function markMessagesSent(
  tx: Tx,
  sent: readonly { messageId: string; attemptCount: number }[],
  now: number,
): Promise<void> {
  if (sent.length === 0) return;
  const attemptCount =
    sent.length === 1
      ? sql<number>`${(sent[0] as { attemptCount: number }).attemptCount}`
      : sql<number>`case id ${sql.join(
          sent.map((s) => sql`when ${s.messageId} then cast(${s.attemptCount} as integer)`),
          sql` `,
        )} end`;
  await tx.db
    .updateTable('messages')
    .set((eb) => ({
      attempt_count: attemptCount,
      status: 'sent',
      sent_at: eb.fn.coalesce('sent_at', eb.val(now)),
      updated_at: now,
      next_attempt_at: null,
      pending_recipients: null,
      last_error_code: null,
      last_error_message: null,
    }))
    .where(
      'id',
      'in',
      sent.map((s) => s.messageId),
    )
    .execute();
}

/** Records the recipients the next attempt must go to (refused with a 4xx so far). */
export async function setPendingRecipients(
  tx: Tx,
  messageId: string,
  recipients: string[],
  now: number,
  options: { firstSent?: boolean } = {},
): Promise<void> {
  await tx.db
    .updateTable('messages')
    .set((eb) => ({
      pending_recipients: JSON.stringify(recipients),
      updated_at: now,
      // Once some recipients have it, sentAt records when it first went out.
      ...(options.firstSent ? { sent_at: eb.fn.coalesce('sent_at', eb.val(now)) } : {}),
    }))
    .where('id', '=', messageId)
    .execute();
}

/** Sets a message's status after its job was settled (retry scheduled, failed, dead). */
export async function updateMessageStatus(
  tx: Tx,
  messageId: string,
  update: {
    status: MessageStatus;
    now: number;
    nextAttemptAt: number | null;
    error?: { code: string; message: string } | null;
  },
): Promise<void> {
  await tx.db
    .updateTable('messages')
    .set({
      status: update.status,
      updated_at: update.now,
      next_attempt_at: update.nextAttemptAt,
      ...(update.error !== undefined
        ? { last_error_code: update.error?.code ?? null, last_error_message: update.error?.message ?? null }
        : {}),
    })
    .where('id', '=', messageId)
    .where('status', '!=', 'sent')
    .execute();
}
