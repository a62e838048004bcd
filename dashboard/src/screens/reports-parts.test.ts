import { describe, expect, it } from 'vitest';
import { translator } from '../i18n/index.js';
import { scheduleWords } from './reports-parts.js';

describe('scheduleWords', () => {
  const en = translator('en');
  const fr = translator('fr');
  it('says the common shapes in words', () => {
    expect(scheduleWords('0 19 * * *', en, 'en')).toBe('every day at 19:00');
    expect(scheduleWords('5 8 * * 1-5', en, 'en')).toBe('Monday to Friday at 08:05');
    expect(scheduleWords('30 7 * * 1', en, 'en')).toBe('every Monday at 07:30');
    expect(scheduleWords('30 7 * * 0', en, 'en')).toBe('every Sunday at 07:30');
    expect(scheduleWords('30 7 * * 7', en, 'en')).toBe('every Sunday at 07:30');
    expect(scheduleWords('0 6 1 * *', en, 'en')).toBe('on day 1 of every month at 06:00');
    expect(scheduleWords('15 * * * *', en, 'en')).toBe('every hour at minute 15');
    expect(scheduleWords('0 19 * * 5', fr, 'fr')).toBe('chaque vendredi à 19:00');
  });
  it('leaves anything else to the expression itself', () => {
    for (const cron of [
      '*/5 * * * *',
      '0 8,12 * * *',
      '0 19 * 1 *',
      '0 19 1 * 1',
      '0 0 * * MON',
      '1 2 3',
      '',
    ])
      expect(scheduleWords(cron, en, 'en')).toBeNull();
  });
});
