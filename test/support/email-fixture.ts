import type { InboundEmail } from '../../src/inbound/email.js';

/** Test support: an InboundEmail with empty fields, overridden by `fields` (used by the rules tests only). */
export function makeEmail(fields: Partial<InboundEmail> = {}): InboundEmail {
  return {
    messageId: 'm1@example.com',
    inReplyTo: null,
    references: [],
    date: '2025-06-02T08:00:00.000Z',
    subject: '',
    from: { address: 'jane@example.com', name: 'Jane Doe' },
    sender: 'Jane Doe <jane@example.com>',
    to: [{ address: 'ops@facteur.test', name: '' }],
    cc: [],
    replyTo: [],
    headers: {},
    text: '',
    html: null,
    replyText: '',
    attachments: [],
    links: [],
    size: 100,
    truncated: [],
    replaced: [],
    ...fields,
  };
}

/** Epoch ms of a UTC date-time written as ISO-8601. */
export function at(iso: string): number {
  return Date.parse(iso);
}
