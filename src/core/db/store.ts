import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { redactUrl } from '../config/index.js';
import { uuidv7 } from '../ids.js';
import type { Logger } from '../observability/logger.js';
import type { Database } from './schema.js';

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
}

const NOTIFY_CHANNEL = 'facteur';

/** Opens the database described by `config`. SQLite files (and their directory) are created. */
export function openStore(config: DatabaseConfig, options: OpenStoreOptions = {}): Store {
  return config.kind === 'sqlite'
    ? openSqlite(config.path, config.synchronous)
    : openPostgres(config.url, options);
}

function openSqlite(path: string, synchronous: 'full' | 'normal'): Store {
  mkdirSync(dirname(path), { recursive: true });
  const database = new SqliteDatabase(path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return new KyselyStore('sqlite', db, `sqlite:${path}`, async () => undefined);
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

class KyselyStore implements Store {
  private readonly bus = new EventEmitter();
  /** Identifies this process's notifications so that its own LISTEN echo is ignored. */
  private readonly origin = uuidv7();
  private listener: PostgresListener | undefined;

  constructor(
    readonly dialect: Dialect,
    readonly db: Kysely<Database>,
    readonly location: string,
    private readonly openListener: (logger: Logger) => Promise<void>,
  ) {
    this.bus.setMaxListeners(0);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const hooks: Array<() => void> = [];
    const notifications = new Map<string, Set<string>>();
    const result = await this.db.transaction().execute(async (trx) => {
      const tx: Tx = {
        db: trx,
        dialect: this.dialect,
        afterCommit: (hook) => hooks.push(hook),
        notify: (channel, payload) => {
          const set = notifications.get(channel) ?? new Set<string>();
          set.add(payload);
          notifications.set(channel, set);
        },
      };
      const value = await fn(tx);
      if (this.dialect === 'postgres') {
        for (const [channel, payloads] of notifications) {
          for (const payload of payloads) {
            await sql`select pg_notify(${NOTIFY_CHANNEL}, ${this.encode(channel, payload)})`.execute(trx);
          }
        }
      }
      return value;
    });
    for (const [channel, payloads] of notifications) {
      for (const payload of payloads) this.bus.emit(channel, payload);
    }
    for (const hook of hooks) hook();
    return result;
  }

  subscribe(channel: string, handler: (payload: string) => void): () => void {
    this.bus.on(channel, handler);
    return () => this.bus.off(channel, handler);
  }

  listen(logger: Logger): Promise<void> {
    return this.openListener(logger);
  }

  async ping(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([sql`select 1`.execute(this.db), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.listener?.close();
    await this.db.destroy();
  }

  /** Starts the PostgreSQL LISTEN connection (idempotent). */
  async startListener(url: string, logger: Logger): Promise<void> {
    if (this.listener) return;
    this.listener = new PostgresListener(url, logger, (raw) => {
      const decoded = this.decode(raw);
      if (decoded && decoded.origin !== this.origin) this.bus.emit(decoded.channel, decoded.payload);
    });
    await this.listener.start();
  }

  private encode(channel: string, payload: string): string {
    return JSON.stringify([this.origin, channel, payload]);
  }

  private decode(raw: string): { origin: string; channel: string; payload: string } | undefined {
    try {
      const [origin, channel, payload] = JSON.parse(raw) as [string, string, string];
      return { origin, channel, payload };
    } catch {
      return undefined;
    }
  }
}

/**
 * A dedicated connection holding `LISTEN facteur`, reconnected with backoff when it drops.
 * Missed notifications while disconnected are covered by the job engine's safety poll.
 */
class PostgresListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryDelayMs = 250;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly onPayload: (payload: string) => void,
  ) {}

  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      this.logger.warn(
        { event: 'db.listen_failed', err: error },
        'cannot open the LISTEN connection; retrying',
      );
      this.scheduleReconnect();
    }
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    client.on('notification', (message) => {
      if (message.channel === NOTIFY_CHANNEL && message.payload) this.onPayload(message.payload);
    });
    client.on('error', (error) => {
      this.logger.warn({ event: 'db.listen_lost', err: error }, 'LISTEN connection lost; reconnecting');
      void client.end().catch(() => undefined);
      if (this.client === client) this.client = undefined;
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    this.client = client;
    this.retryDelayMs = 250;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 10_000);
    setTimeout(() => {
      if (this.closed || this.client) return;
      this.connect().catch((error) => {
        this.logger.warn({ event: 'db.listen_failed', err: error }, 'cannot reopen the LISTEN connection');
        this.scheduleReconnect();
      });
    }, delay).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}
