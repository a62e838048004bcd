import { describe, expect, it } from 'vitest';
import { at, makeEmail } from '../../test/support/email-fixture.js';
import {
  deliveryTime,
  findShareLinks,
  isUrgent,
  normaliseDropboxUrl,
  normaliseForMatch,
  stripAccents,
} from './extractors.js';

describe('stripAccents and normaliseForMatch', () => {
  it('removes combining marks, composed or not', () => {
    expect(stripAccents('Média Été à ç')).toBe('Media Ete a c');
    expect(stripAccents('e\u0301')).toBe('e');
    expect(normaliseForMatch('JOURNÉE Désabonnement')).toBe('journee desabonnement');
  });
});

describe('isUrgent', () => {
  it('finds urgent or urgence, accents and case ignored', () => {
    expect(isUrgent('C’est URGENT')).toBe(true);
    expect(isUrgent('Urgence absolue')).toBe(true);
    expect(isUrgent('Ürgence')).toBe(true);
    expect(isUrgent('rien de pressé')).toBe(false);
  });
});

describe('findShareLinks: providers', () => {
  it.each([
    ['https://www.dropbox.com/s/abc123/file.zip?dl=0', 'dropbox'],
    ['https://www.dropbox.com/scl/fi/abc/photo.zip?rlkey=k1&dl=0', 'dropbox'],
    ['https://www.dropbox.com/scl/fo/abc/def?rlkey=k2', 'dropbox'],
    ['https://www.dropbox.com/sh/abc/xyz', 'dropbox'],
    ['https://www.dropbox.com/request/AbCdEf', 'dropbox'],
    ['https://dl.dropboxusercontent.com/s/abc/file.zip', 'dropbox'],
    ['https://wetransfer.com/downloads/abc/def', 'wetransfer'],
    ['https://we.tl/t-AbCdEf', 'wetransfer'],
    ['https://fromsmash.com/AbCdEf', 'fromsmash'],
    ['https://www.swisstransfer.com/d/1234-abcd', 'swisstransfer'],
    ['https://drive.google.com/file/d/1AbC/view?usp=sharing', 'google_drive'],
    ['https://drive.google.com/open?id=1AbC', 'google_drive'],
    ['https://docs.google.com/document/d/1AbC/edit', 'google_drive'],
    ['https://1drv.ms/u/s!AbC', 'onedrive'],
    ['https://onedrive.live.com/redir?resid=ABC', 'onedrive'],
    ['https://contoso.sharepoint.com/:f:/g/personal/abc', 'onedrive'],
  ])('classifies %s as %s', (url, provider) => {
    const links = findShareLinks(makeEmail({ links: [url] }));
    expect(links.map((l) => l.provider)).toEqual([provider]);
    expect(links[0]?.raw_url).toBe(url);
  });

  it.each([
    'https://www.dropbox.com/home',
    'https://www.dropbox.com/',
    'https://wetransfer.com/',
    'https://swisstransfer.com/fr',
    'https://drive.google.com/drive/my-drive',
    'https://contoso.sharepoint.com/sites/x',
    'https://example.com/dropbox.com/s/abc',
    'ftp://www.dropbox.com/s/abc/file.zip',
  ])('ignores %s', (url) => {
    expect(findShareLinks(makeEmail({ links: [url] }))).toEqual([]);
  });
});

describe('findShareLinks: order, de-duplication, logos', () => {
  it('keeps first-seen order and drops repeats of the same normalised Dropbox URL', () => {
    const links = findShareLinks(
      makeEmail({
        links: [
          'https://we.tl/t-1',
          'https://www.dropbox.com/s/abc/file.zip?dl=0',
          'https://fromsmash.com/x1',
          'http://WWW.DROPBOX.COM/s/abc/file.zip?dl=1',
          'https://we.tl/t-1#again',
        ],
      }),
    );
    expect(links.map((l) => l.raw_url)).toEqual([
      'https://we.tl/t-1',
      'https://www.dropbox.com/s/abc/file.zip?dl=0',
      'https://fromsmash.com/x1',
    ]);
  });

  it.each(['ms_logo.png', 'Logo-societe.png', 'avatar.jpg', 'PROFILE_pic.png', 'msn.gif'])(
    'drops the Dropbox image %s',
    (name) => {
      const email = makeEmail({ links: [`https://www.dropbox.com/s/abc/${name}?raw=1`] });
      expect(findShareLinks(email)).toEqual([]);
    },
  );

  it('keeps Dropbox files whose name only contains those words later on', () => {
    const links = findShareLinks(makeEmail({ links: ['https://www.dropbox.com/s/abc/photos_logo.zip'] }));
    expect(links).toHaveLength(1);
  });

  it('filters logos on Dropbox only', () => {
    expect(findShareLinks(makeEmail({ links: ['https://fromsmash.com/logo'] }))).toHaveLength(1);
  });

  it('re-scans text and HTML for links the parser did not list, trimming trailing punctuation', () => {
    const email = makeEmail({
      links: ['https://example.com/a'],
      text: 'Fichiers : https://we.tl/t-XyZ. Merci',
      html: '<a href="https://www.dropbox.com/scl/fi/a/b.zip?rlkey=k&amp;dl=0">ici</a>',
    });
    expect(findShareLinks(email)).toEqual([
      { provider: 'wetransfer', raw_url: 'https://we.tl/t-XyZ', direct_url: 'https://we.tl/t-XyZ' },
      {
        provider: 'dropbox',
        raw_url: 'https://www.dropbox.com/scl/fi/a/b.zip?rlkey=k&dl=0',
        direct_url: 'https://www.dropbox.com/scl/fi/a/b.zip?dl=1&rlkey=k',
      },
    ]);
  });
});

describe('normaliseDropboxUrl', () => {
  it('uses https, lower-cases the host, sets dl=1, sorts parameters and keeps rlkey', () => {
    expect(normaliseDropboxUrl('http://WWW.Dropbox.com/scl/fi/Ab/File.ZIP?st=9&rlkey=KeY&dl=0#frag')).toBe(
      'https://www.dropbox.com/scl/fi/Ab/File.ZIP?dl=1&rlkey=KeY&st=9',
    );
  });

  it('adds dl=1 when absent', () => {
    expect(normaliseDropboxUrl('https://www.dropbox.com/s/abc/file.zip')).toBe(
      'https://www.dropbox.com/s/abc/file.zip?dl=1',
    );
  });

  it('is the direct_url of extracted Dropbox links', () => {
    const [link] = findShareLinks(makeEmail({ links: ['https://www.dropbox.com/s/abc/file.zip?dl=0'] }));
    expect(link?.direct_url).toBe('https://www.dropbox.com/s/abc/file.zip?dl=1');
  });
});

describe('deliveryTime', () => {
  const paris = 'Europe/Paris';
  const now = at('2025-06-02T08:00:00Z');

  it('gives now + 1 h in the zone for URGENCE in the subject', () => {
    const email = makeEmail({ subject: 'URGENCE Média Solution', text: 'à faire pour 14h00' });
    expect(deliveryTime(email, now, paris)).toBe('11h00');
    expect(deliveryTime(makeEmail({ subject: 'urgence' }), now, 'UTC')).toBe('09h00');
  });

  it('counts the hour across the spring-forward gap in Paris', () => {
    // 00:30Z on 30 March 2025 is 01:30 CET; an hour later the clocks read 03:30 CEST.
    const email = makeEmail({ subject: 'Urgence - lot 3' });
    expect(deliveryTime(email, at('2025-03-30T00:30:00Z'), paris)).toBe('03h30');
  });

  it('counts the hour across the fall-back overlap in Paris', () => {
    // 00:30Z on 26 October 2025 is 02:30 CEST; an hour later it is 02:30 CET again.
    const email = makeEmail({ subject: 'URGENCE' });
    expect(deliveryTime(email, at('2025-10-26T00:30:00Z'), paris)).toBe('02h30');
  });

  it.each([
    ['à faire pour le 3/7/2025 à 9h05', 'le 03/07/2025 à 09h05'],
    ['A FAIRE POUR LE 03/07/2025 A 14:30', 'le 03/07/2025 à 14h30'],
    ['a faire  pour le 3 / 7 / 2025  à  14 h 30', 'le 03/07/2025 à 14h30'],
  ])('reads the dated deadline in %j', (text, expected) => {
    expect(deliveryTime(makeEmail({ text }), now, paris)).toBe(expected);
  });

  it.each([
    ['Merci, à faire pour 9h30 au plus tard', '09h30'],
    ['À faire pour 18:00.', '18h00'],
    ['a faire pour 7 h 15', '07h15'],
  ])('reads the deadline in %j', (text, expected) => {
    expect(deliveryTime(makeEmail({ text }), now, paris)).toBe(expected);
  });

  it('prefers "à faire pour" over an earlier bare time', () => {
    expect(deliveryTime(makeEmail({ text: 'Reçu à 8h12. À faire pour 16h45' }), now, paris)).toBe('16h45');
  });

  it('falls back to the first valid bare time of the body', () => {
    expect(deliveryTime(makeEmail({ text: 'Version 2024:99, livraison 17h20 ou 18h' }), now, paris)).toBe(
      '17h20',
    );
  });

  it('returns null when the body names no time', () => {
    expect(deliveryTime(makeEmail({ text: 'Merci pour le lot, à bientôt' }), now, paris)).toBeNull();
    expect(deliveryTime(makeEmail({ text: 'rendez-vous à 25h70' }), now, paris)).toBeNull();
  });
});
