import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../store.js';

/**
 * The foundation: jobs, API keys, outbound messages and their attempts, the mail catcher,
 * settings. Times are epoch milliseconds (bigint), JSON is text: the same on both dialects.
 */
export function foundation(dialect: Dialect) {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('queue', 'text', (c) => c.notNull())
        .addColumn('concurrency_key', 'text')
        .addColumn('idempotency_key', 'text')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('last_error_code', 'text')
        .addColumn('last_error_message', 'text')
        .addColumn('result', 'text')
        .addColumn('replays', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute();
      // Indexes are paid on every insert: each one here is partial where it can be, so that a new
      // job without an idempotency key writes two index entries (primary key, claimable).
      await sql`create unique index jobs_queue_idempotency on jobs (queue, idempotency_key) where idempotency_key is not null`.execute(
        db,
      );
      // The claim query walks this partial index in priority, run_at order.
      await sql`create index jobs_claimable on jobs (queue, priority desc, run_at, id) where status = 'queued'`.execute(
        db,
      );
      await sql`create index jobs_leased on jobs (lease_expires_at) where status = 'running'`.execute(db);
      await sql`create index jobs_owner on jobs (lease_owner) where status = 'running'`.execute(db);
      await sql`create index jobs_prunable on jobs (finished_at) where status in ('succeeded', 'cancelled')`.execute(
        db,
      );

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();

      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('from_address', 'text', (c) => c.notNull())
        .addColumn('to_addresses', 'text', (c) => c.notNull())
        .addColumn('cc_addresses', 'text', (c) => c.notNull())
        .addColumn('bcc_addresses', 'text', (c) => c.notNull())
        .addColumn('reply_to', 'text')
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('text_body', 'text')
        .addColumn('html_body', 'text')
        .addColumn('headers', 'text', (c) => c.notNull())
        .addColumn('message_id_header', 'text', (c) => c.notNull())
        .addColumn('idempotency_scope', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('api_key_id', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('pending_recipients', 'text')
        .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_error_code', 'text')
        .addColumn('last_error_message', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('messages_status_created')
        .on('messages')
        .columns(['status', 'id'])
        .execute();
      // Idempotency keys are per API key (the scope), so one client cannot see another's messages.
      await sql`create unique index messages_idempotency on messages (idempotency_scope, idempotency_key) where idempotency_key is not null`.execute(
        db,
      );

      await db.schema
        .createTable('message_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('smtp_code', 'integer')
        .addColumn('smtp_response', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('accepted', 'text')
        .addColumn('rejected', 'text')
        .execute();
      await db.schema
        .createIndex('message_attempts_message')
        .on('message_attempts')
        .columns(['message_id', 'number'])
        .execute();

      await db.schema
        .createTable('catcher_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text')
        .addColumn('from_address', 'text')
        .addColumn('to_addresses', 'text', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('raw', binary as 'blob', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'settings',
        'catcher_messages',
        'message_attempts',
        'messages',
        'api_keys',
        'jobs',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
