import { describe, expect, it } from 'vitest';
import { at } from '../../test/support/email-fixture.js';
import { isReplyOrForward, senderAllowed, stripReplyPrefixes, subjectGroupKey } from './dedupe.js';

describe('isReplyOrForward', () => {
  it.each([
    'Re: lot 4',
    'RE : lot 4',
    'fw: x',
    'FWD:x',
    'Rv: x',
    'TR : x',
    '  re: x',
    'Confirmation: commande',
  ])('spots %j', (subject) => {
    expect(isReplyOrForward(subject)).toBe(true);
  });

  it.each(['Reunion demain', 'Trésorerie: bilan', 'Média Solution - Lot 4', 'Forward planning', ''])(
    'leaves %j alone',
    (subject) => {
      expect(isReplyOrForward(subject)).toBe(false);
    },
  );
});

describe('stripReplyPrefixes', () => {
  it('removes stacked prefixes', () => {
    expect(stripReplyPrefixes('RE : Fwd: TR: Bilan')).toBe('Bilan');
  });
});

describe('subjectGroupKey', () => {
  const paris = 'Europe/Paris';
  const june = at('2025-06-10T12:00:00Z');

  it('normalises the subject: prefixes, accents, case, punctuation runs', () => {
    expect(subjectGroupKey('Re: Fwd:  Été -- Bilan (final)!', june, paris)).toBe('ete_bilan_final:2025-06');
  });

  it('groups recadrage subjects by lot number whatever else they say', () => {
    const a = subjectGroupKey('Média Solution - Missions Recadrage - Lot 42', june, paris);
    const b = subjectGroupKey('RE: URGENCE media solution missions recadrage LOT 42 (relance)', june, paris);
    expect(a).toBe('media_solution_missions_recadrage_lot_42:2025-06');
    expect(b).toBe(a);
    expect(subjectGroupKey('Média Solution - Missions Recadrage - Lot 43', june, paris)).not.toBe(a);
  });

  it('takes the month in the zone across a month boundary', () => {
    // 22:30Z on 31 May is already 00:30 on 1 June in Paris.
    expect(subjectGroupKey('Bilan', at('2025-05-31T22:30:00Z'), paris)).toBe('bilan:2025-06');
    expect(subjectGroupKey('Bilan', at('2025-05-31T22:30:00Z'), 'UTC')).toBe('bilan:2025-05');
    // New Year's Eve in New York is already January in UTC.
    expect(subjectGroupKey('Bilan', at('2026-01-01T03:00:00Z'), 'America/New_York')).toBe('bilan:2025-12');
  });

  it('keys an empty subject', () => {
    expect(subjectGroupKey('Re: ', june, paris)).toBe('no_subject:2025-06');
  });
});

describe('senderAllowed', () => {
  it('allows everyone with an empty list', () => {
    expect(senderAllowed([], 'anyone@x.fr')).toBe(true);
    expect(senderAllowed([], null)).toBe(true);
  });

  it('matches addresses ignoring case and @domain entries on the exact domain', () => {
    const list = ['jane@example.com', '@acme.fr'];
    expect(senderAllowed(list, 'Jane@Example.COM')).toBe(true);
    expect(senderAllowed(list, 'bob@acme.fr')).toBe(true);
    expect(senderAllowed(list, 'bob@mail.acme.fr')).toBe(false);
    expect(senderAllowed(list, 'bob@example.com')).toBe(false);
    expect(senderAllowed(list, null)).toBe(false);
  });
});
