import type { Kysely } from 'kysely';
import type { Database, Tx } from '../db/index.js';
import type { SettingsRow, SettingsTableName } from './contract.js';

/**
 * Row access for every settings table. The tables share their columns (id, name, status,
 * config, secrets, position, version, times), so one set of queries serves every kind; the
 * table name is the only difference. No decisions here.
 */

/** The settings tables seen through the columns they share. */
interface SettingsTables {
  settings_table: SettingsRow;
}
type Db = Kysely<SettingsTables>;
const T = 'settings_table' as const;

function on(db: Kysely<Database>): Db {
  return db as unknown as Db;
}
function table(name: SettingsTableName): typeof T {
  return name as unknown as typeof T;
}

/** Every row, in order (position for ordered kinds, else id: ids are time-ordered). */
export async function listSettingsRows(
  db: Kysely<Database>,
  name: SettingsTableName,
  ordered: boolean,
): Promise<SettingsRow[]> {
  let query = on(db).selectFrom(table(name)).selectAll();
  if (ordered) query = query.orderBy('position');
  return (await query.orderBy('id').execute()) as SettingsRow[];
}

/** One row; inside a PostgreSQL transaction `forShare` keeps it from changing until commit. */
export async function getSettingsRow(
  db: Kysely<Database>,
  name: SettingsTableName,
  id: string,
  forShare = false,
): Promise<SettingsRow | undefined> {
  let query = on(db).selectFrom(table(name)).selectAll().where('id', '=', id);
  if (forShare) query = query.forShare();
  return (await query.executeTakeFirst()) as SettingsRow | undefined;
}

export async function insertSettingsRow(tx: Tx, name: SettingsTableName, row: SettingsRow): Promise<void> {
  await on(tx.db).insertInto(table(name)).values(row).execute();
}

/**
 * Changes a row and raises its version; with `ifVersion`, only when the row still has that
 * version. Returns the new version, or undefined when no row matched.
 */
export async function updateSettingsRow(
  tx: Tx,
  name: SettingsTableName,
  id: string,
  values: Record<string, unknown>,
  ifVersion?: number,
): Promise<number | undefined> {
  let query = on(tx.db)
    .updateTable(table(name))
    .set((eb) => ({ ...values, version: eb('version', '+', 1) }))
    .where('id', '=', id);
  if (ifVersion !== undefined) query = query.where('version', '=', ifVersion);
  const row = await query.returning('version').executeTakeFirst();
  return row === undefined ? undefined : Number(row.version);
}

export async function deleteSettingsRow(
  tx: Tx,
  name: SettingsTableName,
  id: string,
  ifVersion?: number,
): Promise<boolean> {
  let query = on(tx.db).deleteFrom(table(name)).where('id', '=', id);
  if (ifVersion !== undefined) query = query.where('version', '=', ifVersion);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The ids of an ordered kind, in order. */
export async function orderedIds(tx: Tx, name: SettingsTableName): Promise<string[]> {
  const rows = await on(tx.db)
    .selectFrom(table(name))
    .select('id')
    .orderBy('position')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Gives each id its index as position. */
export async function renumber(tx: Tx, name: SettingsTableName, ids: readonly string[]): Promise<void> {
  for (const [position, id] of ids.entries()) {
    await on(tx.db).updateTable(table(name)).set({ position }).where('id', '=', id).execute();
  }
}

/** The value of a key in the `settings` table (single documents, e.g. the rule settings). */
export async function readSettingValue(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function writeSettingValue(tx: Tx, key: string, value: string, now: number): Promise<void> {
  await tx.db
    .insertInto('settings')
    .values({ key, value, updated_at: now })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
    .execute();
}
