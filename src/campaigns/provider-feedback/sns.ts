import { type KeyObject, verify } from 'node:crypto';
import { z } from 'zod';

/**
 * Amazon SNS messages as an HTTPS subscription receives them (SES publishes its bounce and
 * complaint notifications to a topic). Each is signed by SNS: `Signature` is RSA over the
 * canonical string of the message ("Verifying the signatures of Amazon SNS messages"),
 * SHA1withRSA for `SignatureVersion` 1 and SHA256withRSA for 2, with the certificate at
 * `SigningCertURL`, which is fetched only from an SNS host over https. Pure.
 */

export const SNS_TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'] as const;

/** The body of `POST /api/feedback/ses`: an SNS message (sent by SNS as `text/plain` JSON). */
export const snsBodySchema = z
  .looseObject({
    Type: z.enum(SNS_TYPES),
    MessageId: z.string().min(1).max(200),
    TopicArn: z.string().min(1).max(1024),
    Message: z
      .string()
      .max(1_000_000)
      .describe('For a Notification: the SES event (Bounce, Complaint) as a JSON string.'),
    Timestamp: z.string().min(1).max(64),
    Subject: z.string().max(1000).nullable().optional(),
    SignatureVersion: z.string().max(10).optional().describe('`1` (SHA1withRSA) or `2` (SHA256withRSA).'),
    Signature: z.string().max(10_000).optional().describe('Required unless the request carries an API key.'),
    SigningCertURL: z.string().max(2048).optional(),
    SubscribeURL: z.string().max(4096).optional(),
    Token: z.string().max(4096).optional(),
    UnsubscribeURL: z.string().max(4096).optional(),
  })
  .meta({
    examples: [
      {
        Type: 'Notification',
        MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:ses-bounces',
        Message:
          '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"jean.dupont@example.fr","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2024-03-14T16:33:54.000Z"},"mail":{"messageId":"0100018e3e5f1c2a-1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e-000000","headers":[{"name":"Message-ID","value":"<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>"}]}}',
        Timestamp: '2024-03-14T16:33:55.123Z',
        SignatureVersion: '1',
        Signature: 'EXAMPLEpH+..',
        SigningCertURL:
          'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem',
      },
    ],
  });

export type SnsMessage = z.infer<typeof snsBodySchema>;

/** The fields each type signs, in the documented order; a Notification's Subject only when present. */
const SIGNED_FIELDS: Record<SnsMessage['Type'], readonly string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** The string SNS signs: `Name\nvalue\n` for each signed field the message has. */
export function snsStringToSign(message: SnsMessage): string {
  const fields = message as unknown as Record<string, unknown>;
  return SIGNED_FIELDS[message.Type]
    .filter((name) => typeof fields[name] === 'string')
    .map((name) => `${name}\n${fields[name] as string}\n`)
    .join('');
}

/** The digest of each signature version SNS uses. */
export const SNS_DIGESTS: Readonly<Record<string, 'sha1' | 'sha256'>> = { '1': 'sha1', '2': 'sha256' };

/** Whether the message's `Signature` verifies with `publicKey` (the signing certificate's key). */
export function verifySnsSignature(message: SnsMessage, publicKey: KeyObject): boolean {
  const digest = SNS_DIGESTS[message.SignatureVersion ?? ''];
  if (!digest || !message.Signature) return false;
  const signature = Buffer.from(message.Signature, 'base64');
  if (signature.length === 0) return false;
  try {
    return verify(digest, Buffer.from(snsStringToSign(message), 'utf8'), publicKey, signature);
  } catch {
    return false;
  }
}

/** An SNS endpoint's host: `sns.<region>.amazonaws.com` (China regions: `.amazonaws.com.cn`). */
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/**
 * Why `url` may not be fetched as an SNS certificate or subscribe URL, or undefined when it may:
 * it must be https and its host an SNS host (`hosts` null), or one of `hosts` (`host[:port]`).
 */
export function snsUrlProblem(url: string | undefined, hosts: readonly string[] | null): string | undefined {
  if (!url) return 'is missing';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:') return 'is not an https URL';
  if (parsed.username || parsed.password) return 'carries credentials';
  const allowed =
    hosts === null ? SNS_HOST.test(parsed.hostname) && parsed.port === '' : hosts.includes(parsed.host);
  if (!allowed)
    return hosts === null
      ? `is on ${parsed.host}, not an SNS host (sns.<region>.amazonaws.com)`
      : `is on ${parsed.host}, not one of FACTEUR_FEEDBACK_SNS_HOSTS`;
  return undefined;
}
