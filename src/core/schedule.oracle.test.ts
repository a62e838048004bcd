import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random.js';
import { type DeliverySchedule, scheduleStateAt } from './schedule.js';

/**
 * scheduleStateAt against a brute-force oracle: read the local weekday and clock with a
 * formatter of its own, and walk forward in 15-minute steps to the first open instant. Every
 * zone used has offsets and DST changes on quarter hours and every window starts on one, so
 * the schedule's state is constant between quarter-hour boundaries and the walk is exact.
 */

const QUARTER = 15 * 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const oracleFormatters = new Map<string, Intl.DateTimeFormat>();

function oracleOpen(s: DeliverySchedule, instant: number): boolean {
  let formatter = oracleFormatters.get(s.timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone: s.timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    oracleFormatters.set(s.timeZone, formatter);
  }
  const parts = Object.fromEntries(formatter.formatToParts(instant).map((p) => [p.type, p.value]));
  if (s.absenceWeekdays.includes(WEEKDAYS.indexOf(parts.weekday ?? ''))) return false;
  if (!s.window) return true;
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const { start, end } = s.window;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

function oracleOpensAt(s: DeliverySchedule, now: number): number {
  let instant = Math.floor(now / QUARTER) * QUARTER + QUARTER;
  while (!oracleOpen(s, instant)) instant += QUARTER;
  return instant;
}

const ZONES = [
  'Europe/Paris',
  'Pacific/Auckland',
  'America/Los_Angeles',
  'Pacific/Kiritimati',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Australia/Lord_Howe', // DST moves the clock by 30 minutes
  'America/St_Johns',
  'America/Santiago', // DST changes at local midnight
  'UTC',
];

/** Around the 2026 DST changes of the zones above, and a plain winter week. */
const PERIODS = [
  '2026-01-05',
  '2026-03-06',
  '2026-03-27',
  '2026-04-02',
  '2026-09-04',
  '2026-09-25',
  '2026-10-02',
  '2026-10-23',
  '2026-10-30',
];

/**
 * A random schedule; with `around` (a local minute of day), the window's ends fall within two
 * hours of it, so that DST tests put window edges inside gaps and overlaps.
 */
function randomSchedule(next: () => number, timeZone: string, around?: number): DeliverySchedule {
  const absenceWeekdays = [0, 1, 2, 3, 4, 5, 6].filter(() => next() < 0.3);
  if (absenceWeekdays.length === 7) absenceWeekdays.pop();
  if (next() < 0.15) return { timeZone, window: null, absenceWeekdays };
  const quarter = () =>
    around === undefined
      ? Math.floor(next() * 96) * 15
      : (around + (Math.floor(next() * 17) - 8) * 15 + 1440) % 1440;
  const start = quarter();
  let end = quarter();
  if (end === start) end = (start + 15) % 1440;
  return { timeZone, window: { start, end }, absenceWeekdays };
}

function localMinuteOfDay(zone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(instant);
  const field = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Math.floor((field('hour') * 60 + field('minute')) / 15) * 15;
}

/** The hour after which each zone's UTC offset changed in 2026, found with a formatter of its own. */
function offsetChanges(zone: string): number[] {
  const names = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  const offsetName = (instant: number) =>
    names.formatToParts(instant).find((p) => p.type === 'timeZoneName')?.value;
  const changes: number[] = [];
  for (let hour = Date.UTC(2026, 0, 1); hour < Date.UTC(2027, 0, 1); hour += HOUR) {
    if (offsetName(hour) !== offsetName(hour + HOUR)) changes.push(hour);
  }
  return changes;
}

function expectAgreement(s: DeliverySchedule, now: number): void {
  const state = scheduleStateAt(s, now);
  const context = JSON.stringify({ s, now: new Date(now).toISOString() });
  expect(state.open, context).toBe(oracleOpen(s, now));
  if (!state.open) {
    const absent = !oracleOpen({ ...s, window: null }, now);
    expect(state.reason, context).toBe(absent ? 'absence_day' : 'outside_window');
    expect(new Date(state.opensAt).toISOString(), context).toBe(
      new Date(oracleOpensAt(s, now)).toISOString(),
    );
  }
}

describe('scheduleStateAt against a brute-force oracle', () => {
  it('agrees on open/closed, reason and opensAt for random schedules, zones and instants', {
    timeout: 60_000,
  }, () => {
    const next = seededRandom(20260329);
    for (let i = 0; i < 1500; i++) {
      const s = randomSchedule(next, ZONES[i % ZONES.length]!);
      const period = Date.parse(`${PERIODS[Math.floor(next() * PERIODS.length)]}T00:00:00Z`);
      expectAgreement(s, period + Math.floor(next() * 4 * DAY));
    }
  });

  it('agrees within hours of every 2026 DST change', () => {
    const next = seededRandom(20261025);
    for (const zone of ZONES) {
      const changes = offsetChanges(zone);
      if (zone !== 'UTC' && !zone.startsWith('Asia/') && zone !== 'Pacific/Kiritimati') {
        expect(changes, zone).toHaveLength(2);
      }
      for (const change of changes) {
        const around = localMinuteOfDay(zone, change);
        for (let i = 0; i < 300; i++) {
          const s = randomSchedule(next, zone, i % 3 === 0 ? undefined : around);
          expectAgreement(s, change + Math.floor((next() - 0.5) * 8 * HOUR));
        }
      }
    }
    // Thousands of brute-force oracle runs: seconds of CPU, more when the machine is loaded.
  }, 60_000);
});
