import SqliteDatabase from 'better-sqlite3';

/**
 * Time spent in each SQL statement of the current process, for profiled benchmark windows:
 * better-sqlite3's statement methods are wrapped (only when `timeStatements` is called), and
 * `topStatements` folds the texts and lists the ones that took longest.
 */

/** Milliseconds and calls per SQL text, while profiling. */
const sqlTime = new Map<string, { ms: number; calls: number }>();

/** Wraps better-sqlite3's statement methods to time each SQL text. */
export function timeStatements(): void {
  const probe = new SqliteDatabase(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
  probe.close();
  for (const name of ['run', 'all', 'get'] as const) {
    const original = proto[name] as (this: { source: string }, ...args: unknown[]) => unknown;
    proto[name] = function (this: { source: string }, ...args: unknown[]) {
      const started = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const entry = sqlTime.get(this.source) ?? { ms: 0, calls: 0 };
        entry.ms += performance.now() - started;
        entry.calls++;
        sqlTime.set(this.source, entry);
      }
    };
  }
}

/** Starts a new window. */
export function clearStatementTimes(): void {
  sqlTime.clear();
}

/** The statements that took longest; lists of placeholders are folded, so `in (?, ?)` and `in (?)` add up. */
export function topStatements(count = 16): Array<{ sql: string; ms: number; calls: number }> {
  const folded = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  let calls = 0;
  for (const [sql, t] of sqlTime) {
    const key = sql
      .replace(/\s+/g, ' ')
      .replace(/\(\?(, \?)+\)/g, '(?, ...)')
      .replace(/\(\?, \.\.\.\)(, \(\?, \.\.\.\))+/g, '(?, ...), ...')
      .trim()
      .slice(0, 240);
    const entry = folded.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += t.ms;
    entry.calls += t.calls;
    folded.set(key, entry);
    total += t.ms;
    calls += t.calls;
  }
  const top = [...folded]
    .map(([sql, t]) => ({ sql, ms: Math.round(t.ms), calls: t.calls }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count);
  return [{ sql: '(all statements)', ms: Math.round(total), calls }, ...top];
}
