import { type Kysely, sql } from 'kysely';

/**
 * API key roles (`core/http/access-policy.ts`): `admin`, `operator` or `viewer`. Keys created
 * before roles existed could do everything, so they become `admin` (the column's default, which
 * also fills the existing rows). The check constraint makes both dialects refuse any other
 * value: SQLite would otherwise store whatever text it is given where PostgreSQL would not.
 * New keys always name their role; the default is only there for the rows that predate it.
 */
export function apiKeyRoles() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('api_keys')
        .addColumn('role', 'text', (c) =>
          c.notNull().defaultTo('admin').check(sql`role in ('admin', 'operator', 'viewer')`),
        )
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('api_keys').dropColumn('role').execute();
    },
  };
}
