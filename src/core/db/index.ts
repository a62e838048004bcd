export type { Database } from './schema.js';
export { openStore, type Dialect, type Store, type Tx, type OpenStoreOptions } from './store.js';
export { migrateToLatest, pendingMigrations } from './migrate.js';
export { classifyDatabaseError, isUniqueViolation } from './errors.js';
