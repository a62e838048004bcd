import { EventEmitter } from 'node:events';
import { type Kysely, sql, type Transaction } from 'kysely';
import { uuidv7 } from '../ids.js';
import type { Logger } from '../observability/logger.js';
import { NOTIFY_CHANNEL, PostgresListener } from './pg-listener.js';
import type { Database } from './schema.js';
import type { Dialect, Store, Tx } from './store.js';
import type { WalSync } from './wal-sync.js';

/**
 * The one `Store` implementation over Kysely, for both dialects: transactions with after-commit
 * hooks and notifications, group commit, and the in-process notification bus (fed on PostgreSQL
 * by the LISTEN connection).
 */

/** Most calls committed together by `groupTransaction`: bounds the time a group holds the database. */
const MAX_GROUP = 200;

interface GroupMember {
  run: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class KyselyStore implements Store {
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
