import { describe, expect, it } from 'vitest';
import { mailgunSignature } from '../../../test/support/providers.js';
import type { AppError } from '../../core/errors.js';
import { type MailgunBody, mailgunBodySchema, readMailgun, verifyMailgunSignature } from './mailgun.js';

/** Mailgun's webhooks (shapes from its documentation) and their HMAC signature. */

const KEY = 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0';

function event(data: Record<string, unknown>): MailgunBody {
  return mailgunBodySchema.parse({
    signature: mailgunSignature(KEY, 1710433234),
    'event-data': {
      id: 'G9Bn5sl1TC6nu79C8C0bwg',
      timestamp: 1710433234.501324,
      'log-level': 'error',
      recipient: 'jean@example.fr',
      'recipient-domain': 'example.fr',
      tags: [],
      'user-variables': {},
      flags: { 'is-routed': false, 'is-test-mode': false },
      envelope: { sender: 'club@mg.example.fr', transport: 'smtp', targets: 'jean@example.fr' },
      message: {
        headers: {
          to: 'jean@example.fr',
          'message-id': '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
          from: 'club@example.fr',
          subject: 'Assemblée générale',
        },
        attachments: [],
        size: 4210,
      },
      ...data,
    },
  });
}

describe('readMailgun', () => {
  it('reads a permanent failure as a hard bounce, with ids, status and diagnostic', () => {
    const batch = readMailgun(
      event({
        event: 'failed',
        severity: 'permanent',
        reason: 'bounce',
        'delivery-status': {
          'attempt-no': 1,
          code: 550,
          'enhanced-code': '5.1.1',
          message: '5.1.1 The email account that you tried to reach does not exist.',
          description: '',
          'session-seconds': 0.4,
        },
      }),
    );
    expect(batch.items).toEqual([
      {
        kind: 'hard_bounce',
        address: 'jean@example.fr',
        messageIdHeader: '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
        providerMessageId: '<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>',
        status: '5.1.1',
        diagnostic: '5.1.1 The email account that you tried to reach does not exist.',
        source: 'mailgun',
        occurredAt: 1710433234501,
      },
    ]);
  });

  it('reads temporary failures, complaints and unsubscribes; ignores the other events', () => {
    expect(
      readMailgun(event({ event: 'failed', severity: 'temporary', reason: 'generic' })).items[0]?.kind,
    ).toBe('soft_bounce');
    expect(readMailgun(event({ event: 'complained' })).items[0]?.kind).toBe('complaint');
    expect(readMailgun(event({ event: 'unsubscribed' })).items[0]?.kind).toBe('unsubscribe');
    for (const name of ['delivered', 'opened', 'clicked', 'accepted', 'rejected'])
      expect(readMailgun(event({ event: name }))).toMatchObject({ items: [], ignored: 1, received: 1 });
  });

  it('refuses a failure without a usable recipient, naming event-data.recipient', () => {
    try {
      readMailgun(event({ event: 'failed', severity: 'permanent', recipient: 'nobody' }));
      expect.unreachable();
    } catch (error) {
      expect((error as AppError).code).toBe('VALIDATION_FAILED');
      expect((error as AppError).details).toMatchObject([{ in: 'body', field: 'event-data.recipient' }]);
    }
  });
});

describe('verifyMailgunSignature', () => {
  it('accepts the HMAC of timestamp + token under the signing key, and nothing else', () => {
    const signature = mailgunSignature(KEY, 1710433234);
    expect(verifyMailgunSignature(signature, KEY)).toBe(true);
    expect(verifyMailgunSignature({ ...signature, signature: signature.signature.toUpperCase() }, KEY)).toBe(
      true,
    );
    expect(verifyMailgunSignature(signature, 'key-another-one-entirely')).toBe(false);
    expect(verifyMailgunSignature({ ...signature, timestamp: '1710433235' }, KEY)).toBe(false);
    expect(verifyMailgunSignature({ ...signature, token: `${signature.token}0` }, KEY)).toBe(false);
    expect(verifyMailgunSignature({ ...signature, signature: 'deadbeef' }, KEY)).toBe(false);
  });
});
