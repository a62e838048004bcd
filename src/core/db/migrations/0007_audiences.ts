import { type Kysely, sql } from 'kysely';

/**
 * Audiences for bulk mail: lists (runtime settings), their contacts (one per list and address
 * key; deleted with their list) and the suppression list (one row per address key), which every
 * campaign honours.
 */
export function audiences() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('lists')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('contacts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('list_id', 'text', (c) => c.notNull().references('lists.id').onDelete('cascade'))
        // The whole normalised address lower-cased: the de-duplication key.
        .addColumn('address_key', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('address_given', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('attributes', 'text', (c) => c.notNull())
        // The key and the name lower-cased by Facteur, so that `?q=` matches alike on both
        // databases (SQLite's lower() and LIKE fold ASCII only, PostgreSQL's LIKE folds nothing).
        .addColumn('search', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`create unique index contacts_list_key on contacts (list_id, address_key)`.execute(db);
      await sql`create index contacts_list_id on contacts (list_id, id)`.execute(db);

      await db.schema
        .createTable('suppressions')
        .addColumn('address_key', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`create index suppressions_reason on suppressions (reason, created_at)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('suppressions').execute();
      await db.schema.dropTable('contacts').execute();
      await db.schema.dropTable('lists').execute();
    },
  };
}
