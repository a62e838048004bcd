import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sendgridSigner } from '../../../test/support/providers.js';
import { parseSendgridPublicKey } from '../../core/config/feedback-variables.js';
import { readSendgrid, sendgridMessageId, verifySendgridSignature } from './sendgrid.js';

/** SendGrid's Event Webhook: a batch of events (shapes from its documentation) and the ECDSA signature. */

const base = {
  timestamp: 1710433234,
  'smtp-id': '<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>',
  sg_event_id: 'ZGVsaXZlcmVkLTAtMjQ1',
  sg_message_id: 'W86EgYT6SQKk0lRflfLRsA.filterdrecv-5645d9c87f-78xgx-1-5FFE6B6E-3F.0',
  category: ['assemblee'],
};

describe('readSendgrid', () => {
  it('reads bounces, drops, spam reports and unsubscribes; ignores the rest; lists what it cannot read', () => {
    const batch = readSendgrid([
      {
        ...base,
        email: 'jean@example.fr',
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 no such user',
      },
      {
        ...base,
        email: 'paul@example.fr',
        event: 'bounce',
        type: 'blocked',
        status: '5.7.1',
        reason: '554 blocked',
      },
      { ...base, email: 'anne@example.fr', event: 'dropped', reason: 'Bounced Address', status: '5.0.0' },
      { ...base, email: 'lea@example.fr', event: 'dropped', reason: 'Unsubscribed Address', status: '5.0.0' },
      {
        ...base,
        email: 'eve@example.fr',
        event: 'dropped',
        reason: 'Spam Reporting Address',
        status: '5.0.0',
      },
      { ...base, email: 'max@example.fr', event: 'spamreport' },
      { ...base, email: 'zoe@example.fr', event: 'unsubscribe' },
      { ...base, email: 'ugo@example.fr', event: 'group_unsubscribe', asm_group_id: 12 },
      { ...base, email: 'ivy@example.fr', event: 'delivered', response: '250 OK' },
      { ...base, email: 'ivy@example.fr', event: 'deferred', response: '451 try later', attempt: '2' },
      { ...base, email: 'ivy@example.fr', event: 'open', useragent: 'Mozilla' },
      'not an event',
      { ...base, event: 'bounce', type: 'bounce' },
      { ...base, email: 'broken', event: 'spamreport' },
    ]);
    expect(batch.received).toBe(14);
    expect(batch.ignored).toBe(3);
    expect(batch.unreadable.map((u) => u.index)).toEqual([11, 12, 13]);
    expect(batch.unreadable[1]?.reason).toMatch(/^email /);
    expect(batch.items.map((i) => [i.address, i.kind])).toEqual([
      ['jean@example.fr', 'hard_bounce'],
      ['paul@example.fr', 'soft_bounce'],
      ['anne@example.fr', 'hard_bounce'],
      ['lea@example.fr', 'unsubscribe'],
      ['eve@example.fr', 'complaint'],
      ['max@example.fr', 'complaint'],
      ['zoe@example.fr', 'unsubscribe'],
      ['ugo@example.fr', 'unsubscribe'],
    ]);
    expect(batch.items[0]).toEqual({
      kind: 'hard_bounce',
      address: 'jean@example.fr',
      messageIdHeader: '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
      providerMessageId: 'W86EgYT6SQKk0lRflfLRsA',
      status: '5.1.1',
      diagnostic: '550 5.1.1 no such user',
      source: 'sendgrid',
      occurredAt: 1710433234000,
    });
  });

  it("takes the send API's X-Message-Id out of sg_message_id", () => {
    expect(sendgridMessageId('14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0')).toBe(
      '14c5d75ce93.dfd.64b469',
    );
    expect(sendgridMessageId('W86EgYT6SQKk0lRflfLRsA.recvd-5f5b6b5b5-8m9gp-1-5F8A1B8C-1.0')).toBe(
      'W86EgYT6SQKk0lRflfLRsA',
    );
    expect(sendgridMessageId('W86EgYT6SQKk0lRflfLRsA')).toBe('W86EgYT6SQKk0lRflfLRsA');
    expect(sendgridMessageId(undefined)).toBeUndefined();
  });
});

describe('verifySendgridSignature', () => {
  const signer = sendgridSigner();
  const publicKeyPem = parseSendgridPublicKey(signer.publicKey);
  const body = JSON.stringify([{ email: 'jean@example.fr', event: 'bounce', timestamp: 1710433234 }]);
  const timestamp = '1710433234';
  const signature = signer.sign(timestamp, body);
  const check = (changes: Partial<{ key: string; signature: string; timestamp: string; body: string }>) =>
    verifySendgridSignature({
      publicKeyPem: changes.key ?? publicKeyPem,
      signature: changes.signature ?? signature,
      timestamp: changes.timestamp ?? timestamp,
      rawBody: Buffer.from(changes.body ?? body, 'utf8'),
    });

  it('accepts the signature of timestamp + raw body', () => {
    expect(check({})).toBe(true);
  });

  it('refuses a changed body, another timestamp, another key, and a signature that is not one', () => {
    expect(check({ body: body.replace('bounce', 'bounced') })).toBe(false);
    expect(check({ body: `${body} ` })).toBe(false);
    expect(check({ timestamp: '1710433235' })).toBe(false);
    expect(check({ key: parseSendgridPublicKey(sendgridSigner().publicKey) })).toBe(false);
    expect(check({ signature: 'bm90IGEgc2lnbmF0dXJl' })).toBe(false);
    expect(check({ signature: '' })).toBe(false);
  });

  it('reads the key as SendGrid shows it or as PEM, and refuses a key that is not P-256', () => {
    expect(parseSendgridPublicKey(publicKeyPem)).toBe(publicKeyPem);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      format: 'pem',
      type: 'spki',
    });
    expect(() => parseSendgridPublicKey(rsa.toString())).toThrow(/P-256/);
    expect(() => parseSendgridPublicKey('MFkwEwYHnotakey')).toThrow(/verification key/);
  });
});
