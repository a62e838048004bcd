import { type Kysely, sql } from 'kysely';

/**
 * Campaigns and their recipient ledger: one row per (campaign, recipient) carrying its state,
 * the transport's reply and the outbox message that carries it. Recipients are written at
 * creation (from a list, inline, or both) and handed to the outbox in windows by the dispatcher.
 */
export function campaigns() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('campaigns')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        // draft | scheduled | running | paused | cancelled | finished
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('list_id', 'text')
        // JSON: from, replyTo, subject, html, text, headers, attachments (the templates).
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('owner_email', 'text')
        .addColumn('start_at', 'bigint')
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('total', 'integer', (c) => c.notNull())
        .addColumn('api_key_id', 'text')
        .addColumn('idempotency_scope', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('request_hash', 'text', (c) => c.notNull())
        // When the last stall alert was raised (one per stall).
        .addColumn('stalled_at', 'bigint')
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`create unique index campaigns_idempotency on campaigns (idempotency_scope, idempotency_key)`.execute(
        db,
      );
      await sql`create index campaigns_status on campaigns (status, start_at)`.execute(db);

      await db.schema
        .createTable('campaign_recipients')
        .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
        // Order of the recipients as given: the dispatcher hands them over in this order.
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('address_key', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        // JSON object: the per-recipient fields the templates read.
        .addColumn('fields', 'text', (c) => c.notNull())
        // queued | sending | deferred | sent | failed | bounced | skipped
        .addColumn('state', 'text', (c) => c.notNull())
        // Why: the skip reason, the error code of a failure, the bounce status.
        .addColumn('reason', 'text')
        // The server's or provider's reply, the bounce diagnostic.
        .addColumn('detail', 'text')
        .addColumn('smtp_code', 'integer')
        .addColumn('message_id', 'text')
        .addColumn('message_id_header', 'text')
        .addColumn('transport', 'text')
        .addColumn('provider_message_id', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('settled_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('campaign_recipients_pk', ['campaign_id', 'seq'])
        .execute();
      await sql`create unique index campaign_recipients_key on campaign_recipients (campaign_id, address_key)`.execute(
        db,
      );
      await sql`create index campaign_recipients_state on campaign_recipients (campaign_id, state, seq)`.execute(
        db,
      );
      await sql`create index campaign_recipients_settled on campaign_recipients (campaign_id, settled_at)`.execute(
        db,
      );
      await sql`create index campaign_recipients_message on campaign_recipients (message_id)`.execute(db);
      await sql`create index campaign_recipients_header on campaign_recipients (message_id_header)`.execute(
        db,
      );
      await sql`create index campaign_recipients_provider on campaign_recipients (provider_message_id)`.execute(
        db,
      );
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('campaign_recipients').execute();
      await db.schema.dropTable('campaigns').execute();
    },
  };
}
