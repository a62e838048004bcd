import { Cron } from 'croner';
import { utcOffsetAt } from '../core/schedule.js';

export { isValidTimeZone } from '../core/schedule.js';

/**
 * When a report runs: a cron expression (five fields, minute precision, or a nickname such as
 * `@daily`) read in an IANA time zone. Pure functions over instants (ms since the epoch); the
 * caller supplies "now" from its clock.
 *
 * Daylight-saving time: the wall-clock time is what the user wrote, so 19:00 Europe/Paris is
 * 17:00 UTC in summer and 18:00 UTC in winter. A wall-clock time that does not exist on the
 * spring day (02:30 when clocks jump from 02:00 to 03:00) runs once, at the first minute that
 * exists after it (03:00). A time that happens twice on the autumn day runs once, the first time.
 */

/** A compiled schedule. */
export interface Schedule {
  cron: string;
  timezone: string;
  /** The first slot strictly after `after`, or null when the expression never fires again. */
  next(after: number): number | null;
}

const MINUTE = 60_000;
/** Longest DST gap searched for (Lord Howe Island's is 30 min; every other zone's is at most 1 h). */
const MAX_GAP_MS = 3 * 60 * MINUTE;

/** Why `cron` is not a valid expression, or null when it is. */
export function cronProblem(cron: string): string | null {
  const trimmed = cron.trim();
  if (!trimmed.startsWith('@') && trimmed.split(/\s+/).length !== 5) {
    return 'must be a cron expression of five fields (minute hour day-of-month month day-of-week), e.g. "0 19 * * *", or a nickname such as "@daily"';
  }
  try {
    const probe = new Cron(trimmed, { paused: true, timezone: 'UTC' });
    if (probe.nextRun(new Date(0)) === null) return 'never fires';
    return null;
  } catch (error) {
    return `is not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** Compiles a schedule already validated with `cronProblem` and `isKnownTimeZone`. */
export function compileSchedule(cron: string, timezone: string): Schedule {
  const job = new Cron(cron.trim(), { paused: true, timezone });
  const next = (after: number): number | null => {
    let from = after;
    // A shifted slot that maps back to an instant already passed: look beyond it.
    for (let guard = 0; guard < 4; guard++) {
      const found = job.nextRun(new Date(from))?.getTime();
      if (found === undefined) return null;
      const slot = job.match(new Date(found)) ? found : gapEnd(found, timezone);
      if (slot > after) return slot;
      from = found;
    }
    return null;
  };
  return { cron, timezone, next };
}

/**
 * Every slot in (`since`, `until`], oldest first, at most `limit` of them (the newest ones when
 * there are more).
 */
export function slotsBetween(schedule: Schedule, since: number, until: number, limit: number): number[] {
  const slots: number[] = [];
  let at = schedule.next(since);
  while (at !== null && at <= until) {
    slots.push(at);
    if (slots.length > limit) slots.shift();
    at = schedule.next(at);
  }
  return slots;
}

/**
 * croner moves a wall-clock time that falls in a DST gap forward by the gap's length (02:30 ->
 * 03:30). The slot is the gap's end instead: the first instant of the new offset before `shifted`.
 */
function gapEnd(shifted: number, timezone: string): number {
  const after = utcOffsetAt(timezone, shifted);
  let low = shifted - MAX_GAP_MS;
  if (utcOffsetAt(timezone, low) === after) return shifted;
  let high = shifted;
  // Invariant: offset(low) differs, offset(high) is the new one; narrow to the minute.
  while (high - low > MINUTE) {
    const mid = low + Math.floor((high - low) / 2 / MINUTE) * MINUTE || low + MINUTE;
    if (utcOffsetAt(timezone, mid) === after) high = mid;
    else low = mid;
  }
  return high;
}
