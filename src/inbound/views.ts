import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../core/db/index.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { deliveriesOfEvents } from '../webhooks/index.js';
import { storedEmail } from './email.js';
import { LEDGER_STATES } from './ledger.js';
import { eventsOfMessage, getLedgerRow, type LedgerQuery, type LedgerRow, listLedgerRows } from './store.js';

/** How the API shows the inbound ledger. */

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

export const ledgerEntrySchema = z.object({
  id: z.string(),
  source: z.enum(['imap', 'gmail', 'raw']),
  mailboxId: z.string().nullable(),
  folder: z.string().nullable(),
  uidvalidity: z.number().nullable(),
  uid: z.number().nullable(),
  messageId: z.string().nullable(),
  contentHash: z.string(),
  state: z.enum(LEDGER_STATES),
  skipReason: z.string().nullable(),
  duplicateOf: z.string().nullable(),
  subject: z.string(),
  from: z.string().nullable(),
  size: z.number(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  tags: z.array(z.string()),
  matchedRules: z.array(z.unknown()),
  subjectGroup: z.string().nullable(),
  mailboxAction: z
    .enum(['none', 'waiting', 'pending', 'done', 'stale'])
    .describe(
      '`waiting`: deliveries not all succeeded (the message stays unread); `pending`: to be marked; `done`; `stale`: its UIDVALIDITY changed.',
    ),
  mailboxActionError: z.string().nullable(),
  receivedAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

const emailAddressSchema = z.object({
  address: z.string().describe('Lower-cased.'),
  name: z.string().describe("The display name; '' when none."),
});

/** The normalised email (`InboundEmail`) as `GET /api/inbound/{id}` shows it. */
export const inboundEmailSchema = z
  .object({
    messageId: z.string().nullable().describe('The Message-ID without angle brackets; null when none.'),
    inReplyTo: z.string().nullable(),
    references: z.array(z.string()),
    date: z
      .string()
      .nullable()
      .describe('The Date header as ISO 8601 (UTC); null when missing or unreadable.'),
    subject: z.string(),
    from: emailAddressSchema.nullable(),
    sender: z.string().describe('The From header as written, decoded.'),
    to: z.array(emailAddressSchema),
    cc: z.array(emailAddressSchema),
    replyTo: z.array(emailAddressSchema),
    headers: z
      .record(z.string(), z.array(z.string()))
      .describe('Every header: lower-case name to its decoded values, in order.'),
    text: z.string(),
    html: z.string().nullable(),
    replyText: z.string(),
    attachments: z.array(
      z.object({
        filename: z.string().nullable(),
        contentType: z.string(),
        size: z.number(),
        contentId: z.string().nullable(),
        disposition: z.string().nullable(),
        sha256: z.string(),
      }),
    ),
    links: z.array(z.string()),
    size: z.number().describe('The raw message in bytes (for a Gmail push, its JSON fields).'),
    truncated: z.array(z.string()).describe('Which bodies were cut to their limit: `text`, `html`.'),
    replaced: z
      .array(z.string())
      .default([])
      .describe(
        'Which fields held NUL (U+0000) or an unpaired surrogate, each replaced by U+FFFD: `subject`, `text`, `headers.x-odd`, `from.name`, `attachments[0].filename`, ... Empty for nearly every message.',
      ),
  })
  .describe('The parsed message, whatever its source; the raw bytes are not kept.');

// The schema and the model must not drift apart.
type SameAs<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _inboundEmailSchemaMatches: SameAs<z.output<typeof inboundEmailSchema>, InboundEmail> = true;
void _inboundEmailSchemaMatches;

/** The API form of a ledger row. */
export function ledgerView(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    source: row.source as LedgerEntry['source'],
    mailboxId: row.mailbox_id,
    folder: row.folder,
    uidvalidity: row.uidvalidity === null ? null : Number(row.uidvalidity),
    uid: row.uid === null ? null : Number(row.uid),
    messageId: row.message_id,
    contentHash: row.content_hash,
    state: row.state as LedgerEntry['state'],
    skipReason: row.skip_reason,
    duplicateOf: row.duplicate_of,
    subject: row.subject,
    from: row.from_address,
    size: Number(row.size),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    tags: JSON.parse(row.tags) as string[],
    matchedRules: JSON.parse(row.matched_rules) as unknown[],
    subjectGroup: row.subject_group,
    mailboxAction: row.ack_state as LedgerEntry['mailboxAction'],
    mailboxActionError: row.ack_error,
    receivedAt: iso(row.received_at) as string,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** One page of the ledger, newest first. */
export async function ledgerPage(
  db: Kysely<Database>,
  query: LedgerQuery,
): Promise<{ messages: LedgerEntry[]; nextBefore: string | null }> {
  const rows = await listLedgerRows(db, { ...query, limit: query.limit + 1 });
  const page = rows.slice(0, query.limit);
  return {
    messages: page.map(ledgerView),
    nextBefore: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/** One row with its parsed email and the deliveries of the events it raised. */
export async function ledgerEntry(
  db: Kysely<Database>,
  id: string,
): Promise<(LedgerEntry & { email: InboundEmail | null; deliveries: unknown[] }) | undefined> {
  const row = await getLedgerRow(db, id);
  if (!row) return undefined;
  const deliveries = await deliveriesOfEvents(db, await eventsOfMessage(db, id));
  return {
    ...ledgerView(row),
    email: row.email === null ? null : storedEmail(row.email),
    deliveries: deliveries.map((d) => ({
      id: d.id,
      eventId: d.event_id,
      endpointId: d.endpoint_id,
      status: d.status,
      attempts: Number(d.attempt_count),
      lastErrorCode: d.last_error_code,
      lastErrorMessage: d.last_error_message,
    })),
  };
}
