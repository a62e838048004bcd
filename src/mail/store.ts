import type { Kysely, Selectable } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import type { MessageAttemptsTable, MessagesTable } from '../core/db/schema.js';
import type { MessageStatus } from './model.js';
import type { RefusedRecipient } from './transport.js';

/** SQL for outbound messages and their attempts. */

/** A stored message. */
export type MessageRow = Selectable<MessagesTable>;
/** A stored attempt. */
export type AttemptRow = Selectable<MessageAttemptsTable>;

/**
 * Attempt outcomes: `in_progress` until the server answers; `sent`; `partial` (taken for some
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

/** Inserts a message; returns false if its idempotency key is already taken in its scope. */
export async function insertMessage(tx: Tx, row: MessageRow): Promise<boolean> {
  const inserted = await tx.db
    .insertInto('messages')
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

/** The message holding this idempotency key within a scope (an API key, or the CLI). */
export async function findMessageByIdempotencyKey(
  db: Kysely<Database>,
  scope: string,
  key: string,
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('idempotency_scope', '=', scope)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** One message. */
export async function getMessageRow(db: Kysely<Database>, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
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

/** Messages, newest first, optionally by status, before a cursor id. */
export async function listMessageRows(
  db: Kysely<Database>,
  filter: { status?: MessageStatus; before?: string; limit: number },
): Promise<MessageRow[]> {
  let query = db.selectFrom('messages').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.before) query = query.where('id', '<', filter.before);
  return query.execute();
}

/**
 * Opens attempt number `number`: the message becomes `sending`, and an attempt a dead worker
 * left open is closed as `interrupted` so the history shows what happened.
 */
export async function startAttempt(
  tx: Tx,
  messageId: string,
  attemptId: string,
  number: number,
  now: number,
): Promise<void> {
  await interruptOpenAttempts(tx, messageId, now, {
    code: 'JOB_LEASE_EXPIRED',
    message: 'the worker stopped before the server answered',
  });
  await tx.db
    .insertInto('message_attempts')
    .values({
      id: attemptId,
      message_id: messageId,
      number,
      started_at: now,
      finished_at: null,
      outcome: 'in_progress',
      smtp_code: null,
      smtp_response: null,
      error_code: null,
      error_message: null,
      accepted: null,
      rejected: null,
    })
    .execute();
  await tx.db
    .updateTable('messages')
    .set({ status: 'sending', attempt_count: number, next_attempt_at: null, updated_at: now })
    .where('id', '=', messageId)
    .execute();
}

/** Closes attempts a stopped worker left `in_progress` as `interrupted`, with the reason. */
export async function interruptOpenAttempts(
  tx: Tx,
  messageId: string,
  now: number,
  reason: { code: string; message: string },
): Promise<void> {
  await tx.db
    .updateTable('message_attempts')
    .set({
      outcome: 'interrupted',
      finished_at: now,
      error_code: reason.code,
      error_message: `${reason.message}; the SMTP server may or may not have taken the message`,
    })
    .where('message_id', '=', messageId)
    .where('outcome', '=', 'in_progress')
    .execute();
}

/** Closes an attempt with what the server said. */
export async function finishAttempt(
  tx: Tx,
  attemptId: string,
  result: {
    outcome: AttemptOutcome;
    now: number;
    smtpCode: number | null;
    smtpResponse: string | null;
    errorCode?: string | null;
    errorMessage?: string | null;
    accepted?: string[];
    rejected?: RefusedRecipient[];
  },
): Promise<void> {
  await tx.db
    .updateTable('message_attempts')
    .set({
      outcome: result.outcome,
      finished_at: result.now,
      smtp_code: result.smtpCode,
      smtp_response: result.smtpResponse,
      error_code: result.errorCode ?? null,
      error_message: result.errorMessage ?? null,
      accepted: result.accepted ? JSON.stringify(result.accepted) : null,
      rejected: result.rejected ? JSON.stringify(result.rejected) : null,
    })
    .where('id', '=', attemptId)
    .where('outcome', '=', 'in_progress')
    .execute();
}

/** Marks a message sent: every recipient was taken, or refused for good. */
export async function markMessageSent(tx: Tx, messageId: string, now: number): Promise<void> {
  await tx.db
    .updateTable('messages')
    .set((eb) => ({
      status: 'sent',
      sent_at: eb.fn.coalesce('sent_at', eb.val(now)),
      updated_at: now,
      next_attempt_at: null,
      pending_recipients: null,
      last_error_code: null,
      last_error_message: null,
    }))
    .where('id', '=', messageId)
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
