import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../test/support/database.js';
import { systemClock } from '../core/clock.js';
import { migrateToLatest, openStore, type Store } from '../core/db/index.js';
import { apiKeyRoles } from '../core/db/migrations/0010_api_key_roles.js';
import { users } from '../core/db/migrations/0011_users.js';
import { auditLog } from '../core/db/migrations/0012_audit_log.js';
import { activityIndexes } from '../core/db/migrations/0013_activity_indexes.js';
import { jobsOwnerIndex } from '../core/db/migrations/0014_jobs_owner_index.js';
import { silentLogger } from '../core/observability/index.js';
import { createApiKey, createKeyVerifier, listKeys } from './index.js';

/**
 * API key roles in the database, on both dialects: the check constraint refuses an unknown role
 * (SQLite would otherwise store any text), and keys made before roles become admin.
 */

const skip = await databaseSkipReason();

describe.skipIf(skip)(`API key roles${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let database: TestDatabase;
  let store: Store;
  const deps = () => ({ store, clock: systemClock, logger: silentLogger() });

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('stores the role, lists it, and gives it to the principal', async () => {
    const created = await createApiKey(deps(), 'reader', 'viewer');
    expect(created.role).toBe('viewer');
    expect((await listKeys(deps())).find((k) => k.id === created.id)?.role).toBe('viewer');
    expect(await createKeyVerifier(deps())(created.key)).toMatchObject({ kind: 'api_key', role: 'viewer' });
    expect((await createApiKey(deps(), 'default')).role).toBe('admin');
  });

  it('refuses a role outside the three, in the database itself', async () => {
    await expect(
      store.db
        .insertInto('api_keys')
        .values({
          id: 'bad',
          name: 'bad',
          prefix: 'fct_bad',
          key_hash: 'bad',
          created_at: 0,
          role: 'root' as 'admin',
        })
        .execute(),
    ).rejects.toThrow(/check/i);
  });

  it('makes the keys that existed before roles admin', async () => {
    const db = store.db as unknown as Kysely<unknown>;
    // Back to the schema before 0010 (the later migrations first), with a key of that time,
    // then migrate again.
    const later = {
      '0014_jobs_owner_index': jobsOwnerIndex(),
      '0013_activity_indexes': activityIndexes(),
      '0012_audit_log': auditLog(),
      '0011_users': users(),
      '0010_api_key_roles': apiKeyRoles(),
    };
    for (const [name, migration] of Object.entries(later)) {
      await migration.down(db);
      await store.db
        .deleteFrom('facteur_migrations' as never)
        .where('name' as never, '=', name as never)
        .execute();
    }
    await store.db
      .insertInto('api_keys')
      .values({
        id: 'legacy',
        name: 'legacy',
        prefix: 'fct_legacy',
        key_hash: 'legacy',
        created_at: 0,
      } as never)
      .execute();
    expect(await migrateToLatest(store)).toEqual(Object.keys(later).reverse());
    expect((await listKeys(deps())).find((k) => k.id === 'legacy')?.role).toBe('admin');
  });
});
