/**
 * The one normalised form of an inbound email, whatever brought it (IMAP, the Gmail Apps
 * Script push, a raw message/rfc822 POST). Rules, extractors, payloads and the ledger all read
 * this form, never mailparser's objects, so that every source behaves the same. It lives in
 * core because both inbound/ (which makes it) and rules/ (which reads it) need it; the
 * functions over it stay in inbound/email.ts.
 */

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
