import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseMailbox } from '../core/email-address.js';
import { renderLiquid, templateProblem } from '../core/liquid.js';
import { headerNameProblem } from '../mail/model.js';
import type { AttributeValue } from './model.js';

/**
 * Campaigns, pure logic: what a campaign request may hold, the states of a campaign and of its
 * ledger rows, what each recipient's message is made of, and the progress figures. No I/O.
 */

/** Where a campaign stands. `finished` only when every ledger row is final. */
export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'running',
  'paused',
  'cancelled',
  'finished',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/**
 * Where a recipient stands: `queued` (not yet handed to the outbox), `sending` (in the outbox,
 * its send job waiting or running), `deferred` (a transient refusal, retried on the send
 * schedule), and the final `sent`, `failed`, `bounced` and `skipped` (with the reason).
 */
export const RECIPIENT_STATES = [
  'queued',
  'sending',
  'deferred',
  'sent',
  'failed',
  'bounced',
  'skipped',
] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];
export const FINAL_STATES: ReadonlySet<RecipientState> = new Set(['sent', 'failed', 'bounced', 'skipped']);
/** States of a row handed to the outbox and not settled yet: the in-flight window. */
export const IN_FLIGHT_STATES: readonly RecipientState[] = ['sending', 'deferred'];

/** Why a recipient was skipped. */
export const SKIP_REASONS = ['suppressed', 'cancelled', 'template_failed'] as const;

/** Most inline recipients one request may carry. */
export const MAX_INLINE_RECIPIENTS = 100_000;
/** Most attachments, and their total decoded size. */
export const MAX_ATTACHMENTS = 10;
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;
/** The Liquid variables Facteur sets for each recipient; a field of the same name is shadowed. */
export const RESERVED_FIELDS = ['email', 'name', 'unsubscribe_url', 'campaign'] as const;

const mailbox = z.string().superRefine((value, ctx) => {
  const parsed = parseMailbox(value);
  if ('problem' in parsed)
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value.slice(0, 80))} ${parsed.problem}` });
});

const template = (what: string) =>
  z
    .string()
    .superRefine((value, ctx) => {
      const problem = templateProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(`${what} (Liquid: {{ name }}, {{ email }}, {{ unsubscribe_url }}, any recipient field).`);

const headerValue = z
  .string()
  .max(998, 'is longer than 998 characters')
  .refine((v) => !/[\r\n]/.test(v), 'must not contain line breaks');

const CAMPAIGN_HEADERS = new Set([
  'list-unsubscribe',
  'list-unsubscribe-post',
  'precedence',
  'x-facteur-campaign',
]);

const attachment = z.strictObject({
  filename: z
    .string()
    .min(1)
    .max(255)
    .refine(
      (v) => !/[\r\n/\\]/.test(v) && !v.includes(String.fromCharCode(0)),
      'must be a plain file name (no path, no line breaks)',
    ),
  contentType: z
    .string()
    .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type such as application/pdf')
    .default('application/octet-stream'),
  content: z.base64('must be base64').describe('The file, base64.'),
});

const fieldValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One inline recipient: an address, a name and the fields its templates read. */
export const inlineRecipientSchema = z.strictObject({
  address: z.string().max(320, 'is longer than 320 characters'),
  name: z.string().optional(),
  fields: z.record(z.string(), fieldValue).optional().describe('Per-recipient template fields.'),
});
export type InlineRecipient = z.infer<typeof inlineRecipientSchema>;

/**
 * An inline recipient as given when it plainly satisfies inlineRecipientSchema (what JSON
 * gives: a plain object with only these keys, of these types), else undefined, and the schema
 * then says what is wrong. The schema's parse copies every recipient, and every field object,
 * which for 100,000 recipients was about 120 MB of garbage (B8).
 */
export function plainInlineRecipient(value: unknown): InlineRecipient | undefined {
  if (!isPlainRecord(value)) return undefined;
  for (const key in value) if (key !== 'address' && key !== 'name' && key !== 'fields') return undefined;
  const { address, name, fields } = value;
  if (typeof address !== 'string' || address.length > 320) return undefined;
  if (name !== undefined && typeof name !== 'string') return undefined;
  if (fields !== undefined) {
    if (!isPlainRecord(fields)) return undefined;
    for (const key in fields) {
      const field = fields[key];
      if (typeof field === 'number' ? !Number.isFinite(field) : !isScalar(field)) return undefined;
    }
  }
  return value as InlineRecipient;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isScalar(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean';
}

/** The templates and envelope of a campaign: what each recipient's message is rendered from. */
export const campaignContentSchema = z.strictObject({
  from: mailbox.optional().describe('Sender; FACTEUR_MAIL_FROM when omitted.'),
  replyTo: mailbox.optional(),
  subject: template('The subject').pipe(
    z
      .string()
      .min(1, 'must not be empty')
      .max(998, 'is longer than 998 characters')
      .refine((v) => !/[\r\n]/.test(v), 'must not contain line breaks'),
  ),
  html: template('The HTML body').optional(),
  text: template('The plain-text body').optional(),
  headers: z
    .record(z.string(), headerValue)
    .superRefine((headers, ctx) => {
      const names = Object.keys(headers);
      if (names.length > 50) ctx.addIssue({ code: 'custom', message: 'has more than 50 headers' });
      for (const name of names) {
        const problem = CAMPAIGN_HEADERS.has(name.toLowerCase())
          ? 'is set by Facteur from the campaign and cannot be given as a header'
          : headerNameProblem(name);
        if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
      }
    })
    .optional(),
  attachments: z.array(attachment).max(MAX_ATTACHMENTS).optional(),
});
export type CampaignContent = z.infer<typeof campaignContentSchema>;

/** The body of `POST /api/campaigns`. */
export const campaignCreateSchema = campaignContentSchema
  .extend({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    listId: z.string().min(1).max(64).optional().describe('Send to the contacts of this list.'),
    // Each item is checked against inlineRecipientSchema one by one (Campaigns.inlineRecipients),
    // not copied by the body's parse: 100,000 recipients are held once. OpenAPI shows the shape.
    recipients: z
      .array(z.unknown())
      .max(MAX_INLINE_RECIPIENTS, `has more than ${MAX_INLINE_RECIPIENTS} recipients`)
      .optional()
      .meta({ items: z.toJSONSchema(inlineRecipientSchema) as Record<string, unknown> })
      .describe('Inline recipients (with or instead of a list), up to 100,000.'),
    start: z
      .union([z.literal('now'), z.iso.datetime({ offset: true })])
      .optional()
      .describe('`now`, or an ISO time to start at; omitted: a draft, started later.'),
    ownerEmail: mailbox.optional().describe('Gets an email with the counts when the campaign ends.'),
    idempotencyKey: z.string().min(1).max(255).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.text === undefined && input.html === undefined)
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'text or html is required' });
    if (input.listId === undefined && (input.recipients === undefined || input.recipients.length === 0))
      ctx.addIssue({ code: 'custom', path: ['recipients'], message: 'give a listId, recipients, or both' });
    const bytes = (input.attachments ?? []).reduce(
      (sum, a) => sum + Math.floor((a.content.length * 3) / 4),
      0,
    );
    if (bytes > MAX_ATTACHMENT_BYTES)
      ctx.addIssue({ code: 'custom', path: ['attachments'], message: `total over 10 MB (${bytes} bytes)` });
  });
export type CampaignInput = z.infer<typeof campaignCreateSchema>;

/** A request's fingerprint: the same idempotency key with another body is a conflict. */
export function campaignHash(input: CampaignInput): string {
  const { idempotencyKey: _key, recipients, ...rest } = input;
  // Recipient by recipient: 100,000 of them never make one 10 MB string.
  const hash = createHash('sha256').update(JSON.stringify(rest));
  for (const recipient of recipients ?? []) hash.update(`\n${JSON.stringify(recipient)}`);
  return hash.digest('hex');
}

/** One recipient as the templates see it. */
export interface RecipientContext {
  address: string;
  name: string | null;
  fields: Record<string, AttributeValue>;
}

/** What one recipient's message is made of, rendered. */
export interface RenderedMessage {
  subject: string;
  html?: string;
  text?: string;
}

/** The Liquid context of one recipient: its fields, then the variables Facteur sets. */
export function templateContext(
  recipient: RecipientContext,
  campaign: { id: string; name: string },
  unsubscribeUrl: string,
): Record<string, unknown> {
  return {
    ...recipient.fields,
    email: recipient.address,
    name: recipient.name ?? '',
    unsubscribe_url: unsubscribeUrl,
    campaign: { id: campaign.id, name: campaign.name },
  };
}

/** Renders one recipient's subject and bodies; throws the field and the engine's message. */
export function renderFor(content: CampaignContent, context: Record<string, unknown>): RenderedMessage {
  const part = (field: string, source: string): string => {
    try {
      return renderLiquid(source, context);
    } catch (error) {
      throw new Error(`${field}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const subject = part('subject', content.subject)
    .replace(/[\r\n]+/g, ' ')
    .trim();
  return {
    subject: subject === '' ? '(no subject)' : subject,
    ...(content.html !== undefined ? { html: part('html', content.html) } : {}),
    ...(content.text !== undefined ? { text: part('text', content.text) } : {}),
  };
}

/** Counts per state. */
export type StateCounts = Record<RecipientState, number>;

export function emptyCounts(): StateCounts {
  return Object.fromEntries(RECIPIENT_STATES.map((s) => [s, 0])) as StateCounts;
}

/** Progress: how far, how fast, how long still. */
export interface Progress {
  total: number;
  counts: StateCounts;
  /** Rows in a final state. */
  done: number;
  /** Per second over the last minute (sent, failed or bounced). */
  ratePerSecond: number;
  /** Seconds until every row is final at that rate; null when not running or no rate yet. */
  etaSeconds: number | null;
}

/** The progress figures from the counts and the rows settled in the last `windowMs`. */
export function progressOf(
  total: number,
  counts: StateCounts,
  settledRecently: number,
  windowMs: number,
  running: boolean,
): Progress {
  const done = counts.sent + counts.failed + counts.bounced + counts.skipped;
  const ratePerSecond = Math.round((settledRecently / (windowMs / 1000)) * 100) / 100;
  const remaining = Math.max(0, total - done);
  const etaSeconds = running && ratePerSecond > 0 ? Math.ceil(remaining / ratePerSecond) : null;
  return { total, counts, done, ratePerSecond, etaSeconds };
}
