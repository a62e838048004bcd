import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import { maskSecret, seal, unseal } from '../core/crypto/index.js';
import type { Database, Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Logger } from '../core/observability/index.js';
import { parseOrThrow, validationError } from '../core/validation.js';
import {
  type EndpointCreateInput,
  type EndpointSettings,
  type EndpointStatus,
  type EndpointUpdateInput,
  endpointCreateSchema,
  type FieldProblem,
  inputFromSettings,
  settingsFromInput,
  subscribes,
} from './model.js';
import { generateSecret } from './signing.js';
import {
  bringEndpointJobsForward,
  deleteEndpointRow,
  type EndpointRow,
  getEndpointRow,
  insertEndpoint,
  listEndpointRows,
  setEndpointMaxAttempts,
  updateEndpointRow,
} from './store.js';

/**
 * Endpoints: validated writes, sealed secrets, and an in-memory copy for the hot path that
 * every process refreshes when any process changes an endpoint (a notification) and at least
 * every few seconds (a missed notification costs a few seconds, never a wrong delivery forever).
 */

/** The notification channel for endpoint changes. */
export const ENDPOINTS_CHANNEL = 'webhook_endpoints';
const REFRESH_MS = 5000;
/** Waits that end when an endpoint is resumed or changed. */
const HELD_CODES = ['WEBHOOK_HELD', 'WEBHOOK_THROTTLED'];

/** Secrets as stored (sealed as one JSON document). */
interface EndpointSecrets {
  /** Current first; older ones sign too until they expire. */
  signing: Array<{ secret: string; expiresAt: number | null }>;
  headers: Record<string, string>;
}

/** An endpoint as the delivery path uses it: settings and secrets in clear. */
export interface Endpoint {
  id: string;
  status: EndpointStatus;
  settings: EndpointSettings;
  secrets: EndpointSecrets;
  failingSince: number | null;
  failureWarnedAt: number | null;
  disabledAt: number | null;
  disabledReason: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Dependencies of the endpoint registry. */
export interface EndpointDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  secretKey: Buffer;
  /** The SSRF guard, for the save-time address check. */
  guard: TargetGuard;
}

export class EndpointRegistry {
  private cache: Map<string, Endpoint> | undefined;
  private loadedAt = 0;
  private loading: Promise<Map<string, Endpoint>> | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: EndpointDeps) {
    this.unsubscribe = deps.store.subscribe(ENDPOINTS_CHANNEL, () => this.invalidate());
  }

  close(): void {
    this.unsubscribe();
  }

  /**
   * Marks the in-memory copy stale; the next read loads it again. The stale copy stays for
   * `peek` (retry schedule, concurrency) so that a change elsewhere never makes them fall back
   * to defaults for a moment.
   */
  invalidate(): void {
    this.loadedAt = Number.NEGATIVE_INFINITY;
  }

  /** The in-memory copy of one endpoint, without loading (undefined when not loaded). */
  peek(id: string): Endpoint | undefined {
    return this.cache?.get(id);
  }

  /**
   * Every endpoint, from memory when fresh. Inside a transaction, pass its `db`: on SQLite a
   * read through the store would wait for the transaction that waits for it.
   */
  async all(db: Kysely<Database> = this.deps.store.db): Promise<Map<string, Endpoint>> {
    if (this.cache && this.deps.clock.now() - this.loadedAt < REFRESH_MS) return this.cache;
    if (db !== this.deps.store.db) return this.loadAll(db);
    this.loading ??= this.loadAll(db).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadAll(db: Kysely<Database>): Promise<Map<string, Endpoint>> {
    {
      const startedAt = this.deps.clock.now();
      const rows = await listEndpointRows(db);
      const map = new Map(rows.map((row) => [row.id, this.fromRow(row)]));
      this.cache = map;
      this.loadedAt = startedAt;
      return map;
    }
  }

  async get(id: string): Promise<Endpoint | undefined> {
    return (await this.all()).get(id);
  }

  async require(id: string): Promise<Endpoint> {
    const endpoint = await this.get(id);
    if (!endpoint) throw new AppError('NOT_FOUND', `no endpoint has the id ${id}`);
    return endpoint;
  }

  /** Endpoints subscribed to `type`, whatever their status: paused and disabled ones hold the deliveries. */
  async subscribersOf(type: string, db?: Kysely<Database>): Promise<Endpoint[]> {
    const all = await this.all(db);
    return [...all.values()].filter((e) => subscribes(e.settings.eventTypes, type));
  }

  /** Creates an endpoint; the answer carries the signing secret, shown this once. */
  async create(input: EndpointCreateInput): Promise<{ endpoint: Endpoint; secret: string }> {
    const { secret: given, ...fields } = input;
    const settings = this.checkSettings(fields);
    await this.checkTarget(settings);
    const now = this.deps.clock.now();
    const secret = given ?? generateSecret();
    const secrets: EndpointSecrets = { signing: [{ secret, expiresAt: null }], headers: fields.headers };
    const row: EndpointRow = {
      id: uuidv7(),
      name: settings.name,
      status: 'active',
      config: JSON.stringify(settings),
      secrets: seal(this.deps.secretKey, JSON.stringify(secrets)),
      failing_since: null,
      failure_warned_at: null,
      disabled_at: null,
      disabled_reason: null,
      created_at: now,
      updated_at: now,
    };
    await this.write((tx) => insertEndpoint(tx, row));
    this.deps.logger.info({ event: 'endpoint.created', endpointId: row.id }, 'webhook endpoint created');
    return { endpoint: this.fromRow(row), secret };
  }

  /** Changes some settings; the rest stay. Queued deliveries follow the new schedule and window. */
  async update(id: string, patch: EndpointUpdateInput): Promise<Endpoint> {
    const current = await this.load(id);
    const currentWritten = parseOrThrow(
      endpointCreateSchema,
      inputFromSettings(current.settings, current.secrets.headers),
      'stored endpoint',
    );
    const merged = { ...currentWritten, ...patch };
    const settings = this.checkSettings(merged);
    if (patch.url !== undefined) await this.checkTarget(settings);
    const secrets = { ...current.secrets, headers: merged.headers };
    const now = this.deps.clock.now();
    await this.write(async (tx) => {
      await updateEndpointRow(tx, id, {
        name: settings.name,
        config: JSON.stringify(settings),
        secrets: seal(this.deps.secretKey, JSON.stringify(secrets)),
        updated_at: now,
      });
      if (patch.retrySchedule !== undefined) {
        await setEndpointMaxAttempts(tx, id, settings.retryScheduleMs.length + 1);
      }
      // A held delivery re-checks the new window at once instead of waiting for the old one.
      await bringEndpointJobsForward(tx, id, now, HELD_CODES, true);
    });
    return this.load(id);
  }

  async remove(id: string): Promise<void> {
    const deleted = await this.write((tx) => deleteEndpointRow(tx, id, this.deps.clock.now()));
    if (!deleted) throw new AppError('NOT_FOUND', `no endpoint has the id ${id}`);
    this.deps.logger.info({ event: 'endpoint.deleted', endpointId: id }, 'webhook endpoint deleted');
  }

  /** Pauses (deliveries are held) or resumes an endpoint; resuming also re-enables a disabled one. */
  async setStatus(id: string, status: 'active' | 'paused', reason?: string): Promise<Endpoint> {
    const now = this.deps.clock.now();
    await this.load(id);
    await this.write(async (tx) => {
      await updateEndpointRow(tx, id, {
        status,
        updated_at: now,
        ...(status === 'active'
          ? { disabled_at: null, disabled_reason: null, failing_since: null, failure_warned_at: null }
          : {}),
      });
      if (status === 'active') await bringEndpointJobsForward(tx, id, now, HELD_CODES, true);
    });
    this.deps.logger.info({
      event: `endpoint.${status === 'active' ? 'resumed' : 'paused'}`,
      endpointId: id,
      reason,
    });
    return this.load(id);
  }

  /** Disables an endpoint inside `tx` (410 Gone, failing too long). False if it already was. */
  async disableIn(tx: Tx, id: string, reason: string, now: number): Promise<boolean> {
    const result = await tx.db
      .updateTable('webhook_endpoints')
      .set({ status: 'disabled', disabled_at: now, disabled_reason: reason, updated_at: now })
      .where('id', '=', id)
      .where('status', '!=', 'disabled')
      .executeTakeFirst();
    tx.notify(ENDPOINTS_CHANNEL, id);
    tx.afterCommit(() => this.invalidate());
    return Number(result.numUpdatedRows) > 0;
  }

  /** A new signing secret; the previous ones keep signing for `overlapMs`, then stop. */
  async rotateSecret(
    id: string,
    overlapMs: number,
    given?: string,
  ): Promise<{ secret: string; previousExpiresAt: number }> {
    const current = await this.load(id);
    const now = this.deps.clock.now();
    const secret = given ?? generateSecret();
    const previousExpiresAt = now + overlapMs;
    const signing = [
      { secret, expiresAt: null },
      ...current.secrets.signing
        .filter((s) => s.expiresAt === null || s.expiresAt > now)
        .map((s) => ({
          secret: s.secret,
          expiresAt: Math.min(s.expiresAt ?? previousExpiresAt, previousExpiresAt),
        })),
    ];
    await this.write((tx) =>
      updateEndpointRow(tx, id, {
        secrets: seal(this.deps.secretKey, JSON.stringify({ ...current.secrets, signing })),
        updated_at: now,
      }),
    );
    this.deps.logger.info({ event: 'endpoint.secret_rotated', endpointId: id }, 'signing secret rotated');
    return { secret, previousExpiresAt };
  }

  /** The secrets that sign now: the current one and those still in their overlap. */
  signingSecrets(endpoint: Endpoint, now: number): string[] {
    return endpoint.secrets.signing
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => s.secret);
  }

  /** Reads one endpoint from the database (not the cache): after a write, the caller sees it. */
  async load(id: string): Promise<Endpoint> {
    const row = await getEndpointRow(this.deps.store.db, id);
    if (!row) throw new AppError('NOT_FOUND', `no endpoint has the id ${id}`);
    return this.fromRow(row);
  }

  /** Reads one endpoint inside `tx` (FOR SHARE on PostgreSQL); undefined when deleted. */
  async readIn(tx: Tx, id: string): Promise<Endpoint | undefined> {
    let query = tx.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id);
    if (tx.dialect === 'postgres') query = query.forShare();
    const row = await query.executeTakeFirst();
    return row ? this.fromRow(row) : undefined;
  }

  async list(): Promise<Endpoint[]> {
    return (await listEndpointRows(this.deps.store.db)).map((row) => this.fromRow(row));
  }

  /** Writes in a transaction that tells every process to reload. */
  async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.deps.store.transaction(async (tx) => {
      const result = await fn(tx);
      tx.notify(ENDPOINTS_CHANNEL, 'changed');
      tx.afterCommit(() => this.invalidate());
      return result;
    });
  }

  private checkSettings(fields: Omit<EndpointCreateInput, 'secret'>): EndpointSettings {
    const { settings, problems } = settingsFromInput(fields);
    if (problems.length > 0)
      throw validationError(
        'body',
        problems.map((p: FieldProblem) => ({ in: 'body', ...p })),
      );
    return settings;
  }

  /** A name that does not resolve yet is allowed: it is checked again on every connection. */
  private async checkTarget(settings: EndpointSettings): Promise<void> {
    await this.deps.guard.checkUrl(settings.url, 'url');
  }

  private fromRow(row: EndpointRow): Endpoint {
    // Rows written before the per-endpoint switch was removed still carry it: dropped, never honoured.
    const { allowPrivateTargets: _removed, ...settings } = JSON.parse(row.config) as EndpointSettings & {
      allowPrivateTargets?: unknown;
    };
    return {
      id: row.id,
      status: row.status as EndpointStatus,
      settings,
      secrets: JSON.parse(unseal(this.deps.secretKey, row.secrets)) as EndpointSecrets,
      failingSince: row.failing_since === null ? null : Number(row.failing_since),
      failureWarnedAt: row.failure_warned_at === null ? null : Number(row.failure_warned_at),
      disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
      disabledReason: row.disabled_reason,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }
}

/** Masks header values and secrets for API answers. */
export function maskedHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, maskSecret(value, 4)]));
}
