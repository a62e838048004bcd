import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../core/db/index.js';
import type { ApiKeysTable } from '../core/db/schema.js';
import type { Role } from '../core/http/access-policy.js';
import type { ApiKeyInfo } from './model.js';

function fromRow(row: Selectable<ApiKeysTable>): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/** Stores a new key's digest. */
export async function insertApiKey(
  db: Kysely<Database>,
  row: { id: string; name: string; role: Role; prefix: string; keyHash: string; now: number },
): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({
      id: row.id,
      name: row.name,
      role: row.role,
      prefix: row.prefix,
      key_hash: row.keyHash,
      created_at: row.now,
    })
    .execute();
}

/** The key with this digest, if any. */
export async function findApiKeyByHash(
  db: Kysely<Database>,
  keyHash: string,
): Promise<ApiKeyInfo | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Every key, newest first. */
export async function listApiKeys(db: Kysely<Database>): Promise<ApiKeyInfo[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map(fromRow);
}

/** Marks a key revoked; returns the key, or undefined when no key has this id or prefix. */
export async function revokeApiKey(
  db: Kysely<Database>,
  idOrPrefix: string,
  now: number,
): Promise<ApiKeyInfo | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrPrefix), eb('prefix', '=', idOrPrefix)]))
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.revoked_at === null)
    await db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', row.id).execute();
  return fromRow({ ...row, revoked_at: row.revoked_at ?? now });
}

/** Records that a key was used. */
export async function touchApiKey(db: Kysely<Database>, id: string, now: number): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
}
