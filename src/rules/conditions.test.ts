import { describe, expect, it } from 'vitest';
import { makeEmail } from '../../test/support/email-fixture.js';
import type { Condition, Group } from './condition-model.js';
import { type Extracted, evaluateCondition, evaluateGroup, traceGroup } from './conditions.js';

const email = makeEmail({
  subject: 'Facture Été 2025',
  from: { address: 'billing@mail.acme.fr', name: 'ACME Billing' },
  to: [
    { address: 'ops@facteur.test', name: '' },
    { address: 'sales@example.org', name: '' },
  ],
  cc: [{ address: 'boss@acme.fr', name: '' }],
  headers: { 'list-id': ['<news.acme.fr>'], 'x-tag': ['blue', 'green'] },
  text: 'Bonjour,\nvoici la facture.',
  html: '<p>voici la <b>facture</b></p>',
  replyText: 'Bonjour',
  attachments: [
    {
      filename: 'facture-42.pdf',
      contentType: 'application/pdf',
      size: 10,
      contentId: null,
      disposition: 'attachment',
      sha256: 'a',
    },
  ],
});
const extracted: Extracted = {
  links: [{ provider: 'wetransfer', raw_url: 'https://we.tl/t-1', direct_url: 'https://we.tl/t-1' }],
  urgent: false,
};

function cond(partial: Partial<Condition> & Pick<Condition, 'field' | 'operator'>): Condition {
  return { caseSensitive: false, negate: false, ...partial };
}

function holds(partial: Partial<Condition> & Pick<Condition, 'field' | 'operator'>): boolean {
  return evaluateCondition(cond(partial), email, extracted);
}

describe('operators, case sensitivity and negation', () => {
  // [operator, value (or values), expected case-insensitive, expected case-sensitive]
  const cases: Array<[Condition['operator'], string | string[], boolean, boolean]> = [
    ['contains', 'ÉTÉ', true, false],
    ['contains', 'Été', true, true],
    ['equals', 'facture été 2025', true, false],
    ['equals', 'Facture Été 2025', true, true],
    ['startsWith', 'FACTURE', true, false],
    ['startsWith', 'Facture', true, true],
    ['endsWith', 'été 2025', true, false],
    ['endsWith', 'Été 2025', true, true],
    ['in', ['x', 'FACTURE ÉTÉ 2025'], true, false],
    ['in', ['x', 'Facture Été 2025'], true, true],
    ['regex', '^facture\\s+été', true, false],
    ['regex', '^Facture\\s+Été', true, true],
  ];

  for (const [operator, operand, insensitive, sensitive] of cases) {
    const spec = Array.isArray(operand) ? { values: operand } : { value: operand };
    it(`${operator} ${JSON.stringify(operand)}: ${insensitive} ignoring case, ${sensitive} with case`, () => {
      expect(holds({ field: 'subject', operator, ...spec })).toBe(insensitive);
      expect(holds({ field: 'subject', operator, ...spec, caseSensitive: true })).toBe(sensitive);
      expect(holds({ field: 'subject', operator, ...spec, negate: true })).toBe(!insensitive);
      expect(holds({ field: 'subject', operator, ...spec, caseSensitive: true, negate: true })).toBe(
        !sensitive,
      );
    });
  }

  it('compares accents as written: e does not match é', () => {
    expect(holds({ field: 'subject', operator: 'contains', value: 'ete' })).toBe(false);
  });

  it('treats composed and decomposed accents as the same text', () => {
    expect(
      holds({ field: 'subject', operator: 'contains', value: 'E\u0301te\u0301', caseSensitive: true }),
    ).toBe(true);
  });

  it('domainIs matches the domain and its subdomains only', () => {
    expect(holds({ field: 'from.address', operator: 'domainIs', value: 'acme.fr' })).toBe(true);
    expect(holds({ field: 'from.address', operator: 'domainIs', value: 'MAIL.ACME.FR' })).toBe(true);
    expect(holds({ field: 'from.address', operator: 'domainIs', value: 'cme.fr' })).toBe(false);
    expect(holds({ field: 'from.domain', operator: 'domainIs', value: 'acme.fr' })).toBe(true);
    expect(holds({ field: 'from.address', operator: 'domainIs', value: 'acme.fr', negate: true })).toBe(
      false,
    );
  });

  it('is compares booleans', () => {
    expect(holds({ field: 'hasAttachment', operator: 'is', value: 'true' })).toBe(true);
    expect(holds({ field: 'hasAttachment', operator: 'is', value: 'false' })).toBe(false);
    expect(holds({ field: 'urgent', operator: 'is', value: 'false' })).toBe(true);
    expect(
      evaluateCondition(cond({ field: 'urgent', operator: 'is', value: 'true' }), email, {
        ...extracted,
        urgent: true,
      }),
    ).toBe(true);
  });

  it('does not count inline parts as attachments', () => {
    const inline = makeEmail({
      attachments: [
        {
          filename: 'logo.png',
          contentType: 'image/png',
          size: 1,
          contentId: 'c',
          disposition: 'inline',
          sha256: 'b',
        },
      ],
    });
    expect(
      evaluateCondition(cond({ field: 'hasAttachment', operator: 'is', value: 'true' }), inline, extracted),
    ).toBe(false);
  });
});

describe('fields', () => {
  it.each<[Partial<Condition> & Pick<Condition, 'field' | 'operator'>, boolean]>([
    [{ field: 'from.address', operator: 'equals', value: 'BILLING@mail.acme.fr' }, true],
    [{ field: 'from.name', operator: 'contains', value: 'acme' }, true],
    [{ field: 'from.domain', operator: 'equals', value: 'mail.acme.fr' }, true],
    [{ field: 'text', operator: 'contains', value: 'voici la facture' }, true],
    [{ field: 'html', operator: 'contains', value: '<b>facture</b>' }, true],
    [{ field: 'replyText', operator: 'contains', value: 'facture' }, false],
    [{ field: 'header', header: 'List-Id', operator: 'contains', value: 'news.acme.fr' }, true],
    [{ field: 'header', header: 'X-Missing', operator: 'contains', value: '' }, false],
    [{ field: 'attachment.name', operator: 'endsWith', value: '.PDF' }, true],
    [{ field: 'attachment.type', operator: 'equals', value: 'application/pdf' }, true],
    [{ field: 'link.provider', operator: 'equals', value: 'wetransfer' }, true],
    [{ field: 'link.provider', operator: 'equals', value: 'dropbox' }, false],
  ])('%j -> %s', (partial, expected) => {
    expect(holds(partial)).toBe(expected);
  });

  it('matches multi-valued fields when any value matches, and negated when none does', () => {
    expect(holds({ field: 'to', operator: 'equals', value: 'sales@example.org' })).toBe(true);
    expect(holds({ field: 'to', operator: 'equals', value: 'sales@example.org', negate: true })).toBe(false);
    expect(holds({ field: 'to', operator: 'equals', value: 'nobody@example.org', negate: true })).toBe(true);
    expect(holds({ field: 'header', header: 'x-tag', operator: 'equals', value: 'green' })).toBe(true);
    expect(holds({ field: 'cc', operator: 'domainIs', value: 'acme.fr' })).toBe(true);
  });

  it('treats a missing field as no value: no match, and a match when negated', () => {
    const bare = makeEmail({ from: null, sender: '', cc: [], html: null });
    const none = { links: [], urgent: false };
    expect(
      evaluateCondition(cond({ field: 'from.address', operator: 'contains', value: '' }), bare, none),
    ).toBe(false);
    expect(
      evaluateCondition(cond({ field: 'cc', operator: 'contains', value: 'a', negate: true }), bare, none),
    ).toBe(true);
    expect(evaluateCondition(cond({ field: 'html', operator: 'contains', value: '' }), bare, none)).toBe(
      false,
    );
  });
});

describe('groups', () => {
  const yes = cond({ field: 'subject', operator: 'contains', value: 'facture' });
  const no = cond({ field: 'subject', operator: 'contains', value: 'devis' });

  it('all needs every member; an empty all always matches', () => {
    expect(evaluateGroup({ all: [yes, yes] }, email, extracted)).toBe(true);
    expect(evaluateGroup({ all: [yes, no] }, email, extracted)).toBe(false);
    expect(evaluateGroup({ all: [] }, email, extracted)).toBe(true);
  });

  it('any needs one member; an empty any never matches', () => {
    expect(evaluateGroup({ any: [no, yes] }, email, extracted)).toBe(true);
    expect(evaluateGroup({ any: [no, no] }, email, extracted)).toBe(false);
    expect(evaluateGroup({ any: [] }, email, extracted)).toBe(false);
  });

  it('evaluates nested groups four levels deep', () => {
    const nested: Group = { all: [yes, { any: [no, { all: [yes, { any: [no, yes] }] }] }] };
    expect(evaluateGroup(nested, email, extracted)).toBe(true);
    const failing: Group = { all: [yes, { any: [no, { all: [yes, { any: [no, no] }] }] }] };
    expect(evaluateGroup(failing, email, extracted)).toBe(false);
  });

  it('traces every condition and names the first failing one', () => {
    const trace = traceGroup({ all: [yes, { any: [no] }, no] }, email, extracted);
    expect(trace.matched).toBe(false);
    expect(trace.conditions).toEqual([
      { path: 'when.all[0]', field: 'subject', operator: 'contains', matched: true },
      { path: 'when.all[1].any[0]', field: 'subject', operator: 'contains', matched: false },
      { path: 'when.all[2]', field: 'subject', operator: 'contains', matched: false },
    ]);
    expect(trace.why).toBe('no condition of when.all[1].any held');
    expect(traceGroup({ all: [yes, no] }, email, extracted).why).toBe(
      'when.all[1] (subject contains "devis") did not hold',
    );
    expect(traceGroup({ all: [yes] }, email, extracted)).toMatchObject({ matched: true, why: null });
  });
});
