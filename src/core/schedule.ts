import { AppError } from './errors.js';

/**
 * When an endpoint may receive deliveries: an optional daily window and absence weekdays, both
 * read in the schedule's IANA time zone. The system Facteur replaces took the weekday from the
 * server's zone, so an absence day started hours early or late; here every local field comes
 * from `Intl.DateTimeFormat` for the schedule's zone, DST included.
 */

/** Weekday names, index = the weekday number (0 = Sunday), as schedules are written in the API. */
export const WEEKDAYS = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
] as const;

/** A delivery schedule in one time zone. */
export interface DeliverySchedule {
  /** IANA zone name, e.g. `Europe/Paris`. */
  timeZone: string;
  /** Minutes since local midnight, start inclusive and end exclusive; may wrap midnight (start > end); null = any hour. */
  window: { start: number; end: number } | null;
  /** 0 = Sunday ... 6 = Saturday in the zone: nothing goes out on these days, whatever the hour. */
  absenceWeekdays: readonly number[];
  /** Local date ranges (`YYYY-MM-DD`, both ends included) on which the schedule is closed all day. */
  vacations?: readonly { from: string; to: string }[];
}

/** Whether deliveries may go out now, and if not, why and from when. */
export type ScheduleState =
  | { open: true }
  | { open: false; reason: 'absence_day' | 'outside_window' | 'vacation'; opensAt: number };

const MINUTE = 60_000;
const DAY = 86_400_000;
const MINUTES_PER_DAY = 1440;
/** A closed schedule opens within 8 local days (at most 6 absence days, then a window start). */
const SEARCH_DAYS = 9;

/** `HH:MM`, `H:MM`, `HHhMM`, `HhMM`, `HHh` or `Hh` (the French forms of the system replaced). */
const TIME_OF_DAY = /^(\d{1,2})(?::(\d{2})|[hH](\d{2})?)$/;

/** Minutes since midnight for `09:30`, `9:30`, `09h30`, `9h30`, `09h` or `9h`; null if not a time from 00:00 to 23:59. */
export function parseTimeOfDay(text: string): number | null {
  const match = TIME_OF_DAY.exec(text.trim());
  if (!match) return null;
  const hours = Number(match[1]);
  const minutes = Number(match[2] ?? match[3] ?? '0');
  if (hours > 23 || minutes > 59) return null;
  return hours * 60 + minutes;
}

function isMinuteOfDay(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < MINUTES_PER_DAY;
}

/** `HH:MM` for minutes since midnight (0 to 1439); throws VALIDATION_FAILED outside that range. */
export function formatTimeOfDay(minutes: number): string {
  if (!isMinuteOfDay(minutes)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `a time of day is 0 to 1439 minutes after midnight, not ${minutes}.`,
    );
  }
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** One formatter per zone: building one costs far more than formatting with it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  const cached = formatters.get(zone);
  if (cached) return cached;
  // Newer V8 versions accept UTC offsets such as `+01:00` as zones, Node 20 does not; refused
  // everywhere so that a schedule valid on one Node version is valid on all.
  if (/^[+-]/.test(zone)) throw new RangeError(`not an IANA zone: ${zone}`);
  const formatter = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  formatters.set(zone, formatter);
  return formatter;
}

/** True when `zone` is an IANA time zone name this runtime knows. */
export function isValidTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The local calendar and clock at one instant. `wall` is the local date-time written as if it were UTC. */
interface LocalTime {
  wall: number;
  offset: number;
  weekday: number;
  minuteOfDay: number;
}

function localTime(zone: string, at: number): LocalTime {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(at)) fields[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
  const wallSeconds = Date.UTC(year, month - 1, day, hour, minute, second);
  // The formatter shows whole seconds; offsets (even the historical ones) are whole seconds too.
  const offset = wallSeconds - Math.floor(at / 1000) * 1000;
  return {
    wall: at + offset,
    offset,
    weekday: new Date(Date.UTC(year, month - 1, day)).getUTCDay(),
    minuteOfDay: hour * 60 + minute,
  };
}

/** The UTC offset of `zone` at the instant `at`, in ms (+2 h for Paris in summer). */
export function utcOffsetAt(zone: string, at: number): number {
  return localTime(zone, at).offset;
}

/** The weekday (0 = Sunday) in `zone` at the instant `at`; throws VALIDATION_FAILED for an unknown zone. */
export function localWeekday(zone: string, at: number): number {
  if (!isValidTimeZone(zone)) throw new AppError('VALIDATION_FAILED', zoneProblem(zone));
  return localTime(zone, at).weekday;
}

function zoneProblem(zone: string): string {
  return `"${zone}" is not an IANA time zone name; use one such as "Europe/Paris" or "America/New_York".`;
}

/** Null when the schedule can be used; otherwise a sentence saying what is wrong and what is expected. */
export function scheduleProblem(s: DeliverySchedule): string | null {
  if (!isValidTimeZone(s.timeZone)) return zoneProblem(s.timeZone);
  if (s.window) {
    const { start, end } = s.window;
    if (!isMinuteOfDay(start) || !isMinuteOfDay(end)) {
      return 'the window start and end must be times of day from 00:00 to 23:59 (0 to 1439 minutes after midnight).';
    }
    if (start === end) {
      return `the window starts and ends at ${formatTimeOfDay(start)}; give two different times, or no window to deliver at any hour.`;
    }
  }
  for (const range of s.vacations ?? []) {
    if (!isLocalDate(range.from) || !isLocalDate(range.to)) {
      return `vacation dates are written YYYY-MM-DD (e.g. 2026-08-01), not "${range.from}" to "${range.to}".`;
    }
    if (range.from > range.to) return `the vacation from ${range.from} ends before it starts (${range.to}).`;
  }
  const badDay = s.absenceWeekdays.find((day) => !Number.isInteger(day) || day < 0 || day > 6);
  if (badDay !== undefined) {
    return `absence days are weekday numbers from 0 (Sunday) to 6 (Saturday), not ${badDay}.`;
  }
  if (new Set(s.absenceWeekdays).size === 7) {
    return 'every weekday is an absence day, so nothing would ever be delivered; leave at least one day open.';
  }
  return null;
}

function inWindow(window: DeliverySchedule['window'], minuteOfDay: number): boolean {
  if (!window) return true;
  if (window.start < window.end) return minuteOfDay >= window.start && minuteOfDay < window.end;
  return minuteOfDay >= window.start || minuteOfDay < window.end;
}

/** A real calendar date written `YYYY-MM-DD`. */
function isLocalDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  return new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);
}

/** The vacation that holds the local date of `local`, if any. */
function vacationOn(s: DeliverySchedule, local: LocalTime): { from: string; to: string } | undefined {
  if (!s.vacations || s.vacations.length === 0) return undefined;
  const date = new Date(local.wall).toISOString().slice(0, 10);
  return s.vacations.find((range) => range.from <= date && date <= range.to);
}

function isOpenAt(s: DeliverySchedule, local: LocalTime): boolean {
  return (
    !s.absenceWeekdays.includes(local.weekday) &&
    inWindow(s.window, local.minuteOfDay) &&
    vacationOn(s, local) === undefined
  );
}

/** Whether deliveries may go out at `now` (epoch ms) and, when not, the first instant >= now when they may. */
export function scheduleStateAt(s: DeliverySchedule, now: number): ScheduleState {
  const problem = scheduleProblem(s);
  if (problem !== null) throw new AppError('VALIDATION_FAILED', problem);
  if (!Number.isFinite(now)) {
    throw new AppError('VALIDATION_FAILED', `"now" must be epoch milliseconds, not ${now}.`);
  }
  const local = localTime(s.timeZone, now);
  if (isOpenAt(s, local)) return { open: true };
  const reason = vacationOn(s, local)
    ? 'vacation'
    : s.absenceWeekdays.includes(local.weekday)
      ? 'absence_day'
      : 'outside_window';
  return { open: false, reason, opensAt: openingAfter(s, now, local) };
}

/**
 * The first opening after `now`. Vacations may last weeks, longer than the day scan of
 * `nextOpening`: find the opening of the schedule without them, and when it falls in a vacation,
 * look again from the local midnight that ends that vacation.
 */
function openingAfter(s: DeliverySchedule, now: number, local: LocalTime): number {
  if (!s.vacations || s.vacations.length === 0) return nextOpening(s, now, local.wall);
  const weekly: DeliverySchedule = { ...s, vacations: [] };
  const probe = new ZoneProbe(s.timeZone);
  let from = now;
  let fromLocal = local;
  for (let guard = 0; guard < 400; guard++) {
    const vacation = vacationOn(s, fromLocal);
    if (vacation) {
      from = probe.instantsOfWall(Date.parse(`${vacation.to}T00:00:00Z`) + DAY)[0] as number;
      fromLocal = probe.local(from);
      if (isOpenAt(s, fromLocal)) return from;
      continue;
    }
    const candidate =
      isOpenAt(weekly, fromLocal) && from > now ? from : nextOpening(weekly, from, fromLocal.wall);
    const candidateLocal = probe.local(candidate);
    if (!vacationOn(s, candidateLocal)) return candidate;
    from = candidate;
    fromLocal = candidateLocal;
  }
  throw new AppError('INTERNAL', 'no opening found within 400 vacation periods');
}

/**
 * The state only changes where the local clock crosses midnight or the window start, or jumps
 * at a DST transition; so the first opening is the earliest such instant after `now` at which
 * the schedule is open. Days are scanned in local order, one day past the first hit, because
 * a fall-back across midnight can make a later day's boundary come first.
 */
function nextOpening(s: DeliverySchedule, now: number, nowWall: number): number {
  const zone = new ZoneProbe(s.timeZone);
  const today = Math.floor(nowWall / DAY) * DAY;
  let best: number | undefined;
  let lookedAhead = false;
  for (let k = 0; k < SEARCH_DAYS; k++) {
    const midnight = today + k * DAY;
    const boundaries = [
      ...zone.instantsOfWall(midnight),
      ...zone.transitionsBetween(midnight, midnight + DAY),
    ];
    if (s.window) boundaries.push(...zone.instantsOfWall(midnight + s.window.start * MINUTE));
    for (const at of boundaries) {
      if (at > now && (best === undefined || at < best) && isOpenAt(s, zone.local(at))) best = at;
    }
    if (best !== undefined) {
      if (lookedAhead) return best;
      lookedAhead = true;
    }
  }
  if (best !== undefined) return best;
  throw new AppError('INTERNAL', `no opening found within ${SEARCH_DAYS} days for a valid schedule.`);
}

/** Local-time questions about one zone, answered with memoised formatter calls. */
class ZoneProbe {
  private readonly offsets = new Map<number, number>();

  constructor(private readonly zone: string) {}

  local(at: number): LocalTime {
    return localTime(this.zone, at);
  }

  offsetAt(at: number): number {
    const second = Math.floor(at / 1000);
    let offset = this.offsets.get(second);
    if (offset === undefined) {
      offset = localTime(this.zone, at).offset;
      this.offsets.set(second, offset);
    }
    return offset;
  }

  /**
   * Every instant at which the local clock reads `wall`, earliest first: two in a fall-back
   * overlap. When `wall` is skipped by a spring-forward gap, the first instant after the gap.
   */
  instantsOfWall(wall: number): number[] {
    // Offsets a day either side bracket any transition near `wall` (zones change at most twice a year).
    const offsets = [...new Set([this.offsetAt(wall - DAY), this.offsetAt(wall), this.offsetAt(wall + DAY)])];
    const found = offsets
      .map((offset) => wall - offset)
      .filter((at) => this.offsetAt(at) === wall - at)
      .sort((a, b) => a - b);
    if (found.length > 0) return found;
    // In the gap: before it the clock reads less than `wall`, from its end on it reads more.
    let low = wall - Math.max(...offsets);
    let high = wall - Math.min(...offsets);
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (middle + this.offsetAt(middle) >= wall) high = middle;
      else low = middle;
    }
    return [high];
  }

  /** The instant the offset changes between the first instants of two local walls, if it does. */
  transitionsBetween(fromWall: number, toWall: number): number[] {
    let low = this.instantsOfWall(fromWall)[0]!;
    let high = this.instantsOfWall(toWall)[0]!;
    const before = this.offsetAt(low);
    if (this.offsetAt(high) === before) return [];
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (this.offsetAt(middle) === before) low = middle;
      else high = middle;
    }
    return [high];
  }
}
