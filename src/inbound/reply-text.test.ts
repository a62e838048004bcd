import { describe, expect, it } from 'vitest';
import { replyText } from './reply-text.js';

describe('replyText', () => {
  it('cuts at an English attribution line', () => {
    const text =
      'Sounds good, see you then.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane Doe <jane@example.com> wrote:\n> Shall we meet?\n> Jane';
    expect(replyText(text)).toBe('Sounds good, see you then.');
  });

  it('cuts at an attribution wrapped on two lines (Gmail)', () => {
    const text =
      'Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Jane Doe <\njane@example.com> wrote:\n\n> Are you coming?';
    expect(replyText(text)).toBe('Yes.');
  });

  it('cuts at a French attribution line, with or without a no-break space before the colon', () => {
    expect(
      replyText(
        'Merci !\n\nLe lun. 1 janv. 2024 à 10:00, Jean Dupont <jean@exemple.fr> a écrit :\n> Bonjour',
      ),
    ).toBe('Merci !');
    expect(replyText('Parfait.\nLe 01/01/2024 à 10:00, Jean a écrit\u00a0:\n> Bonjour')).toBe('Parfait.');
  });

  it('cuts at Outlook original-message and forwarded separators', () => {
    expect(replyText('Done.\n\n-----Original Message-----\nFrom: Bob\nSent: today')).toBe('Done.');
    expect(replyText("C'est fait.\n\n----- Message d'origine -----\nDe : Bob")).toBe("C'est fait.");
    expect(replyText('FYI\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.com>')).toBe(
      'FYI',
    );
  });

  it('cuts at an Outlook header block in English and in French', () => {
    const english =
      'Approved.\n\nFrom: Bob Smith <bob@example.com>\nSent: Monday, January 1, 2024 10:00 AM\nTo: Me\nSubject: Budget';
    expect(replyText(english)).toBe('Approved.');
    const french =
      'Validé.\n\n*De :* Bob Martin <bob@exemple.fr>\n*Envoyé :* lundi 1 janvier 2024 10:00\n*À :* Moi';
    expect(replyText(french)).toBe('Validé.');
  });

  it('keeps a From: line that does not start a header block', () => {
    const text = 'From: the warehouse, three boxes arrived.\nThey look fine.';
    expect(replyText(text)).toBe(text);
  });

  it('drops quoted lines that interleave with the answer', () => {
    const text = '> Can you come?\nYes.\n> At what time?\nAt ten.\n';
    expect(replyText(text)).toBe('Yes.\nAt ten.');
  });

  it('keeps a sentence that starts with "On" and trims trailing whitespace', () => {
    expect(replyText('On Monday I will call you.\r\nThanks   \r\n\r\n')).toBe(
      'On Monday I will call you.\nThanks',
    );
  });

  it('returns an empty string when everything is quoted', () => {
    expect(replyText('On Tue, Bob wrote:\n> hello')).toBe('');
    expect(replyText('')).toBe('');
  });
});
