import { type Kysely, sql } from 'kysely';

/**
 * The audit log (`audit/`): one row per change or refused request, never updated, deleted
 * only by the retention sweep. `actor_kind` and `outcome` have check constraints so that both
 * dialects refuse any other value (SQLite would otherwise store whatever text it is given).
 * The indexes serve the listing, newest first (`at desc, id desc`, read backwards from the
 * ascending index on both dialects), alone or filtered by action, actor or target, and the
 * retention sweep (`at` first).
 */
export function auditLog() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor_kind', 'text', (c) =>
          c.notNull().check(sql`actor_kind in ('user', 'api_key', 'route_token', 'system', 'anonymous')`),
        )
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('actor_role', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text')
        .addColumn('address', 'text')
        .addColumn('request_id', 'text')
        .addColumn('before_json', 'text')
        .addColumn('after_json', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('ok', 'refused')`))
        .execute();
      await sql`create index audit_log_at on audit_log (at, id)`.execute(db);
      await sql`create index audit_log_action on audit_log (action, at, id)`.execute(db);
      await sql`create index audit_log_actor on audit_log (actor_id, at, id)`.execute(db);
      await sql`create index audit_log_target on audit_log (target_type, target_id, at, id)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('audit_log').execute();
    },
  };
}
