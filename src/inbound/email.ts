/**
 * Functions over the normalised inbound email (`InboundEmail`, in core/inbound-email.ts): the
 * ledger's stored form and the text rule every source passes its email through.
 */

import type { EmailAddress, InboundEmail } from '../core/inbound-email.js';
import { replaceForbiddenChars } from '../core/text.js';

export type { AttachmentMeta, EmailAddress, InboundEmail } from '../core/inbound-email.js';

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
