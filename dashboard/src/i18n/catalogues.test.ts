import { describe, expect, it } from 'vitest';
import { parseHash } from '../router.js';
import { en } from './en.js';
import { fr } from './fr.js';
import { translator } from './index.js';

/** The catalogues agree (keys and placeholders), and hash routes parse as the screens read them. */

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('the catalogues', () => {
  it('have the same keys, each with the same placeholders, and no empty string', () => {
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as Array<keyof typeof en>) {
      expect(placeholders(fr[key]), key).toEqual(placeholders(en[key]));
      expect(fr[key].trim(), key).not.toBe('');
    }
  });

  it('fill placeholders, and leave an unknown one visible', () => {
    const t = translator('fr');
    expect(t('login.locked', { time: '2 min' })).toBe('Trop d’échecs. Réessayez dans 2 min.');
    expect(translator('en')('session.signedInAs', { email: 'a@b.c' })).toBe('Signed in as a@b.c ({role})');
  });
});

describe('hash routes', () => {
  it('parse into parts and a query', () => {
    expect(parseHash('')).toMatchObject({ path: '/', parts: [] });
    const route = parseHash('#/mail/catcher/01a2?before=x&status=failed');
    expect(route.parts).toEqual(['mail', 'catcher', '01a2']);
    expect(route.query.get('status')).toBe('failed');
    expect(parseHash('#/setup?token=abc').query.get('token')).toBe('abc');
    expect(parseHash('#/mail/a%2Fb').parts).toEqual(['mail', 'a/b']);
  });
});
