import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { Tx } from './store.js';

/**
 * Insert-or-skip by idempotency key, one way for every table that takes client keys
 * (messages, webhook events, campaigns next). Such a table has `idempotency_scope` (whose keys:
 * an API key id, the CLI) and a nullable `idempotency_key`, unique per scope where not null
 * (a partial unique index). The same statements run on SQLite and PostgreSQL.
 */

/** The tables with an idempotency key unique per scope. */
export type IdempotentTable = {
  [T in keyof Database]: Database[T] extends {
    id: string;
    idempotency_scope: string;
    idempotency_key: string | null;
  }
    ? T
    : never;
}[keyof Database];

/** What an insert-or-skip did: the row now holding the key, and whether this call wrote it. */
export interface IdempotentInsert<R> {
  row: R;
  created: boolean;
}

// Kysely cannot type a query over a table chosen by a type parameter; the signatures above are
// typed, the queries run on the untyped builder.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Untyped = Kysely<any>;

/**
 * Inserts `row` inside `tx` unless its idempotency key is already taken in its scope; then
 * answers the row holding the key (`created: false`) and writes nothing. On PostgreSQL a
 * concurrent transaction inserting the same key is waited for: once it commits, its row is
 * the answer; if it rolls back, this insert goes through. A row without a key is always
 * inserted.
 */
export async function insertOrSkipByIdempotencyKey<T extends IdempotentTable>(
  tx: Tx,
  table: T,
  row: Database[T],
): Promise<IdempotentInsert<Database[T]>> {
  const db = tx.db as unknown as Untyped;
  const inserted = await db
    .insertInto(table)
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['idempotency_scope', 'idempotency_key'])
        .where('idempotency_key', 'is not', null)
        .doNothing(),
    )
    .returning('id')
    .executeTakeFirst();
  if (inserted !== undefined) return { row, created: true };
  const existing =
    row.idempotency_key === null
      ? undefined
      : await findByIdempotencyKey(tx.db, table, row.idempotency_scope, row.idempotency_key);
  if (!existing) throw new Error(`${table}: the insert of ${row.id} wrote nothing and no row holds its key`);
  return { row: existing, created: false };
}

/** The row holding `key` within `scope`, if any. */
export async function findByIdempotencyKey<T extends IdempotentTable>(
  db: Kysely<Database>,
  table: T,
  scope: string,
  key: string,
): Promise<Database[T] | undefined> {
  return (db as unknown as Untyped)
    .selectFrom(table)
    .selectAll()
    .where('idempotency_scope', '=', scope)
    .where('idempotency_key', '=', key)
    .executeTakeFirst() as Promise<Database[T] | undefined>;
}
