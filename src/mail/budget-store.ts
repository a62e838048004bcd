import type { Kysely } from 'kysely';
import type { Database } from '../core/db/index.js';

/**
 * The SQL of rate budgets: one row per transport, read whole and written whole with a compare
 * and set on `version`, so that every instance sharing the database decides on the same state
 * and no two writes of the same version both land. Single statements, outside any transaction:
 * a budget's write must not wait for (or hold locks during) a settlement batch.
 */

/** A budget's stored state and the version it was read at. */
export interface BudgetRow {
  state: string;
  version: number;
}

/** Reads the budget of `transport`, if it has a row. */
export async function readBudgetRow(db: Kysely<Database>, transport: string): Promise<BudgetRow | undefined> {
  const row = await db
    .selectFrom('rate_budgets')
    .select(['state', 'version'])
    .where('transport', '=', transport)
    .executeTakeFirst();
  return row ? { state: row.state, version: Number(row.version) } : undefined;
}

/** Creates the row of `transport` at version 0 unless another instance already did. */
export async function createBudgetRow(
  db: Kysely<Database>,
  transport: string,
  state: string,
  now: number,
): Promise<void> {
  await db
    .insertInto('rate_budgets')
    .values({ transport, state, version: 0, updated_at: now })
    .onConflict((oc) => oc.column('transport').doNothing())
    .execute();
}

/** Writes `state` if the row is still at `version`; false when another write came first. */
export async function writeBudgetRow(
  db: Kysely<Database>,
  transport: string,
  version: number,
  state: string,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('rate_budgets')
    .set({ state, version: version + 1, updated_at: now })
    .where('transport', '=', transport)
    .where('version', '=', version)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
