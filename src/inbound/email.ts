/**
 * The one normalised form of an inbound email, whatever brought it (IMAP, the Gmail Apps
 * Script push, a raw message/rfc822 POST). Rules, extractors, payloads and the ledger all read
 * this form, never mailparser's objects, so that every source behaves the same.
 */

import { replaceForbiddenChars } from '../core/text.js';

/** A mailbox address with its display name ('' when none). Addresses are lower-cased. */
export interface EmailAddress {
  address: string;
  name: string;
}

/** What is kept of an attachment: its metadata, never its content (unless configured otherwise). */
export interface AttachmentMeta {
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  /** `attachment` or `inline`, as the part declares it; null when it does not. */
  disposition: string | null;
  /** Hex SHA-256 of the decoded content. */
  sha256: string;
}

/** A parsed inbound email. */
export interface InboundEmail {
  /** Message-ID without angle brackets; null when the message has none. */
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  /** The Date header as ISO-8601 (UTC); null when missing or unreadable. */
  date: string | null;
  /** Decoded subject; '' when none. */
  subject: string;
  from: EmailAddress | null;
  /** The decoded From header as written, e.g. `Jane Doe <jane@example.com>` ('' when none). */
  sender: string;
  to: EmailAddress[];
  cc: EmailAddress[];
  replyTo: EmailAddress[];
  /** Every header, lower-case name -> decoded values in order of appearance. */
  headers: Record<string, string[]>;
  /** Plain text: the text part, or the HTML rendered as text when there is none. */
  text: string;
  /** The HTML part (capped); null when the message has none. */
  html: string | null;
  /** The text without quoted history (`> ...`, `On ... wrote:`, `Le ... a écrit :`, forwarded blocks). */
  replyText: string;
  attachments: AttachmentMeta[];
  /** Absolute http(s) URLs from the text and the HTML hrefs, HTML-unescaped, de-duplicated, in order. */
  links: string[];
  /** Size of the raw message in bytes (for pushed messages, of the pushed body). */
  size: number;
  /** Which parts were cut to their limit: `text`, `html`. */
  truncated: string[];
  /**
   * Which fields held NUL or unpaired surrogates, replaced by U+FFFD (`subject`, `text`,
   * `headers.x-odd`, `attachments[0].filename`, ...). Empty for nearly every message.
   */
  replaced: string[];
}

/** An email as the ledger stores it (JSON); rows recorded before `replaced` existed get `[]`. */
export function storedEmail(json: string): InboundEmail {
  const email = JSON.parse(json) as InboundEmail;
  email.replaced ??= [];
  return email;
}

/**
 * The email with every NUL and unpaired surrogate replaced by U+FFFD, and `replaced` naming
 * where. Real mail does hold NUL bytes; PostgreSQL cannot store them in text, so every source
 * passes its email through here and the two databases record the same thing. The raw bytes
 * are never changed (they are only hashed); this is about the parsed text.
 */
export function withTextRule(email: Omit<InboundEmail, 'replaced'>): InboundEmail {
  const replaced: string[] = [];
  const clean = (value: string, field: string): string => {
    const result = replaceForbiddenChars(value);
    if (result.replaced) replaced.push(field);
    return result.text;
  };
  const cleanOrNull = (value: string | null, field: string) => (value === null ? null : clean(value, field));
  const address = (value: EmailAddress, field: string): EmailAddress => ({
    address: clean(value.address, `${field}.address`),
    name: clean(value.name, `${field}.name`),
  });
  const addresses = (values: EmailAddress[], field: string) =>
    values.map((value, index) => address(value, `${field}[${index}]`));
  // Null-prototype while filling, so that a header named `__proto__` stays a header; names that
  // become equal once cleaned (`x-\u0000` and `x-\uFFFD`) keep all their values, in order. A field
  // is listed by its cleaned name: `replaced` itself must hold no NUL.
  const headerMap: Record<string, string[]> = Object.create(null);
  for (const [name, values] of Object.entries(email.headers)) {
    const cleanName = replaceForbiddenChars(name);
    const key = cleanName.text;
    if (cleanName.replaced) replaced.push(`headers.${key}`);
    const kept = values.map((value) => clean(value, `headers.${key}`));
    const earlier = headerMap[key];
    if (earlier) earlier.push(...kept);
    else headerMap[key] = kept;
  }
  const headers = { ...headerMap };
  const cleaned: InboundEmail = {
    ...email,
    messageId: cleanOrNull(email.messageId, 'messageId'),
    inReplyTo: cleanOrNull(email.inReplyTo, 'inReplyTo'),
    references: email.references.map((id, index) => clean(id, `references[${index}]`)),
    subject: clean(email.subject, 'subject'),
    from: email.from === null ? null : address(email.from, 'from'),
    sender: clean(email.sender, 'sender'),
    to: addresses(email.to, 'to'),
    cc: addresses(email.cc, 'cc'),
    replyTo: addresses(email.replyTo, 'replyTo'),
    headers,
    text: clean(email.text, 'text'),
    html: cleanOrNull(email.html, 'html'),
    replyText: clean(email.replyText, 'replyText'),
    attachments: email.attachments.map((attachment, index) => ({
      ...attachment,
      filename: cleanOrNull(attachment.filename, `attachments[${index}].filename`),
      contentType: clean(attachment.contentType, `attachments[${index}].contentType`),
      contentId: cleanOrNull(attachment.contentId, `attachments[${index}].contentId`),
      disposition: cleanOrNull(attachment.disposition, `attachments[${index}].disposition`),
    })),
    links: email.links.map((link, index) => clean(link, `links[${index}]`)),
    // Last, so that every field above has been cleaned when it is read.
    replaced: [],
  };
  cleaned.replaced = [...new Set(replaced)];
  return cleaned;
}
