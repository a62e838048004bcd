import { type Kysely, sql } from 'kysely';

/**
 * Indexes for the activity series (`stats/`, `GET /api/stats/activity`): each series reads a
 * time range of one table. Partial where they can be, so the hot write paths pay little: a
 * message enters `messages_sent_at` once, when it is sent, and `messages_failed_at` only if it
 * fails (its `updated_at` changes on every write, so a full index on it would be paid by every
 * send); webhook attempts and inbound messages are written once, so a plain index costs one
 * entry per row.
 */
export function activityIndexes() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`create index messages_sent_at on messages (sent_at) where sent_at is not null`.execute(db);
      await sql`create index messages_failed_at on messages (status, updated_at) where status = 'failed'`.execute(
        db,
      );
      await sql`create index webhook_attempts_finished on webhook_attempts (finished_at)`.execute(db);
      await sql`create index inbound_messages_received on inbound_messages (received_at)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const index of [
        'messages_sent_at',
        'messages_failed_at',
        'webhook_attempts_finished',
        'inbound_messages_received',
      ])
        await sql`drop index if exists ${sql.raw(index)}`.execute(db);
    },
  };
}
