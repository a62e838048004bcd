import { z } from 'zod';
import { parseOrThrow } from '../../core/validation.js';
import type { FeedbackKind } from '../feedback-model.js';
import {
  cleanText,
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
 * Postmark's bounce, spam-complaint and subscription-change webhooks: one JSON record per
 * request. Postmark signs nothing; the webhook URL carries HTTP Basic credentials
 * (`https://user:password@host/api/feedback/postmark`), checked here against
 * FACTEUR_FEEDBACK_POSTMARK_AUTH. Pure.
 */

const text = z.string().max(1_000_000).nullable().optional();

/** The body of `POST /api/feedback/postmark`: a Postmark webhook record (other fields are kept and ignored). */
export const postmarkBodySchema = z
  .looseObject({
    RecordType: z
      .string()
      .min(1)
      .max(100)
      .describe('`Bounce`, `SpamComplaint` or `SubscriptionChange` are read; any other record is ignored.'),
    Type: text.describe('The bounce type (`HardBounce`, `SoftBounce`, `SpamComplaint`, ...).'),
    Email: text.describe('The recipient (Bounce, SpamComplaint).'),
    Recipient: text.describe('The recipient (SubscriptionChange).'),
    MessageID: text.describe("Postmark's id of the message, as its send API answered."),
    Details: text,
    Description: text,
    BouncedAt: text,
    ChangedAt: text,
    SuppressSending: z.boolean().nullable().optional(),
    SuppressionReason: text,
  })
  .meta({
    examples: [
      {
        RecordType: 'Bounce',
        Type: 'HardBounce',
        TypeCode: 1,
        MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
        Email: 'jean.dupont@example.fr',
        Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
        BouncedAt: '2024-03-14T16:33:54.9070259Z',
      },
    ],
  });

export type PostmarkBody = z.infer<typeof postmarkBodySchema>;

/**
 * Postmark's bounce types (its API documentation, "Bounce types") as feedback kinds; a type not
 * listed (AutoResponder, AddressChange, OpenRelayTest, ChallengeVerification, ...) is not
 * feedback. SpamNotification is a filter's verdict on a delivered message, not the recipient's
 * complaint, and Postmark keeps the address active for it: a soft bounce, as for Blocked.
 */
export const POSTMARK_BOUNCE_KINDS: Readonly<Record<string, FeedbackKind>> = {
  HardBounce: 'hard_bounce',
  BadEmailAddress: 'hard_bounce',
  SoftBounce: 'soft_bounce',
  Transient: 'soft_bounce',
  DnsError: 'soft_bounce',
  Blocked: 'soft_bounce',
  SpamNotification: 'soft_bounce',
  DMARCPolicy: 'soft_bounce',
  Unknown: 'soft_bounce',
  SpamComplaint: 'complaint',
  Unsubscribe: 'unsubscribe',
};

const withEmail = z.looseObject({ Email: recipientField });
const withRecipient = z.looseObject({ Recipient: recipientField });

/** Reads one Postmark record. A Bounce or SpamComplaint without a usable `Email` is VALIDATION_FAILED. */
export function readPostmark(body: PostmarkBody): ReadBatch {
  const batch = emptyBatch(1);
  const common = {
    providerMessageId: cleanText(body.MessageID, 200),
    diagnostic: firstText(body.Details, body.Description),
  };
  if (body.RecordType === 'Bounce' || body.RecordType === 'SpamComplaint') {
    const kind =
      body.RecordType === 'SpamComplaint' ? 'complaint' : POSTMARK_BOUNCE_KINDS[String(body.Type ?? '')];
    if (!kind) return { ...batch, ignored: 1 };
    const { Email } = parseOrThrow(withEmail, body, 'body');
    const status = enhancedStatus(body.Details);
    batch.items.push(
      feedbackOf('postmark', kind, Email, { ...common, status, occurredAt: instantOf(body.BouncedAt) }),
    );
    return batch;
  }
  // A recipient who unsubscribed through Postmark's own link or was suppressed by hand; the
  // suppressions for hard bounces and complaints come with their own Bounce records.
  if (body.RecordType === 'SubscriptionChange' && body.SuppressSending === true) {
    if (body.SuppressionReason !== 'ManualSuppression') return { ...batch, ignored: 1 };
    const { Recipient } = parseOrThrow(withRecipient, body, 'body');
    batch.items.push(
      feedbackOf('postmark', 'unsubscribe', Recipient, {
        providerMessageId: common.providerMessageId,
        diagnostic: 'unsubscribed through Postmark',
        occurredAt: instantOf(body.ChangedAt),
      }),
    );
    return batch;
  }
  return { ...batch, ignored: 1 };
}

/**
 * Whether an `Authorization` header carries the configured Basic credentials: 'ok', 'missing'
 * (no Basic header) or 'wrong'.
 */
export function checkPostmarkAuth(
  header: string | undefined,
  expected: { user: string; password: string },
): 'ok' | 'missing' | 'wrong' {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return 'missing';
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const wanted = `${expected.user}:${expected.password}`;
  const asWritten = secretsEqual(decoded, wanted);
  const percentDecoded = secretsEqual(decodeURIComponentSafe(decoded), wanted);
  return asWritten || percentDecoded ? 'ok' : 'wrong';
}

/** Clients put URL credentials in the header percent-decoded, but some send them as written. */
function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
