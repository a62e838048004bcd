import { type Kysely, sql } from 'kysely';

/**
 * People who sign in to the dashboard (issue 13): users with a role and an optional password
 * (scrypt), their sessions (only a SHA-256 digest of the cookie's token is stored), one-time
 * sign-in links (magic links and the first admin's setup link, digests too) and the login
 * throttle (failures per account and per address, shared by every instance). Check
 * constraints make both dialects refuse the same values.
 */
export function users() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // Lower-cased and trimmed by Facteur: the sign-in identifier.
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'operator', 'viewer')`))
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('disabled_at', 'bigint')
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('method', 'text', (c) =>
          c.notNull().check(sql`method in ('password', 'magic_link', 'setup')`),
        )
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('address', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await sql`create index sessions_user on sessions (user_id)`.execute(db);
      await sql`create index sessions_expires on sessions (expires_at)`.execute(db);

      await db.schema
        .createTable('login_links')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('magic_link', 'setup')`))
        // A setup link has no user yet: it creates the first admin.
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('address', 'text')
        .execute();
      await sql`create index login_links_user on login_links (user_id, created_at)`.execute(db);

      await db.schema
        .createTable('login_throttle')
        // `account:<email>` or `address:<ip>`.
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_started_at', 'bigint', (c) => c.notNull())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('locked_until', 'bigint')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('login_throttle').execute();
      await db.schema.dropTable('login_links').execute();
      await db.schema.dropTable('sessions').execute();
      await db.schema.dropTable('users').execute();
    },
  };
}
