import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDialectConfig, type Transaction } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { redactUrl } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { type Checkpointer, FALLBACK_AUTOCHECKPOINT_PAGES, startCheckpointer } from './checkpointer.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import { WalSync } from './wal-sync.js';

/** Which database engine a store runs on. */
export type Dialect = 'sqlite' | 'postgres';

/** A transaction in progress, with hooks that run only once it has committed. */
export interface Tx {
  readonly db: Transaction<Database>;
  readonly dialect: Dialect;
  /** Runs `fn` after the transaction commits; never if it rolls back. */
  afterCommit(fn: () => void): void;
  /** Signals `channel` to every listener (this process and, on PostgreSQL, every other) at commit. */
  notify(channel: string, payload: string): void;
}

/** The database, one interface over SQLite and PostgreSQL. */
export interface Store {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /** Where the data lives, without credentials, for logs and `config check`. */
  readonly location: string;
  /** Runs `fn` in a transaction; after-commit hooks and notifications fire once it commits. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Like `transaction`, but shares one transaction (one commit, one fsync) with the other calls
   * made in the same turn of the event loop: group commit, for hot paths such as accepting a
   * message. Each call runs in its own savepoint, so one that throws rolls back only itself;
   * every call resolves only once the shared transaction has committed. `fn` must only touch
   * the database through `tx`.
   */
  groupTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Subscribes to notifications on `channel`; returns the unsubscribe function. */
  subscribe(channel: string, handler: (payload: string) => void): () => void;
  /** PostgreSQL: opens a LISTEN connection so that other processes' notifications arrive. No-op on SQLite. */
  listen(logger: Logger): Promise<void>;
  /** Round trip to the database within `timeoutMs`; throws on failure. */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** Options for `openStore`. */
export interface OpenStoreOptions {
  /** Largest number of pooled PostgreSQL connections (default 10). */
  poolSize?: number;
  logger?: Logger;
  /**
   * SQLite: checkpoint the WAL from a worker thread instead of inside commits (default false;
   * the long-running server turns it on, short commands do not need it).
   */
  backgroundCheckpoint?: boolean;
}

/** Opens the database described by `config`. SQLite files (and their directory) are created. */
export function openStore(config: DatabaseConfig, options: OpenStoreOptions = {}): Store {
  return config.kind === 'sqlite'
    ? openSqlite(config.path, config.synchronous, options)
    : openPostgres(config.url, options);
}

function openSqlite(path: string, synchronous: 'full' | 'normal', options: OpenStoreOptions): Store {
  mkdirSync(dirname(path), { recursive: true });
  const database = new SqliteDatabase(path);
  database.pragma('journal_mode = WAL');
  // FULL durability is kept by syncing the WAL off the event loop after each transaction (WalSync).
  database.pragma('synchronous = NORMAL');
  const walSync = synchronous === 'full' ? new WalSync(`${path}-wal`) : undefined;
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  let checkpointer: Checkpointer | undefined;
  if (options.backgroundCheckpoint) {
    database.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    checkpointer = startCheckpointer(path, options.logger ? { logger: options.logger } : {});
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  return new KyselyStore(
    'sqlite',
    db,
    `sqlite:${path}`,
    async () => undefined,
    async () => {
      await checkpointer?.stop();
      await walSync?.close();
    },
    walSync,
  );
}

/** Most distinct statements kept prepared; the working set of Facteur's queries is far smaller. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite driver prepares every statement again on each call, and preparing costs more
 * than running the small statements Facteur issues (tens of microseconds for an insert). The
 * same SQL text always gets the same prepared statement: parameters are bound at each run, and
 * Kysely runs one statement at a time on its single connection, so reuse is safe.
 */
function withStatementCache(database: SqliteDatabase.Database): SqliteDialectConfig['database'] {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => database.close(),
    prepare: (text: string) => {
      let statement = cache.get(text);
      if (statement) {
        // Map keeps insertion order: re-inserting makes this the most recently used entry.
        cache.delete(text);
      } else {
        statement = database.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

function openPostgres(url: string, options: OpenStoreOptions): Store {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    // bigint columns hold epoch milliseconds and counters, all well inside 2^53.
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'),
    },
  } as pg.PoolConfig);
  pool.on('error', (error) =>
    options.logger?.warn({ event: 'db.pool_error', err: error }, 'idle database connection failed'),
  );
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const store: KyselyStore = new KyselyStore('postgres', db, redactUrl(url), (logger) =>
    store.startListener(url, logger),
  );
  return store;
}
