import { z } from 'zod';
import { AppError } from '../errors.js';
import { uuidv7 } from '../ids.js';
import { type FieldError, parseOrThrow, validationError } from '../validation.js';
import type { SettingsCollection } from './collection.js';
import type { SettingsExport, SettingsRecord } from './contract.js';

/**
 * A whole collection as plain data, out and back in: the form a backup, a move between
 * instances and configuration as code use. Secret fields are never exported; on import, a
 * record that exists keeps the secrets it has unless the import gives new ones, and a new
 * record must give them. An import is checked whole before anything is written, and then
 * written in one transaction: every bad field of every record is named, and nothing is
 * half-imported.
 */

// biome-ignore lint/suspicious/noExplicitAny: a collection of any kind
type AnyCollection = SettingsCollection<any, any, any, any, SettingsRecord<any, any>>;

const exportSchema = z.strictObject({
  kind: z.string(),
  version: z.literal(1),
  records: z
    .array(
      z
        .object({
          id: z.string().min(1).max(64).optional(),
          status: z.enum(['active', 'paused']).optional(),
        })
        .catchall(z.unknown()),
    )
    .max(10_000),
});

/** One record to write, checked. */
interface Plan {
  id: string;
  status?: string;
  values: Awaited<ReturnType<AnyCollection['prepareCreate']>>;
  exists: boolean;
}

/** What an import did. */
export interface ImportResult {
  created: string[];
  updated: string[];
  deleted: string[];
}

/** Every record of the collection, in order, secrets left out. */
export async function exportCollection(collection: AnyCollection): Promise<SettingsExport> {
  const { kind } = collection;
  const records = await collection.list();
  return {
    kind: kind.noun,
    version: 1,
    records: records.map((record) => ({
      id: record.id,
      ...(kind.columns.status ? { status: record.status } : {}),
      ...kind.exportForm(record),
    })),
  };
}

/**
 * Writes an export back. Records with a known id are updated, others created with their id;
 * with `prune`, records the import does not list are deleted. Ordered kinds take the order of
 * the import (records it does not list, when kept, follow).
 */
export async function importCollection(
  collection: AnyCollection,
  data: unknown,
  options: { prune?: boolean } = {},
): Promise<ImportResult> {
  const { kind } = collection;
  const parsed = parseOrThrow(exportSchema, data, 'body');
  if (parsed.kind !== kind.noun)
    throw validationError('body', [{ in: 'body', field: 'kind', message: `must be ${kind.noun}` }]);
  const current = new Map((await collection.list()).map((r) => [r.id, r]));
  const problems: FieldError[] = [];
  const plans: Plan[] = [];
  const seen = new Set<string>();
  for (const [index, record] of parsed.records.entries()) {
    const { id, status, ...written } = record;
    const at = `records[${index}]`;
    if (id !== undefined && seen.has(id)) {
      problems.push({ in: 'body', field: `${at}.id`, message: 'is listed twice' });
      continue;
    }
    if (id !== undefined) seen.add(id);
    const before = id === undefined ? undefined : current.get(id);
    try {
      const values = before
        ? await collection.prepareUpdate(
            before,
            parseOrThrow(kind.patchSchema, kind.withStoredSecrets?.(written, before) ?? written, 'body'),
          )
        : await collection.prepareCreate(parseOrThrow(kind.createSchema, written, 'body'));
      plans.push({ id: id ?? uuidv7(), status, values, exists: before !== undefined });
    } catch (error) {
      problems.push(...prefixed(error, at));
    }
  }
  if (problems.length > 0) throw validationError('body', problems);

  const result: ImportResult = { created: [], updated: [], deleted: [] };
  await collection.write(async (tx, now) => {
    for (const plan of plans) {
      if (plan.exists) {
        await collection.updateIn(tx, plan.id, { ...plan.values, updated_at: now });
        result.updated.push(plan.id);
      } else {
        await collection.insertIn(tx, plan.id, plan.values, now);
        result.created.push(plan.id);
      }
      if (plan.status !== undefined && kind.columns.status)
        await collection.updateIn(tx, plan.id, {
          status: plan.status,
          ...kind.statusColumns?.(plan.status, now),
        });
    }
    const listed = new Set(plans.map((p) => p.id));
    const others = [...current.keys()].filter((id) => !listed.has(id));
    if (options.prune) {
      for (const id of others) {
        const before = current.get(id) as SettingsRecord<unknown, unknown>;
        await kind.afterWrite?.(tx, { op: 'delete', before }, now);
        await collection.deleteIn(tx, id);
        result.deleted.push(id);
      }
    }
    if (kind.columns.position) {
      const ids = [...plans.map((p) => p.id), ...(options.prune ? [] : others)];
      await collection.reorderIn(tx, ids);
    }
  });
  return result;
}

/** The field errors of a failed record check, their fields under `at`. */
function prefixed(error: unknown, at: string): FieldError[] {
  if (!(error instanceof AppError)) throw error;
  const details = error.details;
  const under = (field: unknown) => (field ? `${at}.${String(field)}` : at);
  if (Array.isArray(details))
    return (details as FieldError[]).map((d) => ({ in: 'body', field: under(d.field), message: d.message }));
  const field = (details as { field?: string } | undefined)?.field;
  return [{ in: 'body', field: under(field), message: `${error.code}: ${error.message}` }];
}
