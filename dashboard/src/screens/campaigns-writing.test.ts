import { describe, expect, it } from 'vitest';
import { base64Bytes, isoToLocal, localToIso } from './campaigns-api.js';
import { EMPTY_WRITING, startOf, writingBody } from './campaigns-writing.js';

/** The campaign form's pure parts: local times, the request body, the start chosen. */

const t = (key: string) => key;

describe('the campaign form', () => {
  it("turns a datetime-local value into an ISO time with the browser's offset, and back", () => {
    const iso = localToIso('2026-03-14T09:30') as string;
    expect(iso).toMatch(/^2026-03-14T09:30:00[+-]\d{2}:\d{2}$/);
    // The same instant as the local time the browser means.
    expect(Date.parse(iso)).toBe(new Date(2026, 2, 14, 9, 30).getTime());
    expect(isoToLocal(iso)).toBe('2026-03-14T09:30');
    expect(localToIso('')).toBeUndefined();
    expect(localToIso('14/03/2026 09:30')).toBeUndefined();
  });

  it('refuses a missing or past time, and gives now or the time otherwise', () => {
    const now = new Date(2026, 2, 14, 9, 0).getTime();
    const at = (startAt: string) => ({ ...EMPTY_WRITING, startAt });
    expect(startOf('draft', at(''), t, now)).toBeUndefined();
    expect(startOf('now', at(''), t, now)).toBe('now');
    expect(() => startOf('at', at(''), t, now)).toThrow('campaigns.when.needTime');
    expect(() => startOf('at', at('2026-03-14T08:59'), t, now)).toThrow('campaigns.when.past');
    expect(() => startOf('at', at('2026-03-14T09:00'), t, now)).toThrow('campaigns.when.past');
    expect(startOf('at', at('2026-03-14T09:01'), t, now)).toBe(localToIso('2026-03-14T09:01'));
  });

  it('leaves empty fields out of a create, and sends them as null (removed) in an edit', () => {
    const w = { ...EMPTY_WRITING, subject: 'AG', text: 'Bonjour', from: '  Le club <c@example.org> ' };
    expect(writingBody(w, false)).toEqual({
      subject: 'AG',
      text: 'Bonjour',
      from: 'Le club <c@example.org>',
    });
    expect(writingBody(w, true)).toEqual({
      subject: 'AG',
      text: 'Bonjour',
      from: 'Le club <c@example.org>',
      replyTo: null,
      ownerEmail: null,
      html: null,
      attachments: null,
    });
    const attachments = [{ filename: 'a.txt', contentType: 'text/plain', content: 'QUcgMjAyNg==' }];
    expect(writingBody({ ...w, attachments }, true).attachments).toEqual(attachments);
    expect(base64Bytes('QUcgMjAyNg==')).toBe(9);
  });
});
