import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { parseOrThrow } from '../../core/validation.js';
import type { FeedbackKind } from '../feedback-model.js';
import {
  bareMessageId,
  emptyBatch,
  enhancedStatus,
  feedbackOf,
  firstText,
  instantOf,
  type ReadBatch,
  recipientField,
  secretsEqual,
} from './model.js';

/**
 * Mailgun's webhooks (JSON, one event per request): `{ signature: { timestamp, token,
 * signature }, "event-data": {...} }`, where `signature` is the hex HMAC-SHA256 of timestamp
 * followed by token, keyed with the HTTP webhook signing key. The signature does not cover the
 * event data: what protects it is TLS, the timestamp window and refusing a token seen before
 * (the route keeps them). Pure.
 */

const stamp = z.union([z.string().max(20), z.number()]);

/** The body of `POST /api/feedback/mailgun`. */
export const mailgunBodySchema = z
  .looseObject({
    signature: z
      .object({
        timestamp: stamp.describe('Epoch seconds.'),
        token: z.string().max(200),
        signature: z.string().max(200).describe('Hex HMAC-SHA256 of timestamp + token.'),
      })
      .optional()
      .describe('Required unless the request carries an API key.'),
    'event-data': z
      .looseObject({
        event: z
          .string()
          .min(1)
          .max(100)
          .describe('`failed`, `complained` and `unsubscribed` are read; the others are ignored.'),
        severity: z.string().max(100).nullable().optional().describe('`permanent` or `temporary` (failed).'),
        recipient: z.string().max(1000).nullable().optional(),
        timestamp: stamp.nullable().optional(),
        reason: z.string().max(100_000).nullable().optional(),
        'delivery-status': z.looseObject({}).nullable().optional(),
        message: z
          .looseObject({
            headers: z.looseObject({ 'message-id': z.string().max(1000).optional() }).optional(),
          })
          .nullable()
          .optional(),
      })
      .describe('The event.'),
  })
  .meta({
    examples: [
      {
        signature: {
          timestamp: '1710433234',
          token: '9c2f1e0c5a4b3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d',
          signature: '0000000000000000000000000000000000000000000000000000000000000000',
        },
        'event-data': {
          event: 'failed',
          severity: 'permanent',
          reason: 'bounce',
          recipient: 'jean.dupont@example.fr',
          timestamp: 1710433234.5,
          'delivery-status': { code: 550, 'enhanced-code': '5.1.1', message: 'No such user' },
          message: { headers: { 'message-id': '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr' } },
        },
      },
    ],
  });

export type MailgunBody = z.infer<typeof mailgunBodySchema>;
export type MailgunSignature = NonNullable<MailgunBody['signature']>;

/** The feedback kind of an event, or undefined when it is not feedback. */
function kindOf(event: string, severity: unknown): FeedbackKind | undefined {
  if (event === 'failed') return severity === 'permanent' ? 'hard_bounce' : 'soft_bounce';
  if (event === 'complained') return 'complaint';
  if (event === 'unsubscribed') return 'unsubscribe';
  return undefined;
}

const withRecipient = z.looseObject({ 'event-data': z.looseObject({ recipient: recipientField }) });

/** Reads one Mailgun event; a feedback event without a usable recipient is VALIDATION_FAILED. */
export function readMailgun(body: MailgunBody): ReadBatch {
  const batch = emptyBatch(1);
  const data = body['event-data'];
  const kind = kindOf(data.event, data.severity);
  if (!kind) return { ...batch, ignored: 1 };
  const { recipient } = parseOrThrow(withRecipient, body, 'body')['event-data'];
  const status = (data['delivery-status'] ?? {}) as Record<string, unknown>;
  const messageId = bareMessageId(data.message?.headers?.['message-id']);
  batch.items.push(
    feedbackOf('mailgun', kind, recipient, {
      messageIdHeader: messageId,
      // Mailgun's send API answers the id in angle brackets, and the transport records it so.
      providerMessageId: messageId ? `<${messageId}>` : undefined,
      status: enhancedStatus(status['enhanced-code']) ?? enhancedStatus(status.message),
      diagnostic: firstText(status.message, status.description, data.reason),
      occurredAt: instantOf(data.timestamp),
    }),
  );
  return batch;
}

/** Whether `signature` is Mailgun's HMAC of its timestamp and token under `signingKey`. */
export function verifyMailgunSignature(signature: MailgunSignature, signingKey: string): boolean {
  const expected = createHmac('sha256', signingKey)
    .update(`${signature.timestamp}${signature.token}`, 'utf8')
    .digest('hex');
  return secretsEqual(signature.signature.trim().toLowerCase(), expected);
}
