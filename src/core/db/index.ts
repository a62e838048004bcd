export { classifyDatabaseError, isUniqueViolation } from './errors.js';
export { migrateToLatest, pendingMigrations } from './migrate.js';
export type { Database } from './schema.js';
export { type Dialect, type OpenStoreOptions, openStore, type Store, type Tx } from './store.js';
