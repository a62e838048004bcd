import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.js';
import { checkPostmarkAuth, type PostmarkBody, postmarkBodySchema, readPostmark } from './postmark.js';

/** Postmark's webhook records (shapes from its webhook documentation) read into Feedback. */

const bounce = (overrides: Record<string, unknown> = {}): PostmarkBody =>
  postmarkBodySchema.parse({
    RecordType: 'Bounce',
    MessageStream: 'outbound',
    ID: 4323372036854775,
    Type: 'HardBounce',
    TypeCode: 1,
    Name: 'Hard bounce',
    Tag: 'newsletter',
    MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
    Metadata: { campaign: 'spring' },
    ServerID: 23,
    Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
    Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
    Email: 'Jean.Dupont@example.fr',
    From: 'club@example.fr',
    BouncedAt: '2024-03-14T16:33:54.9070259Z',
    DumpAvailable: true,
    Inactive: true,
    CanActivate: true,
    Subject: 'Assemblée générale',
    ...overrides,
  });

describe('readPostmark', () => {
  it('reads a hard bounce with its id, status, diagnostic and time', () => {
    const batch = readPostmark(bounce());
    expect(batch).toMatchObject({ received: 1, ignored: 0, unreadable: [] });
    expect(batch.items).toEqual([
      {
        kind: 'hard_bounce',
        address: 'Jean.Dupont@example.fr',
        providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
        status: '5.1.1',
        diagnostic: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
        source: 'postmark',
        occurredAt: Date.parse('2024-03-14T16:33:54.907Z'),
      },
    ]);
  });

  it.each([
    ['SoftBounce', 'soft_bounce'],
    ['Transient', 'soft_bounce'],
    ['DnsError', 'soft_bounce'],
    ['SpamNotification', 'soft_bounce'],
    ['BadEmailAddress', 'hard_bounce'],
    ['Unsubscribe', 'unsubscribe'],
  ])('maps the bounce type %s to %s', (type, kind) => {
    expect(readPostmark(bounce({ Type: type })).items[0]?.kind).toBe(kind);
  });

  it('reads a spam complaint record as a complaint', () => {
    const batch = readPostmark(
      bounce({
        RecordType: 'SpamComplaint',
        Type: 'SpamComplaint',
        TypeCode: 100001,
        Details: 'Test spam complaint details',
      }),
    );
    expect(batch.items).toMatchObject([{ kind: 'complaint', address: 'Jean.Dupont@example.fr' }]);
  });

  it('ignores types and records that are not feedback', () => {
    expect(readPostmark(bounce({ Type: 'AutoResponder' }))).toMatchObject({ items: [], ignored: 1 });
    expect(
      readPostmark(postmarkBodySchema.parse({ RecordType: 'Delivery', Recipient: 'a@example.fr' })),
    ).toMatchObject({ items: [], ignored: 1 });
  });

  it('reads a manual suppression from a subscription change as an unsubscribe, and nothing else', () => {
    const change = (reason: string, suppress = true) =>
      postmarkBodySchema.parse({
        RecordType: 'SubscriptionChange',
        MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
        ServerID: 23,
        ChangedAt: '2024-03-14T17:00:00Z',
        Recipient: 'marie@example.fr',
        Origin: 'Recipient',
        SuppressSending: suppress,
        SuppressionReason: reason,
      });
    expect(readPostmark(change('ManualSuppression')).items).toMatchObject([
      { kind: 'unsubscribe', address: 'marie@example.fr', occurredAt: Date.parse('2024-03-14T17:00:00Z') },
    ]);
    expect(readPostmark(change('HardBounce')).ignored).toBe(1);
    expect(readPostmark(change('ManualSuppression', false)).ignored).toBe(1);
  });

  it('refuses a bounce without a usable Email, naming the field', () => {
    for (const Email of [undefined, 'not an address', 'a\u0000b@example.fr']) {
      const read = () => readPostmark(bounce({ Email }));
      expect(read).toThrow(AppError);
      try {
        read();
      } catch (error) {
        expect((error as AppError).code).toBe('VALIDATION_FAILED');
        expect((error as AppError).details).toMatchObject([{ in: 'body', field: 'Email' }]);
      }
    }
  });

  it('replaces NUL in a diagnostic instead of refusing the record', () => {
    const batch = readPostmark(bounce({ Details: 'smtp;550\u0000 gone' }));
    expect(batch.items[0]?.diagnostic).toBe('smtp;550\uFFFD gone');
  });
});

describe('checkPostmarkAuth', () => {
  const expected = { user: 'postmark', password: 'p@ss:word-123' };
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  it('takes the configured credentials, as written or percent-encoded', () => {
    expect(checkPostmarkAuth(basic('postmark:p@ss:word-123'), expected)).toBe('ok');
    expect(checkPostmarkAuth(basic('postmark:p%40ss%3Aword-123'), expected)).toBe('ok');
  });

  it('tells missing credentials from wrong ones', () => {
    expect(checkPostmarkAuth(undefined, expected)).toBe('missing');
    expect(checkPostmarkAuth('Bearer abc', expected)).toBe('missing');
    expect(checkPostmarkAuth(basic('postmark:other-password'), expected)).toBe('wrong');
    expect(checkPostmarkAuth(basic('other:p@ss:word-123'), expected)).toBe('wrong');
  });
});
