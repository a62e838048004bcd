import type { Kysely } from 'kysely';

/**
 * Runtime settings as one contract (`core/settings`): every settings record carries a version,
 * raised on each write, so that a client can say which version its change is based on
 * (`If-Match`) and a stale edit is refused instead of silently undoing a newer one.
 */
export function settingsVersions() {
  const tables = ['webhook_endpoints', 'mailboxes', 'rules'] as const;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      for (const table of tables) {
        await db.schema
          .alterTable(table)
          .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of tables) await db.schema.alterTable(table).dropColumn('version').execute();
    },
  };
}
