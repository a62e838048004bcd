import { type Kysely, sql } from 'kysely';

/**
 * Scheduled reports: the definitions (runtime settings; data source credentials, ping URL and
 * trigger token sealed) and one row per run with its stages. A scheduled slot has at most one run
 * (`report_runs_slot`), whatever the number of instances; a manual trigger's idempotency key
 * is unique per report.
 */
export function reports() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text', (c) => c.notNull())
        // When the report was last resumed: slots while it was paused are not caught up.
        .addColumn('resumed_at', 'bigint')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      // A report's CSV goes out as an attachment of its message.
      await db.schema.alterTable('messages').addColumn('attachments', 'text').execute();

      await db.schema
        .createTable('report_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('report_id', 'text', (c) => c.notNull().references('reports.id').onDelete('cascade'))
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('slot_at', 'bigint')
        .addColumn('idempotency_scope', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stages', 'text', (c) => c.notNull())
        .addColumn('data', 'text')
        .addColumn('message_id', 'text')
        .addColumn('smtp_response', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('note', 'text')
        .addColumn('deadline_at', 'bigint')
        .addColumn('late_alerted_at', 'bigint')
        .addColumn('job_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`create unique index report_runs_slot on report_runs (report_id, slot_at) where slot_at is not null`.execute(
        db,
      );
      await sql`create unique index report_runs_idempotency on report_runs (idempotency_scope, idempotency_key) where idempotency_key is not null`.execute(
        db,
      );
      await sql`create index report_runs_report on report_runs (report_id, created_at)`.execute(db);
      await sql`create index report_runs_message on report_runs (message_id) where message_id is not null`.execute(
        db,
      );
      await sql`create index report_runs_open on report_runs (deadline_at) where finished_at is null`.execute(
        db,
      );
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('report_runs').execute();
      await db.schema.dropTable('reports').execute();
      await db.schema.alterTable('messages').dropColumn('attachments').execute();
    },
  };
}
