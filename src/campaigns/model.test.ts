import { describe, expect, it } from 'vitest';
import { LineIndex, mapColumns, sniffDelimiter, sniffEncoding } from './csv-model.js';
import { mergeContact, normaliseAddress, validateContact } from './model.js';

describe('normaliseAddress', () => {
  it('trims, lower-cases and converts the domain, keeps the local part, keys the whole lower-cased', () => {
    expect(normaliseAddress('  Jean.Dupont@Élan.FR ')).toEqual({
      given: 'Jean.Dupont@Élan.FR',
      address: 'Jean.Dupont@xn--lan-9la.fr',
      key: 'jean.dupont@xn--lan-9la.fr',
    });
    expect(normaliseAddress('Marie <MARIE@Example.com>')).toMatchObject({
      key: 'marie@example.com',
      name: 'Marie',
    });
    expect(normaliseAddress('')).toEqual({ problem: 'has no address' });
    expect(normaliseAddress('not-an-address')).toHaveProperty('problem');
  });

  it('refuses NUL and fields over 10 KB, naming the field', () => {
    expect(
      validateContact({ address: 'a\u0000b@example.com' }, { address: 'E-mail', name: 'Nom' }),
    ).toMatchObject({
      field: 'E-mail',
    });
    expect(
      validateContact({ address: 'a@example.com', name: 'x'.repeat(20_000) }, { address: 'e', name: 'Nom' }),
    ).toMatchObject({
      field: 'Nom',
      message: expect.stringContaining('10 KB'),
    });
  });

  it('merges on update and leaves alone on skip', () => {
    const stored = { given: 'a@example.com', name: 'A', attributes: { city: 'Paris', age: '3' } };
    const row = {
      given: 'A@example.com',
      address: 'A@example.com',
      key: 'a@example.com',
      name: null,
      attributes: { city: 'Lyon' },
    };
    expect(mergeContact(stored, row, 'update')).toEqual({
      given: 'A@example.com',
      name: 'A',
      attributes: { city: 'Lyon', age: '3' },
      changed: true,
    });
    expect(mergeContact(stored, row, 'skip').changed).toBe(false);
  });
});

describe('sniffing', () => {
  it('finds the delimiter on the header line, outside quotes', () => {
    expect(sniffDelimiter('Nom;Prénom;E-mail\r\na,b;c;d')).toBe(';');
    expect(sniffDelimiter('"a;b",email,name\n')).toBe(',');
    expect(sniffDelimiter('email\tname\n')).toBe('\t');
    expect(sniffDelimiter('email\n')).toBe(',');
  });

  it('takes valid UTF-8 as UTF-8 (a sequence cut at the end too) and the rest as Latin-1', () => {
    expect(sniffEncoding(Buffer.from('Nom;Prénom\n', 'utf8'))).toBe('utf-8');
    expect(sniffEncoding(Buffer.from('Nom;Pr\xe9nom\n', 'latin1'))).toBe('latin1');
    const cut = Buffer.from('abc é', 'utf8');
    expect(sniffEncoding(cut.subarray(0, cut.length - 1))).toBe('utf-8');
  });
});

describe('mapColumns', () => {
  it('finds the address and name columns by the usual titles, the rest are attributes', () => {
    expect(mapColumns(['Nom', 'Prénom', 'E-mail'], {})).toEqual({
      email: 2,
      name: [0],
      attributes: [{ key: 'Prénom', index: 1 }],
    });
    expect(mapColumns(['Courriel', 'Full Name'], {})).toMatchObject({ email: 0, name: [1] });
  });

  it('follows the options and says what is missing', () => {
    expect(
      mapColumns(['Nom', 'Prénom', 'Adr'], { email: 'adr', name: 'Prénom,Nom', attributes: '' }),
    ).toEqual({
      email: 2,
      name: [1, 0],
      attributes: [],
    });
    expect(mapColumns(['a', 'b'], {})).toHaveProperty('problem', expect.stringContaining('email='));
    expect(mapColumns(['email'], { name: 'x' })).toHaveProperty('problem', expect.stringContaining('"x"'));
  });
});

describe('LineIndex', () => {
  it('gives the line where each record starts, across chunks, blank lines and CRLF inside quotes', () => {
    const text = 'a;b\r\n1;"x\r\ny"\r\n\r\n2;3\r\n';
    const index = new LineIndex();
    index.append(Buffer.from(text.slice(0, 7)));
    index.append(Buffer.from(text.slice(7)));
    // End offsets as csv-parse reports them: after each record's line break.
    expect(index.recordLine(5)).toBe(1);
    expect(index.recordLine(15)).toBe(2);
    expect(index.recordLine(22)).toBe(5);
    expect(index.nextStartLine()).toBe(6);
  });
});
