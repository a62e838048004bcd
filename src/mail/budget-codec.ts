import { type BudgetState, MIN_SHARE, type WindowEntry } from './budget-model.js';

/**
 * A budget's stored form (one JSON document per row of `rate_budgets`), written whole and
 * checked when read back.
 */

/** The state as stored. */
export function encodeBudget(state: BudgetState): string {
  return JSON.stringify(state);
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isWindow = (v: unknown): v is { start: number; count: number } =>
  typeof v === 'object' &&
  v !== null &&
  isCount((v as { start: unknown }).start) &&
  isCount((v as { count: unknown }).count);
const isEntry = (v: unknown): v is WindowEntry =>
  Array.isArray(v) && v.length === 3 && isCount(v[0]) && isCount(v[1]) && (v[2] === 0 || v[2] === 1);

/**
 * The stored state, or undefined when it is not one (a row written by a newer or broken
 * version: the caller starts from an empty budget). Checked by hand rather than with a zod
 * schema: it is read at every cycle, and its window has up to 1,000 entries.
 */
export function decodeBudget(text: string): BudgetState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const held = v.held as { count?: unknown; until?: unknown } | null | undefined;
  const valid =
    Array.isArray(v.window) &&
    v.window.every(isEntry) &&
    isCount(v.seq) &&
    isWindow(v.hour) &&
    isWindow(v.day) &&
    typeof v.share === 'number' &&
    v.share >= MIN_SHARE &&
    v.share <= 1 &&
    (v.slowedAt === null || isCount(v.slowedAt)) &&
    (v.growAt === null || isCount(v.growAt)) &&
    isCount(v.pausedUntil) &&
    typeof v.tat === 'number' &&
    Number.isFinite(v.tat) &&
    v.tat >= 0 &&
    typeof held === 'object' &&
    held !== null &&
    isCount(held.count) &&
    isCount(held.until);
  return valid ? (value as BudgetState) : undefined;
}
