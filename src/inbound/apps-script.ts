import { createHash } from 'node:crypto';
import { z } from 'zod';
import { addressProblem } from '../core/email-address.js';
import type { EmailAddress, InboundEmail } from '../core/inbound-email.js';
import { withTextRule } from './email.js';
import { collectBodyUrls } from './links.js';
import { bodiesFrom, DEFAULT_PARSE_LIMITS, type ParseLimits } from './parse.js';
import { replyText } from './reply-text.js';

/**
 * Mail pushed by the Google Apps Script of the system Facteur replaces: the script scans a Gmail
 * label and POSTs each message as JSON `{subject, sender: "Name <addr>", date, body: HTML,
 * snippet}`. Users migrating keep their script; this turns its payload into the same
 * `InboundEmail` an IMAP fetch produces.
 */

// `abort`: a blank sender is only "must not be empty", not also "must be an address".
const nonBlank = z
  .string()
  .refine((value) => value.trim() !== '', { message: 'must not be empty', abort: true });

/** The pushed JSON. Missing `sender` or `body` is a 400; unknown fields are accepted and dropped. */
export const appsScriptPayloadSchema = z.object({
  subject: z.string().default(''),
  sender: nonBlank.refine(
    (value) => parseAppsScriptSender(value) !== null,
    'must be an address, as `Name <addr@example.com>`, `"Name" <addr@example.com>` or `addr@example.com`',
  ),
  date: z.string().optional(),
  body: nonBlank,
  snippet: z.string().optional(),
});

/** A validated Apps Script payload. */
export type AppsScriptPayload = z.infer<typeof appsScriptPayloadSchema>;

/** Parses `Name <addr>`, `"Name" <addr>` or a bare `addr`; null when no address is in it. */
export function parseAppsScriptSender(sender: string): EmailAddress | null {
  const value = sender.trim();
  const open = value.lastIndexOf('<');
  if (open !== -1 && value.endsWith('>')) {
    const address = value.slice(open + 1, -1).trim();
    let name = value.slice(0, open).trim();
    if (name.length >= 2 && name.startsWith('"') && name.endsWith('"'))
      name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    return addressProblem(address) === undefined ? { address: address.toLowerCase(), name } : null;
  }
  return !/[\s<>]/.test(value) && addressProblem(value) === undefined
    ? { address: value.toLowerCase(), name: '' }
    : null;
}

/** The pushed date as ISO-8601 (UTC), or null when absent or unreadable. */
function isoDate(date: string | undefined): string | null {
  if (!date) return null;
  const parsed = new Date(date);
  return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
}

/**
 * The identity the system Facteur replaces gave pushed mail: hex SHA-256 of subject, sender
 * address and date, one per line. The address is lower-cased; when the sender holds none, the
 * whole sender text stands in for it, so different senders still get different identities.
 */
export function appsScriptIdentity(payload: AppsScriptPayload): string {
  const address = parseAppsScriptSender(payload.sender)?.address ?? payload.sender.trim().toLowerCase();
  return createHash('sha256')
    .update(`${payload.subject}\n${address}\n${payload.date ?? ''}`)
    .digest('hex');
}

/** The `InboundEmail` of a pushed message: the body is HTML, the text is rendered from it. */
export function emailFromAppsScript(
  payload: AppsScriptPayload,
  limits: Partial<ParseLimits> = {},
): InboundEmail {
  const bodies = bodiesFrom(null, payload.body, { ...DEFAULT_PARSE_LIMITS, ...limits });
  const headers: Record<string, string[]> = { from: [payload.sender], subject: [payload.subject] };
  if (payload.date !== undefined) headers['date'] = [payload.date];
  const { subject, sender, date, body, snippet } = payload;
  return withTextRule({
    messageId: null,
    inReplyTo: null,
    references: [],
    date: isoDate(payload.date),
    subject: payload.subject,
    from: parseAppsScriptSender(payload.sender),
    sender: payload.sender,
    to: [],
    cc: [],
    replyTo: [],
    headers,
    ...bodies,
    replyText: replyText(bodies.text),
    attachments: [],
    links: collectBodyUrls(bodies.text, bodies.html),
    // The request body is not at hand here; the JSON of its fields is what was pushed.
    size: Buffer.byteLength(JSON.stringify({ subject, sender, date, body, snippet })),
  });
}
