import type { Kysely } from 'kysely';
import type { Database } from '../core/db/index.js';
import {
  SettingsCollection,
  type SettingsDeps,
  SettingsDocument,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import { parseOrThrow } from '../core/validation.js';
import {
  type Rule,
  type RuleInput,
  type RulePatch,
  type RuleSettings,
  ruleInputSchema,
  rulePatchSchema,
  ruleSettingsSchema,
} from './model.js';

/**
 * Routing rules: an ordered kind of runtime setting (core/settings), and the rule settings
 * (default actions, de-duplication, allowlist) as one document beside them. Every process
 * keeps the current set in memory and reloads it when any process changes it.
 */

/** The notification channel for rule changes. */
export const RULES_CHANNEL = 'rules';

/** The rules in order and their settings. */
export interface RuleSet {
  rules: Rule[];
  settings: RuleSettings;
}

/** A stored rule as the settings collection holds it. */
export type RuleRecord = SettingsRecord<RuleInput, Record<string, never>>;

/** A rule as the API and the evaluator see it: as written, with its id, place and version. */
export function ruleOf(record: RuleRecord): Rule & { version: number } {
  return { ...record.settings, id: record.id, position: record.position ?? 0, version: record.version };
}

const ruleKind: SettingsKind<RuleInput, Record<string, never>, RuleInput, RulePatch, RuleRecord> = {
  noun: 'rule',
  table: 'rules',
  path: '/api/rules',
  channel: RULES_CHANNEL,
  columns: { status: false, secrets: false, position: true },
  createSchema: ruleInputSchema,
  patchSchema: rulePatchSchema,
  emptySecrets: {},
  prepare: (input) => ({ settings: input, secrets: {}, problems: [] }),
  toInput: (record) => record.settings,
  // The merged rule is validated again as a whole; `preset: null` in a patch removes the preset.
  merge: (current, patch) => {
    const written: Record<string, unknown> = { ...current, ...patch };
    if (written.preset === null) delete written.preset;
    return parseOrThrow(ruleInputSchema, written, 'body');
  },
  exportForm: (record) => ({ ...record.settings }),
};

export class RuleStore extends SettingsCollection<
  RuleInput,
  Record<string, never>,
  RuleInput,
  RulePatch,
  RuleRecord
> {
  private cached: Promise<RuleSet> | undefined;
  private readonly document: SettingsDocument<RuleSettings>;

  constructor(deps: SettingsDeps) {
    super(ruleKind, deps);
    this.document = new SettingsDocument(
      { key: 'rules.settings', channel: RULES_CHANNEL, schema: ruleSettingsSchema, noun: 'rule settings' },
      deps,
    );
  }

  override invalidate(): void {
    super.invalidate();
    this.cached = undefined;
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
    const records = await this.list(db);
    return { rules: records.map(ruleOf), settings: await this.document.read(db) };
  }

  /** The rule settings. */
  readSettings(): Promise<RuleSettings> {
    return this.document.read();
  }

  /** Replaces the rule settings. */
  putSettings(settings: RuleSettings): Promise<RuleSettings> {
    return this.document.put(settings, () => this.invalidate());
  }
}
