import { type Kysely, sql } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import { BulkStatement } from './bulk-store.js';
import type { AttributeValue, SuppressionReason } from './model.js';

/**
 * SQL of audiences: contacts of lists and the suppression list. The same statements on SQLite
 * and PostgreSQL; no decisions here. Lists themselves are settings rows, written only through
 * core/settings; their contacts go with them (`on delete cascade`).
 */

/** A contact as stored. */
export interface ContactRecord {
  id: string;
  listId: string;
  key: string;
  address: string;
  given: string;
  name: string | null;
  attributes: Record<string, AttributeValue>;
  createdAt: number;
  updatedAt: number;
}

/** A contact to insert. */
export interface NewContact {
  id: string;
  key: string;
  address: string;
  given: string;
  name: string | null;
  attributes: Record<string, AttributeValue>;
}

type ContactRow = Database['contacts'];

function contactFrom(row: ContactRow): ContactRecord {
  return {
    id: row.id,
    listId: row.list_id,
    key: row.address_key,
    address: row.address,
    given: row.address_given,
    name: row.name,
    attributes: JSON.parse(row.attributes) as Record<string, AttributeValue>,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function searchText(key: string, name: string | null): string {
  return `${key}\u0001${(name ?? '').toLowerCase()}`;
}

/** Rows per statement: under every dialect's parameter limit. */
const CHUNK = 400;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Escapes `%`, `_` and `\` for a LIKE pattern with `escape '\'`; lower-cased like the columns it matches. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
const ESCAPE = sql.raw("'\\'");

const contactsWithKeys = new BulkStatement(
  'select * from contacts where list_id = ? and address_key in (',
  '?',
  ')',
  CHUNK,
);

/** The contacts of `listId` whose key is among `keys`, by key. */
export async function contactsByKey(
  tx: Tx,
  listId: string,
  keys: readonly string[],
): Promise<Map<string, ContactRecord>> {
  const found = new Map<string, ContactRecord>();
  for (let start = 0; start < keys.length; start += CHUNK) {
    const params: unknown[] = [listId, ...keys.slice(start, start + CHUNK)];
    const { rows } = await contactsWithKeys.execute<ContactRow>(tx.db, tx.dialect, params);
    for (const row of rows) found.set(row.address_key, contactFrom(row));
  }
  return found;
}

const contactRows = new BulkStatement(
  'insert into contacts (id, list_id, address_key, address, address_given, name, attributes, search, created_at, updated_at) values ',
  '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ' on conflict (list_id, address_key) do nothing',
  CHUNK,
);

/**
 * Inserts contacts, a statement per CHUNK rows (plain SQL: bulk-store.ts says why); one whose
 * key another writer inserted meanwhile is left out. Returns how many were inserted.
 */
export async function insertContacts(
  tx: Tx,
  listId: string,
  contacts: readonly NewContact[],
  now: number,
): Promise<number> {
  let inserted = 0;
  for (let start = 0; start < contacts.length; start += CHUNK) {
    const params: unknown[] = [];
    for (const c of contacts.slice(start, start + CHUNK))
      params.push(
        c.id,
        listId,
        c.key,
        c.address,
        c.given,
        c.name,
        JSON.stringify(c.attributes),
        searchText(c.key, c.name),
        now,
        now,
      );
    inserted += await contactRows.affected(tx.db, tx.dialect, params);
  }
  return inserted;
}

/** Changes a contact's display address, name and attributes. */
export async function updateContact(
  tx: Tx,
  id: string,
  values: { key: string; given: string; name: string | null; attributes: Record<string, AttributeValue> },
  now: number,
): Promise<void> {
  await tx.db
    .updateTable('contacts')
    .set({
      address_given: values.given,
      name: values.name,
      attributes: JSON.stringify(values.attributes),
      search: searchText(values.key, values.name),
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

/** A page of a list's contacts, newest first; `q` is a substring of the address or name (any case). */
export async function listContacts(
  db: Kysely<Database>,
  listId: string,
  options: { q?: string; before?: string; limit: number },
): Promise<ContactRecord[]> {
  let query = db.selectFrom('contacts').selectAll().where('list_id', '=', listId);
  if (options.q) query = query.where(sql<boolean>`search like ${likePattern(options.q)} escape ${ESCAPE}`);
  if (options.before) query = query.where('id', '<', options.before);
  const rows = await query.orderBy('id', 'desc').limit(options.limit).execute();
  return rows.map(contactFrom);
}

/** How many contacts each of `listIds` has. */
export async function contactCounts(
  db: Kysely<Database>,
  listIds: readonly string[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>(listIds.map((id) => [id, 0]));
  for (const part of chunks(listIds)) {
    const rows = await db
      .selectFrom('contacts')
      .select((eb) => ['list_id', eb.fn.countAll<number | string>().as('n')])
      .where('list_id', 'in', part)
      .groupBy('list_id')
      .execute();
    for (const row of rows) counts.set(row.list_id, Number(row.n));
  }
  return counts;
}

/** Deletes a list's contact by key; false when it had none. */
export async function deleteContact(db: Kysely<Database>, listId: string, key: string): Promise<boolean> {
  const result = await db
    .deleteFrom('contacts')
    .where('list_id', '=', listId)
    .where('address_key', '=', key)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// --- suppressions ------------------------------------------------------------------------

/** An address on the suppression list. */
export interface SuppressionRecord {
  key: string;
  address: string;
  reason: SuppressionReason;
  source: string;
  detail: string | null;
  createdAt: number;
}

function suppressionFrom(row: Database['suppressions']): SuppressionRecord {
  return {
    key: row.address_key,
    address: row.address,
    reason: row.reason as SuppressionReason,
    source: row.source,
    detail: row.detail,
    createdAt: Number(row.created_at),
  };
}

/**
 * Adds an address to the suppression list; one already there keeps its first reason, source
 * and time. Returns the row as it now is and whether it was added.
 */
export async function addSuppression(
  db: Kysely<Database>,
  entry: Omit<SuppressionRecord, 'createdAt'>,
  now: number,
): Promise<{ record: SuppressionRecord; created: boolean }> {
  const inserted = await db
    .insertInto('suppressions')
    .values({
      address_key: entry.key,
      address: entry.address,
      reason: entry.reason,
      source: entry.source,
      detail: entry.detail,
      created_at: now,
    })
    .onConflict((oc) => oc.column('address_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { record: suppressionFrom(inserted), created: true };
  const existing = await db
    .selectFrom('suppressions')
    .selectAll()
    .where('address_key', '=', entry.key)
    .executeTakeFirstOrThrow();
  return { record: suppressionFrom(existing), created: false };
}

/** A page of the suppression list, newest first (cursor: the last row's time and key). */
export async function listSuppressions(
  db: Kysely<Database>,
  options: { reason?: SuppressionReason; q?: string; before?: { at: number; key: string }; limit: number },
): Promise<SuppressionRecord[]> {
  let query = db.selectFrom('suppressions').selectAll();
  if (options.reason) query = query.where('reason', '=', options.reason);
  if (options.q)
    query = query.where(sql<boolean>`address_key like ${likePattern(options.q)} escape ${ESCAPE}`);
  const before = options.before;
  if (before)
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', before.at),
        eb.and([eb('created_at', '=', before.at), eb('address_key', '<', before.key)]),
      ]),
    );
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('address_key', 'desc')
    .limit(options.limit)
    .execute();
  return rows.map(suppressionFrom);
}

/** Removes an address from the suppression list; false when it was not on it. */
export async function deleteSuppression(db: Kysely<Database>, key: string): Promise<boolean> {
  const result = await db.deleteFrom('suppressions').where('address_key', '=', key).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Which of `keys` (address keys: `addressKey()` in model.ts) are on the suppression list, with
 * why, by key. Every campaign calls it before sending and skips each key found, with its reason.
 */
export async function isSuppressed(
  db: Kysely<Database>,
  keys: readonly string[],
): Promise<Map<string, SuppressionRecord>> {
  const found = new Map<string, SuppressionRecord>();
  for (const part of chunks([...new Set(keys)])) {
    const rows = await db.selectFrom('suppressions').selectAll().where('address_key', 'in', part).execute();
    for (const row of rows) found.set(row.address_key, suppressionFrom(row));
  }
  return found;
}
