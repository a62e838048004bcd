import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type SqliteDialectConfig,
  sql,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { redactUrl } from '../config/index.js';
import { uuidv7 } from '../ids.js';
import type { Logger } from '../observability/logger.js';
import { type Checkpointer, FALLBACK_AUTOCHECKPOINT_PAGES, startCheckpointer } from './checkpointer.js';
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

const NOTIFY_CHANNEL = 'facteur';

/** Most calls committed together by `groupTransaction`: bounds the time a group holds the database. */
const MAX_GROUP = 200;

interface GroupMember {
  run: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
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

class KyselyStore implements Store {
  private readonly bus = new EventEmitter();
  /** Identifies this process's notifications so that its own LISTEN echo is ignored. */
  private readonly origin = uuidv7();
  private listener: PostgresListener | undefined;
  private group: GroupMember[] = [];
  private groupScheduled = false;
  private groupCommitting = false;

  constructor(
    readonly dialect: Dialect,
    readonly db: Kysely<Database>,
    readonly location: string,
    private readonly openListener: (logger: Logger) => Promise<void>,
    private readonly beforeClose: () => Promise<void> = async () => undefined,
    /** SQLite in FULL mode: makes committed transactions durable. */
    readonly walSync?: WalSync,
  ) {
    this.bus.setMaxListeners(0);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const committed = await this.commit(fn);
    // Answer only once the commit is on disk (FULL): callers may then promise it is kept.
    await this.walSync?.sync();
    committed.publish();
    return committed.value;
  }

  /** Runs `fn` in a transaction and commits; `publish` fires its notifications and hooks. */
  private async commit<T>(fn: (tx: Tx) => Promise<T>): Promise<{ value: T; publish: () => void }> {
    const hooks: Array<() => void> = [];
    const notifications = new Map<string, Set<string>>();
    const value = await this.db.transaction().execute(async (trx) => {
      const result = await fn(this.newTx(trx, hooks, notifications));
      if (this.dialect === 'postgres') {
        for (const [channel, payloads] of notifications) {
          for (const payload of payloads) {
            await sql`select pg_notify(${NOTIFY_CHANNEL}, ${this.encode(channel, payload)})`.execute(trx);
          }
        }
      }
      return result;
    });
    const publish = (): void => {
      for (const [channel, payloads] of notifications) {
        for (const payload of payloads) this.bus.emit(channel, payload);
      }
      for (const hook of hooks) hook();
    };
    return { value, publish };
  }

  groupTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({
        run: fn as (tx: Tx) => Promise<unknown>,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.scheduleGroup();
    });
  }

  /**
   * One group commits at a time: calls arriving meanwhile gather into the next, larger group.
   * A group's members are answered once its commit is durable, while the next group commits.
   */
  private scheduleGroup(): void {
    if (this.groupScheduled || this.groupCommitting || this.group.length === 0) return;
    this.groupScheduled = true;
    setImmediate(() => {
      this.groupScheduled = false;
      this.groupCommitting = true;
      void this.commitGroup().finally(() => {
        this.groupCommitting = false;
        this.scheduleGroup();
      });
    });
  }

  /** Commits the calls gathered so far in one transaction; resolves once committed (not yet synced). */
  private async commitGroup(): Promise<void> {
    const members = this.group.splice(0, MAX_GROUP);
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let committed: { value: unknown; publish: () => void };
    try {
      committed = await this.commit(async (tx) => {
        if (members.length === 1) {
          outcomes.push({ ok: true, value: await (members[0] as GroupMember).run(tx) });
          return;
        }
        for (const member of members) {
          // The member's hooks and notifications join the transaction's only if it succeeds.
          const hooks: Array<() => void> = [];
          const notifications = new Map<string, Set<string>>();
          await sql`savepoint facteur_group`.execute(tx.db);
          try {
            const value = await member.run(this.newTx(tx.db, hooks, notifications));
            await sql`release savepoint facteur_group`.execute(tx.db);
            for (const hook of hooks) tx.afterCommit(hook);
            for (const [channel, payloads] of notifications) {
              for (const payload of payloads) tx.notify(channel, payload);
            }
            outcomes.push({ ok: true, value });
          } catch (error) {
            await sql`rollback to savepoint facteur_group`.execute(tx.db);
            await sql`release savepoint facteur_group`.execute(tx.db);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const member of members) member.reject(error);
      return;
    }
    const answer = (): void => {
      committed.publish();
      members.forEach((member, index) => {
        const outcome = outcomes[index];
        if (outcome?.ok) member.resolve(outcome.value);
        else member.reject(outcome?.error);
      });
    };
    if (!this.walSync) return answer();
    this.walSync.sync().then(answer, (error: unknown) => {
      for (const member of members) member.reject(error);
    });
  }

  private newTx(
    db: Transaction<Database>,
    hooks: Array<() => void>,
    notifications: Map<string, Set<string>>,
  ): Tx {
    return {
      db,
      dialect: this.dialect,
      afterCommit: (hook) => hooks.push(hook),
      notify: (channel, payload) => {
        const set = notifications.get(channel) ?? new Set<string>();
        set.add(payload);
        notifications.set(channel, set);
      },
    };
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
    await this.beforeClose();
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
