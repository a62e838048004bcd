import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { seal, unseal } from '../crypto/index.js';
import { type Database, isUniqueViolation, type Store, type Tx } from '../db/index.js';
import { AppError } from '../errors.js';
import { uuidv7 } from '../ids.js';
import type { Logger } from '../observability/index.js';
import { validationError } from '../validation.js';
import { recordSettingsChange, type SettingsAuditChange, type WriteActor } from './audit.js';
import type { SettingsChange, SettingsKind, SettingsRecord, SettingsRow } from './contract.js';
import { throwProblems } from './problems.js';
import {
  deleteSettingsRow,
  getSettingsRow,
  insertSettingsRow,
  listSettingsRows,
  orderedIds,
  renumber,
  updateSettingsRow,
} from './store.js';

/** Dependencies of a settings collection. */
export interface SettingsDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** The key that seals secret fields (required for kinds with secrets). */
  secretKey?: Buffer;
  /** How long a cached copy is trusted without a notification (default 5 s). */
  refreshMs?: number;
}

/** Options of a write: the version it is based on (`If-Match`), and who makes it (recorded in the audit log). */
export interface WriteOptions {
  ifVersion?: number;
  actor?: WriteActor;
}

/** A row written, ready for the store. */
export interface RowValues {
  name: string;
  config: string;
  status?: string;
  secrets?: string;
  updated_at: number;
}

/**
 * One collection of runtime settings of one kind. Reads come from an in-memory copy that every
 * process refreshes when any process changes the collection (a notification after commit) and
 * at least every `refreshMs`: a missed notification costs seconds, never a stale setting forever.
 */
export class SettingsCollection<S, X, C, P, R extends SettingsRecord<S, X> = SettingsRecord<S, X>> {
  private cache: Map<string, R> | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<Map<string, R>> | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    readonly kind: SettingsKind<S, X, C, P, R>,
    protected readonly deps: SettingsDeps,
  ) {
    if (kind.columns.secrets && !deps.secretKey) throw new Error(`${kind.noun} settings need a secret key`);
    this.unsubscribe = deps.store.subscribe(kind.channel, () => this.invalidate());
  }

  close(): void {
    this.unsubscribe();
  }

  /** Marks the copy stale; `peek` keeps answering from it until the next load. */
  invalidate(): void {
    this.loadedAt = Number.NEGATIVE_INFINITY;
  }

  /** The in-memory copy of one record, without loading (undefined when not loaded). */
  peek(id: string): R | undefined {
    return this.cache?.get(id);
  }

  /**
   * Every record, from memory when fresh. Inside a transaction, pass its `db`: on SQLite a read
   * through the store would wait for the transaction that waits for it.
   */
  async all(db: Kysely<Database> = this.deps.store.db): Promise<Map<string, R>> {
    if (this.cache && this.deps.clock.now() - this.loadedAt < (this.deps.refreshMs ?? 5000))
      return this.cache;
    if (db !== this.deps.store.db) return this.loadAll(db);
    this.loading ??= this.loadAll(db).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadAll(db: Kysely<Database>): Promise<Map<string, R>> {
    const startedAt = this.deps.clock.now();
    const records = await this.list(db);
    const map = new Map(records.map((record) => [record.id, record]));
    this.cache = map;
    this.loadedAt = startedAt;
    return map;
  }

  /** Every record, read from the database, in order. */
  async list(db: Kysely<Database> = this.deps.store.db): Promise<R[]> {
    const rows = await listSettingsRows(db, this.kind.table, this.kind.columns.position);
    return rows.map((row, index) => this.fromRow(row, index));
  }

  /** One record from memory (loading when stale), or undefined. */
  async get(id: string): Promise<R | undefined> {
    return (await this.all()).get(id);
  }

  /** One record from memory, or NOT_FOUND. */
  async require(id: string): Promise<R> {
    const record = await this.get(id);
    if (!record) throw this.notFound(id);
    return record;
  }

  /** One record read from the database (after a write, the caller sees it), or NOT_FOUND. */
  async load(id: string, db: Kysely<Database> = this.deps.store.db): Promise<R> {
    const row = await getSettingsRow(db, this.kind.table, id);
    if (!row) throw this.notFound(id);
    return this.fromRow(row, row.position ?? null);
  }

  /** One record inside `tx` (FOR SHARE on PostgreSQL); undefined when deleted. */
  async readIn(tx: Tx, id: string): Promise<R | undefined> {
    const row = await getSettingsRow(tx.db, this.kind.table, id, tx.dialect === 'postgres');
    return row ? this.fromRow(row, row.position ?? null) : undefined;
  }

  /** Validates a create input into the row to write, naming every bad field. */
  async prepareCreate(input: C, location = 'body'): Promise<RowValues> {
    const prepared = this.kind.prepare(input);
    throwProblems(prepared.problems, location);
    await this.kind.check?.(prepared.settings, undefined, prepared.secrets);
    return this.rowValues(prepared.settings, prepared.secrets, 'active');
  }

  /** Validates a patch merged into `current` into the row to write. */
  async prepareUpdate(current: R, patch: P, location = 'body'): Promise<RowValues> {
    const base = this.kind.toInput(current);
    const merged = this.kind.merge ? this.kind.merge(base, patch) : ({ ...base, ...patch } as C);
    const prepared = this.kind.prepare(merged, current);
    throwProblems(prepared.problems, location);
    await this.kind.check?.(prepared.settings, current, prepared.secrets);
    return this.rowValues(prepared.settings, prepared.secrets);
  }

  /** Creates a record (ordered kinds: at `position`, default last). */
  async create(input: C, options: { position?: number; id?: string; actor?: WriteActor } = {}): Promise<R> {
    const values = await this.prepareCreate(input);
    const id = options.id ?? uuidv7();
    const created = await this.write(async (tx, now) => {
      await this.insertIn(tx, id, values, now, options.position);
      const after = await this.mustRead(tx, id);
      await this.kind.afterWrite?.(tx, { op: 'create', after }, now);
      await this.audit(tx, options, now, { what: 'created', id, after });
      return after;
    });
    this.logChange('created', id);
    await this.kind.afterCommit?.({ op: 'create', after: created });
    return this.load(id);
  }

  /**
   * Changes some settings; the rest stay, and the whole is validated again. Without `ifVersion`,
   * a write that lands between the read and this one is merged again, never overwritten.
   */
  async update(id: string, patch: P, options: WriteOptions = {}): Promise<R> {
    for (let tries = 1; ; tries++) {
      const before = await this.load(id);
      this.checkVersion(before, options.ifVersion);
      const values = await this.prepareUpdate(before, patch);
      try {
        const change = await this.write(async (tx, now) => {
          await this.updateIn(tx, id, { ...values, updated_at: now }, before.version);
          const after = await this.mustRead(tx, id);
          const done: SettingsChange<R, P> = { op: 'update', before, after, patch };
          await this.kind.afterWrite?.(tx, done, now);
          await this.audit(tx, options, now, { what: 'updated', id, before, after });
          return done;
        });
        await this.kind.afterCommit?.(change);
        return this.load(id);
      } catch (error) {
        const raced = error instanceof AppError && error.code === 'VERSION_MISMATCH';
        if (!raced || options.ifVersion !== undefined || tries >= 5) throw error;
      }
    }
  }

  /** Sets the status (pause, resume). */
  async setStatus(id: string, status: string, options: WriteOptions = {}): Promise<R> {
    const before = await this.load(id);
    this.checkVersion(before, options.ifVersion);
    const change = await this.write(async (tx, now) => {
      const values = { status, updated_at: now, ...this.kind.statusColumns?.(status, now) };
      await this.updateIn(tx, id, values, options.ifVersion);
      const done: SettingsChange<R, P> = { op: 'status', before, after: await this.mustRead(tx, id) };
      await this.kind.afterWrite?.(tx, done, now);
      await this.audit(tx, options, now, { what: status === 'active' ? 'resumed' : status, id, ...done });
      return done;
    });
    this.logChange(status === 'active' ? 'resumed' : status, id);
    await this.kind.afterCommit?.(change);
    return this.load(id);
  }

  /** Replaces the secrets with what `next` makes of the current record (a rotation). */
  async setSecrets(id: string, next: (current: R) => X): Promise<R> {
    const before = await this.load(id);
    const secrets = next(before);
    await this.write(async (tx, now) => {
      await this.updateIn(tx, id, { secrets: this.sealSecrets(secrets), updated_at: now });
      await this.kind.afterWrite?.(tx, { op: 'secrets', before, after: await this.mustRead(tx, id) }, now);
    });
    return this.load(id);
  }

  /** Deletes a record. */
  async remove(id: string, options: WriteOptions = {}): Promise<void> {
    const before = await this.load(id);
    this.checkVersion(before, options.ifVersion);
    await this.write(async (tx, now) => {
      await this.kind.afterWrite?.(tx, { op: 'delete', before }, now);
      if (!(await this.deleteIn(tx, id, options.ifVersion)))
        throw options.ifVersion === undefined
          ? this.notFound(id)
          : this.versionMismatch(id, options.ifVersion);
      await this.audit(tx, options, now, { what: 'deleted', id, before });
    });
    this.logChange('deleted', id);
    await this.kind.afterCommit?.({ op: 'delete', before });
  }

  /** Puts an ordered kind in the order of `ids`, which must name every record once. */
  async reorder(ids: readonly string[], options: WriteOptions = {}): Promise<R[]> {
    await this.write(async (tx, now) => {
      const existing = new Set(await orderedIds(tx, this.kind.table));
      const given = new Set(ids);
      const missing = [...existing].filter((id) => !given.has(id));
      const unknown = ids.filter((id) => !existing.has(id));
      if (missing.length > 0 || unknown.length > 0 || given.size !== ids.length) {
        throw validationError('body', [
          {
            in: 'body',
            field: 'ids',
            message: `must list every ${this.kind.noun} exactly once${missing.length ? `; missing ${missing.join(', ')}` : ''}${unknown.length ? `; unknown ${unknown.join(', ')}` : ''}${given.size !== ids.length ? '; some are repeated' : ''}`,
          },
        ]);
      }
      await this.reorderIn(tx, ids);
      await this.kind.afterWrite?.(tx, { op: 'order', ids }, now);
      const order = { before: { ids: [...existing] }, after: { ids } };
      await this.audit(tx, options, now, { what: 'reordered', id: null, ...order });
    });
    return this.list();
  }

  /** Gives the records of `ids` their index as position, inside `tx`. */
  async reorderIn(tx: Tx, ids: readonly string[]): Promise<void> {
    await renumber(tx, this.kind.table, ids);
  }

  /** Deletes a row inside `tx`; false when there was none (or not at `ifVersion`). */
  deleteIn(tx: Tx, id: string, ifVersion?: number): Promise<boolean> {
    return deleteSettingsRow(tx, this.kind.table, id, ifVersion);
  }

  /**
   * Runs `fn` in a transaction that tells every process to reload this collection after commit.
   * A unique name taken by another record is a field error, not a 500.
   */
  async write<T>(fn: (tx: Tx, now: number) => Promise<T>): Promise<T> {
    try {
      return await this.deps.store.transaction(async (tx) => {
        const result = await fn(tx, this.deps.clock.now());
        this.changedIn(tx);
        return result;
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw validationError('body', [
          { in: 'body', field: 'name', message: `is already used by another ${this.kind.noun}` },
        ]);
      throw error;
    }
  }

  /** Marks the collection changed by a write made in `tx` elsewhere (an endpoint disabled by its failures). */
  changedIn(tx: Tx): void {
    tx.notify(this.kind.channel, 'changed');
    tx.afterCommit(() => this.invalidate());
  }

  /** Inserts a prepared row inside `tx` (also used by import). */
  async insertIn(tx: Tx, id: string, values: RowValues, now: number, position?: number): Promise<void> {
    const row: SettingsRow = { ...values, id, version: 1, created_at: now, updated_at: now };
    if (!this.kind.columns.position) return insertSettingsRow(tx, this.kind.table, row);
    const ids = await orderedIds(tx, this.kind.table);
    const at = position === undefined ? ids.length : Math.max(0, Math.min(position, ids.length));
    await insertSettingsRow(tx, this.kind.table, { ...row, position: at });
    ids.splice(at, 0, id);
    await this.reorderIn(tx, ids);
  }

  /** Updates a row inside `tx`; a version that moved on meanwhile is refused. */
  async updateIn(tx: Tx, id: string, values: Record<string, unknown>, ifVersion?: number): Promise<void> {
    const version = await updateSettingsRow(tx, this.kind.table, id, values, ifVersion);
    if (version !== undefined) return;
    throw ifVersion === undefined ? this.notFound(id) : this.versionMismatch(id, ifVersion);
  }

  /** Records the write in the audit log, in its transaction, when it has an actor (`settings/audit.ts`). */
  private audit(tx: Tx, options: WriteOptions, now: number, change: Omit<SettingsAuditChange, 'noun'>) {
    return recordSettingsChange(tx, options.actor, { noun: this.kind.noun, ...change }, now);
  }

  private async mustRead(tx: Tx, id: string): Promise<R> {
    const record = await this.readIn(tx, id);
    if (!record) throw this.notFound(id);
    return record;
  }

  private rowValues(settings: S, secrets: X, status?: string): RowValues {
    const { columns } = this.kind;
    return {
      name: (settings as { name: string }).name,
      config: JSON.stringify(settings),
      updated_at: this.deps.clock.now(),
      ...(columns.status && status !== undefined ? { status } : {}),
      ...(columns.secrets ? { secrets: this.sealSecrets(secrets) } : {}),
    };
  }

  private sealSecrets(secrets: X): string {
    return seal(this.deps.secretKey as Buffer, JSON.stringify(secrets));
  }

  /**
   * Secrets that cannot be unsealed (the database was restored under another key) leave this
   * record unusable with the reason, not the whole server.
   */
  private readSecrets(row: SettingsRow): { secrets: X; secretsProblem?: string } {
    if (!this.kind.columns.secrets || row.secrets === undefined) return { secrets: this.kind.emptySecrets };
    try {
      return { secrets: JSON.parse(unseal(this.deps.secretKey as Buffer, row.secrets)) as X };
    } catch (error) {
      return {
        secrets: this.kind.emptySecrets,
        secretsProblem: `the stored secrets of ${this.kind.noun} ${row.id} cannot be read (${(error as Error).message}); set them again with PATCH ${this.kind.path}/${row.id}`,
      };
    }
  }

  private fromRow(row: SettingsRow, position: number | null): R {
    const record: SettingsRecord<S, X> = {
      id: row.id,
      name: row.name,
      status: row.status ?? 'active',
      settings: JSON.parse(row.config) as S,
      ...this.readSecrets(row),
      position: this.kind.columns.position ? position : null,
      version: Number(row.version),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
    return this.kind.decorate ? this.kind.decorate(record, row) : (record as R);
  }

  private checkVersion(record: R, ifVersion: number | undefined): void {
    if (ifVersion !== undefined && ifVersion !== record.version)
      throw this.versionMismatch(record.id, ifVersion, record.version);
  }

  private versionMismatch(id: string, expected: number, actual?: number): AppError {
    return new AppError(
      'VERSION_MISMATCH',
      `${this.kind.noun} ${id} is no longer at version ${expected}${actual === undefined ? '' : ` (it is at ${actual})`}; read it again and apply the change to the current version`,
      { details: { expected, ...(actual === undefined ? {} : { actual }) } },
    );
  }

  private notFound(id: string): AppError {
    return new AppError('NOT_FOUND', `no ${this.kind.noun} has the id ${id}`);
  }

  private logChange(what: string, id: string): void {
    const noun = this.kind.noun;
    this.deps.logger.info({ event: `${noun}.${what}`, [`${noun}Id`]: id }, `${noun} ${what}`);
  }
}
