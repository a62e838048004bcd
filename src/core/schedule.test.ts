import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import {
  type DeliverySchedule,
  formatTimeOfDay,
  isValidTimeZone,
  localWeekday,
  parseTimeOfDay,
  scheduleProblem,
  scheduleStateAt,
} from './schedule.js';

const at = (iso: string): number => Date.parse(iso);
const hm = (text: string): number => parseTimeOfDay(text)!;

function schedule(
  timeZone: string,
  window: [string, string] | null,
  absenceWeekdays: number[] = [],
): DeliverySchedule {
  return { timeZone, window: window && { start: hm(window[0]), end: hm(window[1]) }, absenceWeekdays };
}

function closed(reason: 'absence_day' | 'outside_window', opensAt: string) {
  return { open: false, reason, opensAt: at(opensAt) };
}

describe('parseTimeOfDay and formatTimeOfDay', () => {
  it.each([
    ['09:30', 570],
    ['9:30', 570],
    ['09h30', 570],
    ['9h30', 570],
    ['9H30', 570],
    ['09h', 540],
    ['9h', 540],
    ['0h', 0],
    ['00:00', 0],
    ['23:59', 1439],
    [' 22:00 ', 1320],
  ])('reads %j as %i minutes', (text, minutes) => {
    expect(parseTimeOfDay(text)).toBe(minutes);
  });

  it.each([
    '24:00',
    '23:60',
    '9:5',
    '930',
    '',
    'h30',
    '09:30:00',
    '-1:00',
    '9 h',
    '9:30pm',
    '123:00',
    '１０:００',
  ])('refuses %j', (text) => {
    expect(parseTimeOfDay(text)).toBeNull();
  });

  it('formats minutes as HH:MM and refuses what is not a time of day', () => {
    expect(formatTimeOfDay(0)).toBe('00:00');
    expect(formatTimeOfDay(570)).toBe('09:30');
    expect(formatTimeOfDay(1439)).toBe('23:59');
    for (const bad of [1440, -1, 1.5, Number.NaN]) expect(() => formatTimeOfDay(bad)).toThrow(AppError);
  });
});

describe('time zones and weekdays', () => {
  it('knows IANA zones and nothing else', () => {
    for (const zone of ['Europe/Paris', 'UTC', 'Pacific/Kiritimati', 'America/Los_Angeles']) {
      expect(isValidTimeZone(zone)).toBe(true);
    }
    for (const zone of ['Mars/Olympus', '', 'Europe/Pariss', '+01:00', '-05:00']) {
      expect(isValidTimeZone(zone)).toBe(false);
    }
  });

  it("takes the weekday from the zone, not from UTC or the server's zone", () => {
    const mondayNoonInNewZealandsNight = at('2026-01-05T11:30:00Z'); // Monday in UTC
    expect(localWeekday('UTC', mondayNoonInNewZealandsNight)).toBe(1);
    expect(localWeekday('Pacific/Auckland', mondayNoonInNewZealandsNight)).toBe(2); // Tue 00:30
    expect(localWeekday('Pacific/Kiritimati', mondayNoonInNewZealandsNight)).toBe(2); // Tue 01:30
    expect(localWeekday('America/Los_Angeles', mondayNoonInNewZealandsNight)).toBe(1); // Mon 03:30
    expect(localWeekday('America/Los_Angeles', at('2026-01-05T05:00:00Z'))).toBe(0); // Sun 21:00
    expect(localWeekday('Europe/Paris', at('2026-01-04T23:30:00Z'))).toBe(1); // Mon 00:30
    expect(() => localWeekday('Mars/Olympus', 0)).toThrow(/not an IANA time zone/);
  });
});

describe('scheduleProblem', () => {
  it('accepts a sound schedule', () => {
    expect(scheduleProblem(schedule('Europe/Paris', ['22:00', '06:00'], [0, 1, 2, 3, 4, 5]))).toBeNull();
    expect(scheduleProblem(schedule('Europe/Paris', null))).toBeNull();
  });

  it.each([
    ['an unknown zone', schedule('Europe/Pariss', null), /"Europe\/Pariss" is not an IANA time zone/],
    ['start equal to end', schedule('UTC', ['09:00', '09:00']), /starts and ends at 09:00/],
    ['a start past 23:59', { ...schedule('UTC', null), window: { start: 1440, end: 60 } }, /00:00 to 23:59/],
    ['a fractional end', { ...schedule('UTC', null), window: { start: 0, end: 60.5 } }, /00:00 to 23:59/],
    ['weekday 7', schedule('UTC', null, [7]), /0 \(Sunday\) to 6 \(Saturday\), not 7/],
    [
      'every weekday absent',
      schedule('UTC', null, [0, 1, 2, 3, 4, 5, 6, 6]),
      /every weekday is an absence day/,
    ],
  ])('refuses %s', (_name, s, problem) => {
    expect(scheduleProblem(s)).toMatch(problem);
    expect(() => scheduleStateAt(s, 0)).toThrow(problem);
  });

  it('refuses a "now" that is not a number of milliseconds', () => {
    expect(() => scheduleStateAt(schedule('UTC', null), Number.NaN)).toThrow(/epoch milliseconds/);
  });
});

describe('scheduleStateAt: windows', () => {
  const office = schedule('Europe/Paris', ['09:00', '17:00']);

  it('is open from the start minute up to, not including, the end minute', () => {
    expect(scheduleStateAt(office, at('2026-01-05T07:59:59.999Z'))).toEqual(
      closed('outside_window', '2026-01-05T08:00:00Z'),
    );
    expect(scheduleStateAt(office, at('2026-01-05T08:00:00Z'))).toEqual({ open: true });
    expect(scheduleStateAt(office, at('2026-01-05T15:59:59.999Z'))).toEqual({ open: true });
    expect(scheduleStateAt(office, at('2026-01-05T16:00:00Z'))).toEqual(
      closed('outside_window', '2026-01-06T08:00:00Z'),
    );
  });

  it('is always open without a window or absence day', () => {
    expect(scheduleStateAt(schedule('Asia/Tokyo', null), at('2026-06-01T03:04:05Z'))).toEqual({ open: true });
  });

  it('wraps midnight: 22:00-06:00 is open at 23:00 and 05:00', () => {
    const night = schedule('Europe/Paris', ['22:00', '06:00']);
    expect(scheduleStateAt(night, at('2026-01-05T22:00:00Z'))).toEqual({ open: true }); // 23:00
    expect(scheduleStateAt(night, at('2026-01-06T04:00:00Z'))).toEqual({ open: true }); // 05:00
    expect(scheduleStateAt(night, at('2026-01-06T05:00:00Z'))).toEqual(
      closed('outside_window', '2026-01-06T21:00:00Z'),
    );
    expect(scheduleStateAt(night, at('2026-01-06T11:00:00Z'))).toEqual(
      closed('outside_window', '2026-01-06T21:00:00Z'),
    );
  });

  it('treats an end of 00:00 as midnight', () => {
    const evening = schedule('UTC', ['18:00', '00:00']);
    expect(scheduleStateAt(evening, at('2026-01-05T23:59:00Z'))).toEqual({ open: true });
    expect(scheduleStateAt(evening, at('2026-01-06T00:00:00Z'))).toEqual(
      closed('outside_window', '2026-01-06T18:00:00Z'),
    );
  });
});

describe('scheduleStateAt: absence days', () => {
  it('closes the wrapped part of a window that falls on an absent day', () => {
    const night = schedule('Europe/Paris', ['22:00', '06:00'], [0]);
    expect(scheduleStateAt(night, at('2026-01-10T22:00:00Z'))).toEqual({ open: true }); // Sat 23:00
    // Sunday 01:00 belongs to Saturday's window but is a Sunday: closed until Monday 00:00.
    expect(scheduleStateAt(night, at('2026-01-11T00:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-11T23:00:00Z'),
    );
    expect(scheduleStateAt(night, at('2026-01-11T21:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-11T23:00:00Z'),
    );
  });

  it('skips absent days to the next window start, across the weekend', () => {
    const weekdays = schedule('Europe/Paris', ['09:00', '17:00'], [5, 6, 0]);
    expect(scheduleStateAt(weekdays, at('2026-01-09T09:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-12T08:00:00Z'),
    );
    expect(scheduleStateAt(weekdays, at('2026-01-08T17:00:00Z'))).toEqual(
      closed('outside_window', '2026-01-12T08:00:00Z'),
    );
  });

  it('waits a whole week when the only open day has just closed', () => {
    const mondays = schedule('Europe/Paris', ['09:00', '10:00'], [0, 2, 3, 4, 5, 6]);
    expect(scheduleStateAt(mondays, at('2026-01-05T09:30:00Z'))).toEqual(
      closed('outside_window', '2026-01-12T08:00:00Z'),
    );
  });

  it('opens at local midnight after an absent day when there is no window', () => {
    const weekdays = schedule('Europe/Paris', null, [6, 0]);
    expect(scheduleStateAt(weekdays, at('2026-01-10T14:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-11T23:00:00Z'),
    );
  });

  it('reads the weekday in the zone where it differs from UTC', () => {
    const noTuesday = schedule('Pacific/Auckland', null, [2]);
    expect(scheduleStateAt(noTuesday, at('2026-01-05T10:30:00Z'))).toEqual({ open: true }); // Mon 23:30
    expect(scheduleStateAt(noTuesday, at('2026-01-05T11:30:00Z'))).toEqual(
      closed('absence_day', '2026-01-06T11:00:00Z'), // Wed 00:00 NZDT
    );

    const noSunday = schedule('Pacific/Kiritimati', ['09:00', '17:00'], [0]);
    expect(scheduleStateAt(noSunday, at('2026-01-10T20:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-11T19:00:00Z'), // UTC Saturday is Sunday 10:00 there
    );

    const noMonday = schedule('America/Los_Angeles', null, [1]);
    expect(scheduleStateAt(noMonday, at('2026-01-05T05:00:00Z'))).toEqual({ open: true }); // Sun 21:00
    expect(scheduleStateAt(noMonday, at('2026-01-05T09:00:00Z'))).toEqual(
      closed('absence_day', '2026-01-06T08:00:00Z'),
    );
  });
});

describe('scheduleStateAt: daylight saving time', () => {
  it('opens a window that starts in the spring-forward gap when the gap ends (Paris, 2026-03-29)', () => {
    const s = schedule('Europe/Paris', ['02:30', '06:00']);
    expect(scheduleStateAt(s, at('2026-03-29T00:00:00Z'))).toEqual(
      closed('outside_window', '2026-03-29T01:00:00Z'), // 03:00 CEST
    );
    expect(scheduleStateAt(s, at('2026-03-29T01:00:00Z'))).toEqual({ open: true });
  });

  it('skips a window that lies wholly in the gap', () => {
    const s = schedule('Europe/Paris', ['02:00', '02:45']);
    expect(scheduleStateAt(s, at('2026-03-29T00:30:00Z'))).toEqual(
      closed('outside_window', '2026-03-30T00:00:00Z'),
    );
  });

  it('uses the new offset after the change', () => {
    const office = schedule('Europe/Paris', ['09:00', '17:00']);
    expect(scheduleStateAt(office, at('2026-03-28T18:00:00Z'))).toEqual(
      closed('outside_window', '2026-03-29T07:00:00Z'),
    );
    expect(scheduleStateAt(office, at('2026-10-24T16:00:00Z'))).toEqual(
      closed('outside_window', '2026-10-25T08:00:00Z'),
    );
  });

  it('opens at the first of two 02:30s on the fall-back night (Paris, 2026-10-25)', () => {
    const s = schedule('Europe/Paris', ['02:30', '04:00']);
    expect(scheduleStateAt(s, at('2026-10-25T00:00:00Z'))).toEqual(
      closed('outside_window', '2026-10-25T00:30:00Z'),
    );
  });

  it('opens at the second 02:30 when the clock has fallen back before it', () => {
    // 01:10Z is 02:10 CET, after the clock went back from 03:00 CEST: 02:30 comes round again.
    const s = schedule('Europe/Paris', ['02:30', '04:00']);
    expect(scheduleStateAt(s, at('2026-10-25T01:10:00Z'))).toEqual(
      closed('outside_window', '2026-10-25T01:30:00Z'),
    );
  });

  it('opens again when the clock falls back into the window', () => {
    // At 03:00 CEST the clock reads 02:00 CET again, which is inside both windows.
    const atTwo = schedule('Europe/Paris', ['02:00', '02:30']);
    expect(scheduleStateAt(atTwo, at('2026-10-25T00:45:00Z'))).toEqual(
      closed('outside_window', '2026-10-25T01:00:00Z'),
    );
    const fromOne = schedule('Europe/Paris', ['01:00', '02:30']);
    expect(scheduleStateAt(fromOne, at('2026-10-25T00:45:00Z'))).toEqual(
      closed('outside_window', '2026-10-25T01:00:00Z'),
    );
  });

  it('handles the gaps of other zones', () => {
    // Auckland springs forward 02:00 NZST -> 03:00 NZDT on 2026-09-27.
    const auckland = schedule('Pacific/Auckland', ['02:15', '05:00']);
    expect(scheduleStateAt(auckland, at('2026-09-26T13:00:00Z'))).toEqual(
      closed('outside_window', '2026-09-26T14:00:00Z'),
    );
    // Los Angeles skips 02:00-03:00 on 2026-03-08; a window starting at 02:00 opens at 03:00 PDT.
    const la = schedule('America/Los_Angeles', ['02:00', '04:00']);
    expect(scheduleStateAt(la, at('2026-03-08T09:30:00Z'))).toEqual(
      closed('outside_window', '2026-03-08T10:00:00Z'),
    );
  });
});

describe('vacations', () => {
  const paris = (iso: string) => Date.parse(iso);
  const base = {
    timeZone: 'Europe/Paris',
    window: { start: 9 * 60, end: 18 * 60 },
    absenceWeekdays: [0, 6],
  };

  it('closes whole local days and opens at the first window after the last one', () => {
    // Vacation Monday 2026-08-03 to Wednesday 2026-08-19 (longer than any weekly scan).
    const s = { ...base, vacations: [{ from: '2026-08-03', to: '2026-08-19' }] };
    const state = scheduleStateAt(s, paris('2026-08-05T10:00:00+02:00'));
    expect(state).toEqual({ open: false, reason: 'vacation', opensAt: paris('2026-08-20T09:00:00+02:00') });
  });

  it('reads the vacation dates in the schedule zone, not in UTC', () => {
    const s = {
      ...base,
      window: null,
      absenceWeekdays: [],
      vacations: [{ from: '2026-08-03', to: '2026-08-03' }],
    };
    // 23:30 UTC on 2 August is already 3 August in Paris.
    const state = scheduleStateAt(s, Date.parse('2026-08-02T23:30:00Z'));
    expect(state).toEqual({ open: false, reason: 'vacation', opensAt: paris('2026-08-04T00:00:00+02:00') });
    expect(scheduleStateAt(s, Date.parse('2026-08-02T21:30:00Z'))).toEqual({ open: true });
  });

  it('skips chained vacations and the weekend after them', () => {
    const s = {
      ...base,
      vacations: [
        { from: '2026-08-03', to: '2026-08-07' },
        { from: '2026-08-10', to: '2026-08-14' },
      ],
    };
    // Friday evening before: next opening is Monday 17 August at 09:00.
    const state = scheduleStateAt(s, paris('2026-07-31T19:00:00+02:00'));
    expect(state).toMatchObject({
      open: false,
      reason: 'outside_window',
      opensAt: paris('2026-08-17T09:00:00+02:00'),
    });
  });

  it('refuses malformed or reversed vacation dates, naming them', () => {
    expect(() =>
      scheduleStateAt({ ...base, vacations: [{ from: '2026-8-3', to: '2026-08-04' }] }, 0),
    ).toThrow(/YYYY-MM-DD/);
    expect(() =>
      scheduleStateAt({ ...base, vacations: [{ from: '2026-02-30', to: '2026-03-01' }] }, 0),
    ).toThrow(/YYYY-MM-DD/);
    expect(() =>
      scheduleStateAt({ ...base, vacations: [{ from: '2026-08-05', to: '2026-08-04' }] }, 0),
    ).toThrow(/ends before it starts/);
  });
});
