import { describe, expect, it } from 'vitest';
import {
  campaignCreateSchema,
  campaignHash,
  emptyCounts,
  inlineRecipientSchema,
  plainInlineRecipient,
  progressOf,
  renderFor,
  templateContext,
} from './campaign-model.js';
import { signUnsubscribe, unsubscribeKey, verifyUnsubscribe } from './unsubscribe-token.js';

const campaign = { id: 'c1', name: 'AG' };

describe('what each recipient gets', () => {
  it('renders the fields, then the variables Facteur sets over a field of the same name', () => {
    const context = templateContext(
      { address: 'h@example.org', name: 'Hélène', fields: { club: 'Vélo', email: 'spoofed@example.org' } },
      campaign,
      'https://mail.example.org/u/t',
    );
    const out = renderFor(
      {
        subject: 'AG {{ club }}\r\n',
        text: '{{ name }} <{{ email }}> {{ unsubscribe_url }} {{ campaign.name }}',
      },
      context,
    );
    expect(out).toEqual({
      subject: 'AG Vélo',
      text: 'Hélène <h@example.org> https://mail.example.org/u/t AG',
    });
  });

  it('names the part whose template fails for this recipient', () => {
    expect(() => renderFor({ subject: 'x', html: '{{ n | nosuchfilter }}' }, {})).toThrow(/^html: /);
  });

  it('refuses a template that does not compile, a Facteur header and a campaign with nobody, naming each', () => {
    const result = campaignCreateSchema.safeParse({
      name: 'x',
      subject: 'Hi {{ name',
      text: 'x',
      headers: { 'List-Unsubscribe': '<x>' },
    });
    expect(result.success).toBe(false);
    const fields = result.error?.issues.map((i) => i.path.join('.'));
    expect(fields).toEqual(expect.arrayContaining(['subject', 'headers.List-Unsubscribe', 'recipients']));
  });
});

describe('progress', () => {
  it('counts final rows, the rate over the window and the ETA while running', () => {
    const counts = { ...emptyCounts(), sent: 600, failed: 30, skipped: 20, sending: 50, queued: 300 };
    expect(progressOf(1000, counts, 1200, 60_000, true)).toEqual({
      total: 1000,
      counts,
      done: 650,
      ratePerSecond: 20,
      etaSeconds: 18,
    });
    expect(progressOf(1000, counts, 0, 60_000, true).etaSeconds).toBeNull();
    expect(progressOf(1000, counts, 1200, 60_000, false).etaSeconds).toBeNull();
  });

  it('gives the same request the same hash whatever its idempotency key, another body another', () => {
    const input = campaignCreateSchema.parse({
      name: 'x',
      subject: 's',
      text: 't',
      recipients: [{ address: 'a@b.c' }],
    });
    expect(campaignHash({ ...input, idempotencyKey: 'k' })).toBe(campaignHash(input));
    expect(campaignHash({ ...input, recipients: [{ address: 'b@b.c' }] })).not.toBe(campaignHash(input));
  });
});

describe('the inline recipients fast path', () => {
  it('takes only what the schema takes, unchanged, and leaves every other value to the schema', () => {
    const taken = [
      { address: 'a@example.org' },
      { address: 'a@example.org', name: 'A', fields: { club: 'Vélo', n: 3, ok: true, none: null } },
      { address: 'x'.repeat(320), fields: {} },
      Object.assign(Object.create(null), { address: 'a@example.org' }),
    ];
    const left = [
      null,
      'a@example.org',
      [{ address: 'a@example.org' }],
      {},
      { address: 'x'.repeat(321) },
      { address: 1 },
      { address: 'a@example.org', name: null },
      { address: 'a@example.org', extra: 1 },
      { address: 'a@example.org', fields: [] },
      { address: 'a@example.org', fields: null },
      { address: 'a@example.org', fields: { nested: { a: 1 } } },
      { address: 'a@example.org', fields: { list: [1] } },
      { address: 'a@example.org', fields: { n: Number.NaN } },
      { address: 'a@example.org', fields: { n: Number.POSITIVE_INFINITY } },
      new (class Recipient {
        address = 'a@example.org';
      })(),
    ];
    for (const value of taken) {
      expect(plainInlineRecipient(value)).toBe(value);
      expect(inlineRecipientSchema.safeParse(value).success).toBe(true);
    }
    for (const value of left) expect(plainInlineRecipient(value), JSON.stringify(value)).toBeUndefined();
    // Left to the schema, most of them are refused there with the field named.
    expect(inlineRecipientSchema.safeParse(left[10]).error?.issues[0]?.path).toEqual(['fields', 'nested']);
  });
});

describe('the signed unsubscribe token', () => {
  const key = unsubscribeKey(Buffer.alloc(32, 7));

  it('names its row, and nothing once altered or signed with another key', () => {
    const token = signUnsubscribe(key, '0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000', 41);
    expect(verifyUnsubscribe(key, token)).toEqual({
      campaignId: '0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000',
      seq: 41,
    });
    const [body, mac] = token.split('.') as [string, string];
    const other = Buffer.from('0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000:42').toString('base64url');
    expect(verifyUnsubscribe(key, `${other}.${mac}`)).toBeNull();
    expect(verifyUnsubscribe(unsubscribeKey(Buffer.alloc(32, 8)), token)).toBeNull();
    expect(verifyUnsubscribe(key, `${body}.${mac.slice(0, -1)}A`)).toBeNull();
    expect(verifyUnsubscribe(key, 'garbage')).toBeNull();
  });
});
