import type { Kysely } from 'kysely';

/**
 * Rate budgets: one row per transport (by its name in FACTEUR_TRANSPORTS), holding the budget's
 * state as one JSON document (`mail/budget-model.ts`: the sends counting in the rate window,
 * the hourly and daily counts, the slow-down). Every instance sharing the database reads and
 * writes the same row, each write conditional on `version` (compare and set).
 */
export function rateBudgets() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('rate_budgets')
        .addColumn('transport', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('version', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('rate_budgets').execute();
    },
  };
}
