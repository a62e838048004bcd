import { describe, expect, it } from 'vitest';
import { at, makeEmail } from '../../test/support/email-fixture.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { findShareLinks } from './extractors.js';
import { detectDesabo, detectPreset, detectRecadrage, isRecadrageSubject } from './presets.js';

const NOW = at('2025-06-02T08:00:00Z'); // 10:00 in Paris
const PARIS = 'Europe/Paris';
const DROPBOX = 'https://www.dropbox.com/scl/fi/abc/lot42.zip?rlkey=k&dl=0';

function recadrage(email: InboundEmail, now = NOW) {
  return detectRecadrage(email, findShareLinks(email), now, PARIS);
}

function desabo(email: InboundEmail) {
  return detectDesabo(email, findShareLinks(email));
}

describe('recadrage: the subject', () => {
  it('matches the subject as written', () => {
    expect(isRecadrageSubject('Média Solution - Missions Recadrage - Lot 42')).toBe(true);
  });

  it('matches the tokens once accents are stripped and case lowered', () => {
    expect(isRecadrageSubject('MEDIA SOLUTION / missions recadrage (lot 7)')).toBe(true);
    expect(isRecadrageSubject('Lot 7 : Missions Récadrage pour Média Solution')).toBe(true);
  });

  it('needs every token', () => {
    expect(isRecadrageSubject('Média Solution - Missions Recadrage')).toBe(false);
    expect(isRecadrageSubject('Média Solution - Lot 42')).toBe(false);
  });
});

describe('recadrage: the detection', () => {
  const base = { subject: 'Média Solution - Missions Recadrage - Lot 42', links: [DROPBOX] };

  it('matches by the exact subject, with a link and a time', () => {
    const email = makeEmail({ ...base, text: 'Bonjour, à faire pour 16h00. Merci' });
    expect(recadrage(email)).toEqual({ detector: 'recadrage', deliveryTime: '16h00', urgent: false });
  });

  it('matches by tokens', () => {
    const email = makeEmail({
      subject: 'media solution missions recadrage lot 9',
      links: [DROPBOX],
      text: '9h15',
    });
    expect(recadrage(email)).toEqual({ detector: 'recadrage', deliveryTime: '09h15', urgent: false });
  });

  it('gives URGENCE now + 1 h and marks it urgent', () => {
    const email = makeEmail({ ...base, subject: `URGENCE ${base.subject}`, text: 'à faire pour 16h00' });
    expect(recadrage(email)).toEqual({ detector: 'recadrage', deliveryTime: '11h00', urgent: true });
  });

  it('gives URGENCE now + 1 h across the spring-forward day in Paris', () => {
    const email = makeEmail({ ...base, subject: `Urgence : ${base.subject}` });
    expect(recadrage(email, at('2025-03-30T00:45:00Z'))?.deliveryTime).toBe('03h45');
  });

  it('reads the dated deadline', () => {
    const email = makeEmail({ ...base, text: 'A faire pour le 5/6/2025 à 8h30' });
    expect(recadrage(email)?.deliveryTime).toBe('le 05/06/2025 à 08h30');
  });

  it('reads the deadline without a date', () => {
    const email = makeEmail({ ...base, text: 'à faire pour 14:45' });
    expect(recadrage(email)?.deliveryTime).toBe('14h45');
  });

  it('falls back to a bare time in the body', () => {
    const email = makeEmail({ ...base, text: 'Livraison souhaitée vers 17h30' });
    expect(recadrage(email)?.deliveryTime).toBe('17h30');
  });

  it('does not match without a time', () => {
    const email = makeEmail({ ...base, text: 'Bonjour, voici le lot.' });
    expect(recadrage(email)).toBeNull();
    expect(detectPreset('recadrage', email, findShareLinks(email), NOW, PARIS)).toEqual({
      miss: expect.stringMatching(/no delivery time/),
    });
  });

  it('does not match without a supported link', () => {
    const email = makeEmail({
      subject: base.subject,
      text: 'à faire pour 16h00',
      links: ['https://example.com/x'],
    });
    expect(recadrage(email)).toBeNull();
  });

  it('does not count Google Drive or OneDrive links, which the replaced system did not support', () => {
    const email = makeEmail({
      subject: base.subject,
      text: 'à faire pour 16h00',
      links: ['https://drive.google.com/file/d/1AbC/view', 'https://1drv.ms/u/s!x'],
    });
    expect(recadrage(email)).toBeNull();
  });

  it.each(['https://fromsmash.com/abc', 'https://www.swisstransfer.com/d/1-2', 'https://we.tl/t-1'])(
    'accepts a %s link',
    (link) => {
      const email = makeEmail({ subject: base.subject, text: '16h00', links: [link] });
      expect(recadrage(email)?.detector).toBe('recadrage');
    },
  );

  it('does not count a Dropbox logo as the link', () => {
    const email = makeEmail({
      subject: base.subject,
      text: '16h00',
      links: ['https://www.dropbox.com/s/abc/logo.png?raw=1'],
    });
    expect(recadrage(email)).toBeNull();
  });
});

describe('DESABO (desabonnement_journee_tarifs)', () => {
  const text = 'Bonjour, je souhaite me désabonner de la JOURNÉE aux tarifs habituels.';

  it('matches journee + tarifs habituels + desabonn in the body', () => {
    expect(desabo(makeEmail({ text }))).toEqual({
      detector: 'desabonnement_journee_tarifs',
      deliveryTime: null,
      urgent: false,
    });
  });

  it('accepts desabonn in the subject instead of the body', () => {
    const email = makeEmail({ subject: 'Désabonnement', text: 'La journée aux tarifs habituels, merci.' });
    expect(desabo(email)?.detector).toBe('desabonnement_journee_tarifs');
  });

  it('accepts a Dropbox file-request link instead of desabonn', () => {
    const body = 'Journée aux tarifs habituels, déposez ici https://www.dropbox.com/request/AbC';
    expect(desabo(makeEmail({ text: body }))?.detector).toBe('desabonnement_journee_tarifs');
    const viaHref = makeEmail({
      text: 'Journée aux tarifs habituels, déposez ici',
      links: ['https://www.dropbox.com/request/AbC'],
    });
    expect(desabo(viaHref)?.detector).toBe('desabonnement_journee_tarifs');
  });

  it('needs desabonn or a request link', () => {
    expect(desabo(makeEmail({ text: 'Journée aux tarifs habituels.' }))).toBeNull();
  });

  it('needs both journee and tarifs habituels', () => {
    expect(desabo(makeEmail({ text: 'Je veux me désabonner, tarifs habituels' }))).toBeNull();
    expect(desabo(makeEmail({ text: 'Je veux me désabonner de la journée' }))).toBeNull();
  });

  it.each(['annulation', 'Facturation', 'facture', 'MOMENT', 'Référence client', 'Total HT'])(
    'is rejected when the body holds %s',
    (word) => {
      const email = makeEmail({ text: `${text} ${word} 123` });
      expect(desabo(email)).toBeNull();
      expect(detectPreset('desabo', email, [], NOW, PARIS)).toEqual({
        miss: expect.stringMatching(/rejected/),
      });
    },
  );

  it('is urgent when urgent or urgence appears in the body or the subject', () => {
    expect(desabo(makeEmail({ text: `${text} C'est urgent.` }))?.urgent).toBe(true);
    expect(desabo(makeEmail({ text: `${text} Urgence.` }))?.urgent).toBe(true);
    expect(desabo(makeEmail({ subject: 'URGENT', text }))?.urgent).toBe(true);
    expect(desabo(makeEmail({ subject: 'Demande', text }))?.urgent).toBe(false);
  });
});
