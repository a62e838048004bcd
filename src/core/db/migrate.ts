import { createHash } from 'node:crypto';
import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { AppError } from '../errors.js';
import { foundation } from './migrations/0001_foundation.js';
import { webhooks } from './migrations/0002_webhooks.js';
import { inbound } from './migrations/0003_inbound.js';
import { settingsVersions } from './migrations/0004_settings.js';
import { reports } from './migrations/0005_reports.js';
import { transports } from './migrations/0006_transports.js';
import { audiences } from './migrations/0007_audiences.js';
import { campaigns } from './migrations/0008_campaigns.js';
import { rateBudgets } from './migrations/0009_rate_budgets.js';
import { apiKeyRoles } from './migrations/0010_api_key_roles.js';
import { users } from './migrations/0011_users.js';
import { auditLog } from './migrations/0012_audit_log.js';
import { activityIndexes } from './migrations/0013_activity_indexes.js';
import { jobsOwnerIndex } from './migrations/0014_jobs_owner_index.js';
import type { Dialect, Store } from './store.js';

/** Every migration, in order. Names are permanent: they are recorded in the database. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_foundation': foundation(dialect),
    '0002_webhooks': webhooks(),
    '0003_inbound': inbound(),
    '0004_settings': settingsVersions(),
    '0005_reports': reports(),
    '0006_transports': transports(),
    '0007_audiences': audiences(),
    '0008_campaigns': campaigns(),
    '0009_rate_budgets': rateBudgets(),
    '0010_api_key_roles': apiKeyRoles(),
    '0011_users': users(),
    '0012_audit_log': auditLog(),
    '0013_activity_indexes': activityIndexes(),
    '0014_jobs_owner_index': jobsOwnerIndex(),
  };
}

function migratorFor(store: Store): Migrator {
  const provider: MigrationProvider = { getMigrations: async () => migrations(store.dialect) };
  return new Migrator({
    db: store.db as unknown as Kysely<unknown>,
    provider,
    migrationTableName: 'facteur_migrations',
    migrationLockTableName: 'facteur_migrations_lock',
  });
}

/** Applies every pending migration; returns the names applied. Safe to run from several processes at once. */
export async function migrateToLatest(store: Store): Promise<string[]> {
  const { error, results } = await migratorFor(store).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new AppError(
      'MIGRATION_FAILED',
      `migration ${failed ?? '(unknown)'} failed: ${(error as Error).message}`,
      {
        cause: error,
        details: { migration: failed },
      },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** A fingerprint of the migrations' names and code, so a cached copy of the schema can tell it is stale. */
export function migrationsFingerprint(): string {
  const all = migrations('postgres');
  return createHash('sha256')
    .update(
      Object.entries(all)
        .map(([name, m]) => `${name}:${m.up.toString()}`)
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 12);
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const all = await migratorFor(store).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
