import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../core/db/index.js';
import type { AuditLogTable } from '../core/db/schema.js';
import type { AuditEntry, AuditFilters, normalisedEntry } from './model.js';

/**
 * The audit log's SQL: insert, list newest first with keyset pagination, delete old rows in
 * batches. Rows are never updated.
 */

type AuditRow = Selectable<AuditLogTable>;

/** Inserts one entry (inside the caller's transaction when `db` is `tx.db`). */
export async function insertAuditEntry(
  db: Kysely<Database>,
  entry: ReturnType<typeof normalisedEntry>,
): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      id: entry.id,
      at: entry.at,
      actor_kind: entry.actor.kind,
      actor_id: entry.actor.id,
      actor_name: entry.actor.name,
      actor_role: entry.actor.role,
      action: entry.action,
      target_type: entry.target.type,
      target_id: entry.target.id,
      address: entry.address,
      request_id: entry.requestId,
      before_json: entry.beforeJson,
      after_json: entry.afterJson,
      outcome: entry.outcome,
    })
    .execute();
}

/**
 * Entries matching `filters`, newest first (at desc, id desc), strictly after `filters.after`;
 * at most `filters.limit`.
 */
export async function listAuditEntries(db: Kysely<Database>, filters: AuditFilters): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_log').selectAll();
  if (filters.action !== undefined) query = query.where('action', '=', filters.action);
  if (filters.actorId !== undefined) query = query.where('actor_id', '=', filters.actorId);
  if (filters.targetType !== undefined) query = query.where('target_type', '=', filters.targetType);
  if (filters.targetId !== undefined) query = query.where('target_id', '=', filters.targetId);
  if (filters.since !== undefined) query = query.where('at', '>=', filters.since);
  if (filters.until !== undefined) query = query.where('at', '<', filters.until);
  const after = filters.after;
  if (after)
    query = query.where((eb) =>
      eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]),
    );
  const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(filters.limit).execute();
  return rows.map(fromRow);
}

/** Deletes at most `limit` of the oldest entries recorded before `at`; answers how many. */
export async function deleteAuditBefore(db: Kysely<Database>, at: number, limit: number): Promise<number> {
  const oldest = db.selectFrom('audit_log').select('id').where('at', '<', at).orderBy('at').limit(limit);
  const result = await db.deleteFrom('audit_log').where('id', 'in', oldest).executeTakeFirst();
  return Number(result.numDeletedRows);
}

function parsed(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function fromRow(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: Number(row.at),
    actor: { kind: row.actor_kind, id: row.actor_id, name: row.actor_name, role: row.actor_role },
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    address: row.address,
    requestId: row.request_id,
    before: parsed(row.before_json),
    after: parsed(row.after_json),
    outcome: row.outcome,
  };
}
