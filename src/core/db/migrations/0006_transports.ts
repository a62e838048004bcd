import type { Kysely } from 'kysely';

/**
 * Transports (FACTEUR_TRANSPORTS): each send attempt records the transport it went through
 * (`smtp`, `postmark`, ...; null for attempts made before this migration) and the id the
 * provider gave the message (Postmark MessageID, SES MessageId, ...).
 */
export function transports() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // One column per statement: SQLite's ALTER TABLE adds one at a time.
      await db.schema.alterTable('message_attempts').addColumn('transport', 'text').execute();
      await db.schema.alterTable('message_attempts').addColumn('provider_message_id', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('message_attempts').dropColumn('provider_message_id').execute();
      await db.schema.alterTable('message_attempts').dropColumn('transport').execute();
    },
  };
}
