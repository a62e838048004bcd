/** Small statistics and number formatting for benchmark reports. */

/** The value at quantile `q` (0..1) of ascending `sorted` values (nearest rank); 0 when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** Median (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Median with its range over rounds. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/** Summarises per-round values as median and min..max. */
export function spread(values: readonly number[]): Spread {
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
    rounds: [...values],
  };
}

/** Per-round ratios a[i] / b[i], summarised. */
export function ratioSpread(a: readonly number[], b: readonly number[]): Spread {
  return spread(a.map((value, i) => value / (b[i] as number)));
}

/** A whole number with thousands separators, e.g. 12,345. */
export function fmtInt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
}

/** A number with `digits` decimals. */
export function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** Milliseconds with sensible precision. */
export function fmtMs(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ms`;
}

/** `0.66 (0.61..0.70)`. */
export function fmtSpread(s: Spread, digits = 2): string {
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}..${fmt(s.max, digits)})`;
}

/** Megabytes from bytes. */
export function fmtMb(bytes: number): string {
  return Number.isFinite(bytes) ? `${Math.round(bytes / 1048576)} MB` : 'n/a';
}

/** `PASS` or `MISS` for a target check. */
export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}
