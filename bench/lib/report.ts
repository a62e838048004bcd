import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './child.js';

/** What each benchmark hands back to `bench/run.ts`. */

/** SQLite durability mode as benchmarks take it on the command line. */
export type Sync = 'full' | 'normal';

/** Options every benchmark understands. */
export interface BenchOptions {
  /** Smoke run: fewer rounds, shorter phases. */
  quick: boolean;
  /** SQLite durability modes to measure, in order. */
  syncs: Sync[];
  /** Measured rounds (after the warm-up); default 5, quick 2. */
  rounds: number;
  /** Write V8 CPU profiles of Facteur's process under test into this directory. */
  profileDir: string | undefined;
  /** Extra settings by name (`--key=value` flags). */
  flags: Record<string, string>;
}

/** A benchmark's outcome: table rows for people and data for `latest.json`. */
export interface BenchReport {
  id: string;
  rows: string[];
  data: unknown;
}

/** `synchronous=FULL`. */
export function syncLabel(sync: Sync): string {
  return `sqlite synchronous=${sync.toUpperCase()}`;
}

/** Prints a progress line on stderr (stdout is kept for the final table). */
export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

/** SHA-256 over every `.ts` file under src/ (path and content, in path order): the code a run measured. */
export function sourceFingerprint(): string {
  const hash = createHash('sha256');
  const dir = join(ROOT, 'src');
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).sort();
  for (const file of files) hash.update(file).update(readFileSync(join(dir, file)));
  return hash.digest('hex');
}
