import type { Kysely } from 'kysely';
import type { AuditEntryInput, AuditRecorder } from '../core/audit-entry.js';
import type { Clock, Timer } from '../core/clock.js';
import type { Database, Store } from '../core/db/index.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import { type AuditEntry, type AuditFilters, encodeCursor, normalisedEntry } from './model.js';
import { deleteAuditBefore, insertAuditEntry, listAuditEntries } from './store.js';

/** Dependencies of the audit log. */
export interface AuditDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Entries older than this are deleted by the sweep (FACTEUR_AUDIT_RETENTION). */
  retentionMs: number;
  /** How often the sweep runs once started (default 1 h; the first runs at start). */
  sweepEveryMs?: number;
  /** Rows deleted per statement by the sweep (default 1000), so that no sweep holds a long lock. */
  sweepBatch?: number;
}

/** A page of entries, newest first; `nextCursor` is null on the last page. */
export interface AuditPage {
  items: AuditEntry[];
  nextCursor: string | null;
}

/**
 * The audit log: records entries, lists them, and deletes those past the retention.
 *
 * Recording, for features (the lead's sign-in code, users, keys):
 *
 * ```ts
 * // In the change's transaction: the entry commits or rolls back with it.
 * await audit.record(tx.db, { ...requestAuditContext(request), action: 'user.created',
 *   target: { type: 'user', id: user.id }, after: user });
 * // Alone (a refused login, nothing else written):
 * await audit.record(store.db, { actor: { kind: 'anonymous', name: email }, action: 'session.login_failed',
 *   target: { type: 'user', id: null }, address: request.ip, requestId: request.id, outcome: 'refused' });
 * ```
 *
 * `before` and `after` are redacted (`redactSecrets`) and bounded (16 KB) here, so callers pass
 * their documents as they are.
 */
export class AuditLog implements AuditRecorder {
  private readonly pending = new Set<Promise<unknown>>();
  private timer: Timer | undefined;
  private running = false;

  constructor(private readonly deps: AuditDeps) {}

  /**
   * Records one entry through `db`: a transaction's `tx.db` to write it with the change, or
   * `store.db` alone. Throws when the row cannot be written (the caller's transaction then
   * rolls back: a change is never committed without its entry).
   */
  async record(db: Kysely<Database>, entry: AuditEntryInput): Promise<void> {
    await insertAuditEntry(db, normalisedEntry(entry, uuidv7(), this.deps.clock.now()));
  }

  /**
   * Records an entry after the fact (the HTTP layer, once the response is sent): in a group
   * transaction shared with the other entries of the same turn, never throwing; a failure is
   * logged. `settled()` waits for it.
   */
  recordLater(entry: AuditEntryInput): void {
    const normalised = normalisedEntry(entry, uuidv7(), this.deps.clock.now());
    this.track(
      this.deps.store
        .groupTransaction((tx) => insertAuditEntry(tx.db, normalised))
        .catch((error) =>
          this.deps.logger.warn(
            { event: 'audit.record_failed', err: error, action: entry.action, reqId: entry.requestId },
            'cannot record an audit entry',
          ),
        ),
    );
  }

  /** A page of entries matching `filters`, newest first. */
  async list(filters: AuditFilters): Promise<AuditPage> {
    const rows = await listAuditEntries(this.deps.store.db, { ...filters, limit: filters.limit + 1 });
    const items = rows.slice(0, filters.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > filters.limit && last ? encodeCursor(last) : null };
  }

  /** Deletes every entry older than the retention, in batches; answers how many. */
  async sweep(): Promise<number> {
    const cutoff = this.deps.clock.now() - this.deps.retentionMs;
    const batch = this.deps.sweepBatch ?? 1000;
    let deleted = 0;
    for (;;) {
      const count = await deleteAuditBefore(this.deps.store.db, cutoff, batch);
      deleted += count;
      if (count < batch) break;
    }
    if (deleted > 0)
      this.deps.logger.info({ event: 'audit.swept', count: deleted }, 'deleted audit entries past retention');
    return deleted;
  }

  /** Runs the sweep now and then every `sweepEveryMs` on the injected clock, until `stop`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the sweep and waits for the entries and the sweep under way. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.settled();
  }

  /** Resolves once every entry handed to `recordLater` and any sweep under way are done. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private schedule(delayMs: number): void {
    this.timer = this.deps.clock.setTimer(delayMs, () => {
      if (!this.running) return;
      this.track(
        this.sweep()
          .catch((error) =>
            this.deps.logger.warn({ event: 'audit.sweep_failed', err: error }, 'cannot sweep the audit log'),
          )
          .finally(() => {
            if (this.running) this.schedule(this.deps.sweepEveryMs ?? 3_600_000);
          }),
      );
    });
  }

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    const forget = () => this.pending.delete(promise);
    promise.then(forget, forget);
  }
}
