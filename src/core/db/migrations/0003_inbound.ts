import { type Kysely, sql } from 'kysely';

/**
 * Inbound mail: mailboxes (runtime settings; credentials sealed), the resume point of each
 * watched folder, the inbound ledger (one row per message), the events each message raised,
 * routing rules, and leases for singleton work (one watcher per mailbox across instances).
 */
export function inbound() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('mailboxes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      // The resume point of a folder: every UID below next_uid (in this UIDVALIDITY) is in the ledger.
      await db.schema
        .createTable('mailbox_folders')
        .addColumn('mailbox_id', 'text', (c) => c.notNull().references('mailboxes.id').onDelete('cascade'))
        .addColumn('folder', 'text', (c) => c.notNull())
        .addColumn('uidvalidity', 'bigint', (c) => c.notNull())
        .addColumn('next_uid', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('mailbox_folders_pk', ['mailbox_id', 'folder'])
        .execute();

      await db.schema
        .createTable('inbound_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('mailbox_id', 'text')
        .addColumn('folder', 'text')
        .addColumn('uidvalidity', 'bigint')
        .addColumn('uid', 'bigint')
        .addColumn('message_id', 'text')
        .addColumn('content_hash', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('skip_reason', 'text')
        .addColumn('duplicate_of', 'text')
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('from_address', 'text')
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('matched_rules', 'text', (c) => c.notNull())
        .addColumn('subject_group', 'text')
        .addColumn('ack_state', 'text', (c) => c.notNull())
        .addColumn('ack_error', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // The IMAP identity of a message: recording it twice is impossible, whatever races.
      await sql`create unique index inbound_messages_imap on inbound_messages (mailbox_id, folder, uidvalidity, uid) where uid is not null`.execute(
        db,
      );
      await sql`create index inbound_messages_message_id on inbound_messages (message_id) where message_id is not null`.execute(
        db,
      );
      await sql`create index inbound_messages_hash on inbound_messages (content_hash)`.execute(db);
      await sql`create index inbound_messages_subject_group on inbound_messages (subject_group) where subject_group is not null`.execute(
        db,
      );
      // The watcher reads the handled messages its mailbox action has not been applied to yet.
      await sql`create index inbound_messages_ack on inbound_messages (mailbox_id, folder, uid) where ack_state = 'pending'`.execute(
        db,
      );
      await sql`create index inbound_messages_state on inbound_messages (state, id)`.execute(db);

      await db.schema
        .createTable('inbound_message_events')
        .addColumn('inbound_id', 'text', (c) =>
          c.notNull().references('inbound_messages.id').onDelete('cascade'),
        )
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('inbound_message_events_pk', ['inbound_id', 'event_id'])
        .execute();
      await sql`create index inbound_message_events_event on inbound_message_events (event_id)`.execute(db);

      await db.schema
        .createTable('rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'leases',
        'rules',
        'inbound_message_events',
        'inbound_messages',
        'mailbox_folders',
        'mailboxes',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
