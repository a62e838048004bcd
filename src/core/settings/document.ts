import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Database, Store, Tx } from '../db/index.js';
import { parseOrThrow } from '../validation.js';
import { readSettingValue, writeSettingValue } from './store.js';

/**
 * A single settings document (the rule settings: default actions, de-duplication, allowlist):
 * one validated value under a key of the `settings` table, written with a notification on the
 * channel of the collection it belongs with. Absent means every field takes its default.
 */
export class SettingsDocument<T> {
  constructor(
    private readonly spec: { key: string; channel: string; schema: z.ZodType<T>; noun: string },
    private readonly deps: { store: Store; clock: Clock },
  ) {}

  /** The stored value (its defaults when none is stored); inside a transaction, pass its `db`. */
  async read(db: Kysely<Database> = this.deps.store.db): Promise<T> {
    const stored = await readSettingValue(db, this.spec.key);
    return parseOrThrow(
      this.spec.schema,
      stored === undefined ? {} : JSON.parse(stored),
      `stored ${this.spec.noun}`,
    );
  }

  /** Replaces the value; every process hears of it after commit. */
  async put(value: T, afterCommit?: () => void): Promise<T> {
    await this.deps.store.transaction(async (tx) => {
      await this.putIn(tx, value);
      if (afterCommit) tx.afterCommit(afterCommit);
    });
    return this.read();
  }

  /** Replaces the value inside `tx` (an import writing several things at once). */
  async putIn(tx: Tx, value: T): Promise<void> {
    await writeSettingValue(tx, this.spec.key, JSON.stringify(value), this.deps.clock.now());
    tx.notify(this.spec.channel, 'changed');
  }
}
