export { classifyDatabaseError, isUniqueViolation } from './errors.js';
export {
  findByIdempotencyKey,
  type IdempotentInsert,
  type IdempotentTable,
  insertOrSkipByIdempotencyKey,
} from './idempotent.js';
export { acquireLease, LeaseHolder, type LeaseHolderOptions, releaseLease } from './leases.js';
export { migrateToLatest, migrationsFingerprint, pendingMigrations } from './migrate.js';
export type { Database } from './schema.js';
export { type Dialect, type OpenStoreOptions, openStore, type Store, type Tx } from './store.js';
export { asciiFold, containsText } from './text-search.js';
