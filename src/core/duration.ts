import { z } from 'zod';
import { type ParseProblem, parseDuration } from './config/parsers.js';

/** Durations as people write them (`5s`, `24h`) in settings, parsed to ms and shown back. */

/** 300000 -> `5m`; the largest unit that divides exactly. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A written duration (`5s`, `24h`) between `min` and `max` ms, parsed to ms. */
export const durationSchema = (min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    try {
      const ms = parseDuration(raw);
      if (ms < min || ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be between ${formatDuration(min)} and ${formatDuration(max)}`,
        });
        return z.NEVER;
      }
      return ms;
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as ParseProblem).message });
      return z.NEVER;
    }
  });
