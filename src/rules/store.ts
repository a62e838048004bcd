import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { Database, Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { parseOrThrow, validationError } from '../core/validation.js';
import {
  type Rule,
  type RuleInput,
  type RulePatch,
  type RuleSettings,
  ruleInputSchema,
  ruleSettingsSchema,
} from './model.js';

/**
 * Routing rules as runtime settings: ordered rows, validated on write, and the rule settings
 * (default actions, de-duplication, allowlist) in the settings table. Every process keeps the
 * current set in memory and reloads it when any process changes it (a notification).
 */

/** The notification channel for rule changes. */
export const RULES_CHANNEL = 'rules';
const SETTINGS_KEY = 'rules.settings';

/** The rules in order and their settings. */
export interface RuleSet {
  rules: Rule[];
  settings: RuleSettings;
}

export class RuleStore {
  private cached: Promise<RuleSet> | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: { store: Store; clock: Clock }) {
    this.unsubscribe = deps.store.subscribe(RULES_CHANNEL, () => {
      this.cached = undefined;
    });
  }

  close(): void {
    this.unsubscribe();
  }

  /** The store's connection, for reads outside a transaction. */
  get db(): Kysely<Database> {
    return this.deps.store.db;
  }

  /** The current rules and settings (from memory after the first read). */
  current(): Promise<RuleSet> {
    this.cached ??= this.read(this.deps.store.db).catch((error) => {
      this.cached = undefined;
      throw error;
    });
    return this.cached;
  }

  /** Reads the rule set from `db` (inside a transaction, pass its `db`). */
  async read(db: Kysely<Database>): Promise<RuleSet> {
    const rows = await db.selectFrom('rules').selectAll().orderBy('position').orderBy('id').execute();
    const setting = await db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', SETTINGS_KEY)
      .executeTakeFirst();
    return {
      rules: rows.map((row, index) => ({
        ...(JSON.parse(row.config) as RuleInput),
        id: row.id,
        position: index,
      })) as Rule[],
      settings: parseOrThrow(
        ruleSettingsSchema,
        setting ? JSON.parse(setting.value) : {},
        'stored rule settings',
      ),
    };
  }

  /** One rule, or NOT_FOUND. */
  async get(id: string): Promise<Rule> {
    const rule = (await this.read(this.deps.store.db)).rules.find((r) => r.id === id);
    if (!rule) throw new AppError('NOT_FOUND', `no rule has the id ${id}`);
    return rule;
  }

  /** Adds a rule at `position` (default: last). */
  async create(input: RuleInput, position?: number): Promise<Rule> {
    const id = uuidv7();
    await this.write(async (tx) => {
      const ids = (
        await tx.db.selectFrom('rules').select('id').orderBy('position').orderBy('id').execute()
      ).map((r) => r.id);
      const at = position === undefined ? ids.length : Math.max(0, Math.min(position, ids.length));
      const now = this.deps.clock.now();
      await tx.db
        .insertInto('rules')
        .values({
          id,
          position: at,
          name: input.name,
          config: JSON.stringify(input),
          created_at: now,
          updated_at: now,
        })
        .execute();
      ids.splice(at, 0, id);
      await renumber(tx, ids);
    });
    return this.get(id);
  }

  /** Changes some fields of a rule; the merged rule is validated again as a whole. */
  async update(id: string, patch: RulePatch): Promise<Rule> {
    const { id: _id, position: _position, ...current } = await this.get(id);
    const written: Record<string, unknown> = { ...current, ...patch };
    if (written.preset === null) delete written.preset; // null in a patch removes the preset
    const merged = parseOrThrow(ruleInputSchema, written, 'body');
    await this.write((tx) =>
      tx.db
        .updateTable('rules')
        .set({ name: merged.name, config: JSON.stringify(merged), updated_at: this.deps.clock.now() })
        .where('id', '=', id)
        .execute(),
    );
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    await this.write(async (tx) => {
      const result = await tx.db.deleteFrom('rules').where('id', '=', id).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw new AppError('NOT_FOUND', `no rule has the id ${id}`);
    });
  }

  /** Puts the rules in the order of `ids`, which must name every rule once. */
  async reorder(ids: readonly string[]): Promise<Rule[]> {
    await this.write(async (tx) => {
      const existing = new Set((await tx.db.selectFrom('rules').select('id').execute()).map((r) => r.id));
      const given = new Set(ids);
      const missing = [...existing].filter((id) => !given.has(id));
      const unknown = ids.filter((id) => !existing.has(id));
      if (missing.length > 0 || unknown.length > 0 || given.size !== ids.length) {
        throw validationError('body', [
          {
            in: 'body',
            field: 'ids',
            message: `must list every rule exactly once${missing.length ? `; missing ${missing.join(', ')}` : ''}${unknown.length ? `; unknown ${unknown.join(', ')}` : ''}${given.size !== ids.length ? '; some are repeated' : ''}`,
          },
        ]);
      }
      await renumber(tx, ids);
    });
    return (await this.read(this.deps.store.db)).rules;
  }

  /** Replaces the rule settings. */
  async putSettings(settings: RuleSettings): Promise<RuleSettings> {
    const now = this.deps.clock.now();
    await this.write((tx) =>
      tx.db
        .insertInto('settings')
        .values({ key: SETTINGS_KEY, value: JSON.stringify(settings), updated_at: now })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({ value: JSON.stringify(settings), updated_at: now }),
        )
        .execute(),
    );
    return (await this.read(this.deps.store.db)).settings;
  }

  private async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.deps.store.transaction(async (tx) => {
      const result = await fn(tx);
      tx.notify(RULES_CHANNEL, 'changed');
      tx.afterCommit(() => {
        this.cached = undefined;
      });
      return result;
    });
  }
}

async function renumber(tx: Tx, ids: readonly string[]): Promise<void> {
  for (const [position, id] of ids.entries()) {
    await tx.db.updateTable('rules').set({ position }).where('id', '=', id).execute();
  }
}
