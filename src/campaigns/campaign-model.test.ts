import { describe, expect, it } from 'vitest';
import {
  campaignCreateSchema,
  campaignHash,
  emptyCounts,
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
