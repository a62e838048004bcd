import { verify } from 'node:crypto';
import { z } from 'zod';
import type { FeedbackKind } from '../feedback-model.js';
import {
  bareMessageId,
  cleanText,
  emptyBatch,
  enhancedStatus,
  feedbackOf,
  firstText,
  instantOf,
  type ReadBatch,
  recipientProblem,
} from './model.js';

/**
 * SendGrid's Event Webhook: a JSON array of events per request, signed with ECDSA P-256 when
 * "Signed Event Webhook Requests" is on. The signature (`X-Twilio-Email-Event-Webhook-Signature`,
 * base64 DER) covers the timestamp header followed by the raw body bytes, so the body is checked
 * as received, before any parsing could change it. Pure.
 */

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/** Most events one request may carry (SendGrid batches far fewer). */
export const MAX_SENDGRID_EVENTS = 10_000;

/** The body of `POST /api/feedback/sendgrid`: SendGrid's array of events, each read on its own. */
export const sendgridBodySchema = z
  .array(z.unknown())
  .max(MAX_SENDGRID_EVENTS)
  .describe(
    'The events as SendGrid posts them. `bounce`, `dropped`, `spamreport`, `unsubscribe` and `group_unsubscribe` are read; the others (delivered, open, deferred, ...) are ignored; an event that cannot be read is counted in `unreadable` and the others applied.',
  )
  .meta({
    examples: [
      [
        {
          email: 'jean.dupont@example.fr',
          timestamp: 1710433234,
          'smtp-id': '<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>',
          event: 'bounce',
          type: 'bounce',
          reason: '550 5.1.1 The email account that you tried to reach does not exist',
          status: '5.1.1',
          sg_event_id: 'ZGVsaXZlcmVkLTAtMjQ1',
          sg_message_id: 'W86EgYT6SQKk0lRflfLRsA.filterdrecv-5645d9c87f-78xgx-1-5FFE6B6E-3F.0',
        },
      ],
    ],
  });

const eventSchema = z.looseObject({ event: z.string().max(100) });

/** How a `dropped` event's reason reads: SendGrid drops what its own suppression lists hold. */
function droppedKind(reason: string): FeedbackKind {
  if (/unsubscribed/i.test(reason)) return 'unsubscribe';
  if (/spam report/i.test(reason)) return 'complaint';
  if (/bounced address|invalid/i.test(reason)) return 'hard_bounce';
  return 'soft_bounce';
}

/** The feedback kind of one event, or undefined when it is not feedback. */
function kindOf(event: Record<string, unknown>): FeedbackKind | undefined {
  switch (event.event) {
    case 'bounce':
      // `type: blocked` is a refusal of this message (reputation, content), not of the address.
      return event.type === 'blocked' ? 'soft_bounce' : 'hard_bounce';
    case 'dropped':
      return droppedKind(String(event.reason ?? ''));
    case 'spamreport':
      return 'complaint';
    case 'unsubscribe':
    case 'group_unsubscribe':
      return 'unsubscribe';
    default:
      return undefined;
  }
}

/**
 * SendGrid's `sg_message_id` is the `X-Message-Id` its send API answered (what the transport
 * records) followed by `.filter...` or `.recvd...` added by its pipeline.
 */
export function sendgridMessageId(value: unknown): string | undefined {
  const text = cleanText(value, 500);
  return text?.replace(/\.(filter|recvd)[\s\S]*$/, '');
}

/** Reads SendGrid's events; each unreadable one is listed and the others kept. */
export function readSendgrid(events: readonly unknown[]): ReadBatch {
  const batch = emptyBatch(events.length);
  events.forEach((raw, index) => {
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) {
      batch.unreadable.push({ index, reason: 'not an event object with an `event` field' });
      return;
    }
    const event = parsed.data;
    const kind = kindOf(event);
    if (!kind) {
      batch.ignored += 1;
      return;
    }
    const problem = recipientProblem(event.email);
    if (problem) {
      batch.unreadable.push({ index, reason: `email ${problem}` });
      return;
    }
    const reason = firstText(event.reason, event.response);
    batch.items.push(
      feedbackOf('sendgrid', kind, String(event.email), {
        messageIdHeader: bareMessageId(event['smtp-id']),
        providerMessageId: sendgridMessageId(event.sg_message_id),
        status: enhancedStatus(event.status) ?? enhancedStatus(reason),
        diagnostic: reason ?? (event.event === 'spamreport' ? 'marked as spam' : undefined),
        occurredAt: instantOf(event.timestamp),
      }),
    );
  });
  return batch;
}

/**
 * Whether `signature` (base64 DER ECDSA) is SendGrid's signature of `timestamp` followed by
 * `rawBody`, made with the private half of `publicKeyPem`.
 */
export function verifySendgridSignature(input: {
  publicKeyPem: string;
  signature: string;
  timestamp: string;
  rawBody: Buffer;
}): boolean {
  const signature = Buffer.from(input.signature.trim(), 'base64');
  if (signature.length === 0) return false;
  try {
    return verify(
      'sha256',
      Buffer.concat([Buffer.from(input.timestamp, 'utf8'), input.rawBody]),
      { key: input.publicKeyPem, dsaEncoding: 'der' },
      signature,
    );
  } catch {
    // A signature that is not DER at all.
    return false;
  }
}
