export { classifyDatabaseError, isUniqueViolation } from './errors.js';
export { acquireLease, releaseLease } from './leases.js';
export { migrateToLatest, migrationsFingerprint, pendingMigrations } from './migrate.js';
export type { Database } from './schema.js';
export { type Dialect, type OpenStoreOptions, openStore, type Store, type Tx } from './store.js';
