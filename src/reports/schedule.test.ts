import { describe, expect, it } from 'vitest';
import { compileSchedule, cronProblem, slotsBetween } from './schedule.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Every slot in the 14 days around `change` (7 before, 7 after). */
function fortnight(cron: string, zone: string, change: string): string[] {
  const at = Date.parse(change);
  return slotsBetween(compileSchedule(cron, zone), at - 7 * DAY, at + 7 * DAY, 100).map(iso);
}

describe('report schedules across daylight-saving changes', () => {
  it('19:00 Europe/Paris is 18:00 UTC in winter and 17:00 UTC in summer, every day around the spring change', () => {
    const slots = fortnight('0 19 * * *', 'Europe/Paris', '2026-03-29T12:00:00Z');
    expect(slots).toHaveLength(14);
    for (const slot of slots) {
      const day = slot.slice(0, 10);
      expect(slot).toBe(day < '2026-03-29' ? `${day}T18:00:00.000Z` : `${day}T17:00:00.000Z`);
    }
  });

  it('19:00 Europe/Paris around the autumn change', () => {
    const slots = fortnight('0 19 * * *', 'Europe/Paris', '2026-10-25T12:00:00Z');
    expect(slots).toHaveLength(14);
    for (const slot of slots) {
      const day = slot.slice(0, 10);
      expect(slot).toBe(day < '2026-10-25' ? `${day}T17:00:00.000Z` : `${day}T18:00:00.000Z`);
    }
  });

  it('02:30, which does not exist on the spring day, runs once at the first minute that exists (03:00)', () => {
    const slots = slotsBetween(
      compileSchedule('30 2 * * *', 'Europe/Paris'),
      Date.parse('2026-03-28T00:00:00Z'),
      Date.parse('2026-03-30T23:59:00Z'),
      10,
    ).map(iso);
    expect(slots).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: the clocks jumped from 02:00 to 03:00
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('02:30, which happens twice on the autumn day, runs once (the first time)', () => {
    const slots = slotsBetween(
      compileSchedule('30 2 * * *', 'Europe/Paris'),
      Date.parse('2026-10-24T00:00:00Z'),
      Date.parse('2026-10-26T23:59:00Z'),
      10,
    ).map(iso);
    expect(slots).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('a schedule every 30 minutes has no slot twice and none in the gap', () => {
    const slots = slotsBetween(
      compileSchedule('*/30 * * * *', 'Europe/Paris'),
      Date.parse('2026-03-29T00:00:00Z'),
      Date.parse('2026-03-29T02:00:00Z'),
      10,
    ).map(iso);
    expect(slots).toEqual([
      '2026-03-29T00:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-29T02:00:00.000Z',
    ]);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it('America/New_York changes on other days, and the zone is honoured', () => {
    const slots = fortnight('0 9 * * *', 'America/New_York', '2026-03-08T12:00:00Z');
    for (const slot of slots) {
      const day = slot.slice(0, 10);
      expect(slot).toBe(day < '2026-03-08' ? `${day}T14:00:00.000Z` : `${day}T13:00:00.000Z`);
    }
  });

  it('keeps the newest slots when more than the limit passed', () => {
    const slots = slotsBetween(
      compileSchedule('0 * * * *', 'UTC'),
      Date.parse('2026-01-01T00:00:00Z'),
      Date.parse('2026-01-02T00:00:00Z'),
      3,
    );
    expect(slots.map(iso)).toEqual([
      '2026-01-01T22:00:00.000Z',
      '2026-01-01T23:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
    ]);
  });
});

describe('cron expressions', () => {
  it('accepts five fields and nicknames', () => {
    expect(cronProblem('0 19 * * *')).toBeNull();
    expect(cronProblem('0 8 * * 1-5')).toBeNull();
    expect(cronProblem('@daily')).toBeNull();
  });

  it('refuses what is not five fields, with the expected form', () => {
    expect(cronProblem('0 0 19 * * *')).toMatch(/five fields/);
    expect(cronProblem('every day')).toMatch(/five fields/);
  });

  it('refuses values out of range', () => {
    expect(cronProblem('0 25 * * *')).toMatch(/not a valid cron expression/);
    expect(cronProblem('61 1 * * *')).toMatch(/not a valid cron expression/);
  });
});
