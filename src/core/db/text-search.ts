import { type RawBuilder, sql } from 'kysely';
import type { Dialect } from './store.js';

/**
 * "Contains this text" in SQL that SQLite and PostgreSQL answer alike: case-insensitive for
 * ASCII letters only (SQLite's `lower()` folds ASCII alone, so PostgreSQL folds with
 * `translate` rather than its locale-dependent `lower()`), with `%`, `_` and `\` in the needle
 * taken literally. A full scan in the worst case: for lists read a page at a time.
 */

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/** The needle folded as the SQL folds the column: ASCII letters only. */
export function asciiFold(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** `column` contains `needle`, ignoring the case of ASCII letters. */
export function containsText(dialect: Dialect, column: string, needle: string): RawBuilder<boolean> {
  const pattern = `%${asciiFold(needle).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const folded =
    dialect === 'postgres'
      ? sql`translate(${sql.ref(column)}, ${UPPER}, ${LOWER})`
      : sql`lower(${sql.ref(column)})`;
  return sql<boolean>`${folded} like ${pattern} escape '\\'`;
}
