import { type Kysely, sql } from 'kysely';

/**
 * Webhook delivery: endpoints (runtime settings; secrets sealed), events, one delivery per
 * event and subscribed endpoint, and every attempt. Same conventions as the foundation.
 */
export function webhooks() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // Claims for one concurrency key (an endpoint that freed a slot) walk this index, not
      // every due job of every key.
      await sql`create index jobs_claimable_by_key on jobs (queue, concurrency_key, priority desc, run_at, id) where status = 'queued' and concurrency_key is not null`.execute(
        db,
      );

      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text', (c) => c.notNull())
        .addColumn('failing_since', 'bigint')
        .addColumn('failure_warned_at', 'bigint')
        .addColumn('disabled_at', 'bigint')
        .addColumn('disabled_reason', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('webhook_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('idempotency_scope', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`create unique index webhook_events_idempotency on webhook_events (idempotency_scope, idempotency_key) where idempotency_key is not null`.execute(
        db,
      );

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull().references('webhook_events.id').onDelete('cascade'))
        .addColumn('endpoint_id', 'text', (c) =>
          c.notNull().references('webhook_endpoints.id').onDelete('cascade'),
        )
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('attempt_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_status_code', 'integer')
        .addColumn('last_error_code', 'text')
        .addColumn('last_error_message', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
      // Listing by endpoint (newest first) and replaying an endpoint's failures since a time.
      await sql`create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, id)`.execute(db);
      await sql`create index webhook_deliveries_event on webhook_deliveries (event_id)`.execute(db);
      // Held count and oldest pending age are read for metrics; finished rows stay out of this index.
      await sql`create index webhook_deliveries_open on webhook_deliveries (status, created_at) where status in ('pending', 'held')`.execute(
        db,
      );

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) =>
          c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
        )
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('latency_ms', 'integer')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('response_headers', 'text')
        .addColumn('response_body', 'text')
        .execute();
      await sql`create index webhook_attempts_delivery on webhook_attempts (delivery_id, number)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index if exists jobs_claimable_by_key`.execute(db);
      for (const table of ['webhook_attempts', 'webhook_deliveries', 'webhook_events', 'webhook_endpoints']) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
