/**
 * B1's constants and messages, shared by the pre-queue (parent), Facteur's process, the baseline
 * and the sink: the two variants (2 KB plain text, 20 KB HTML), the addresses that tell warm-up
 * from measured messages at the sink, and the messages exchanged over the line protocol.
 */

/** The two message variants. */
export type Variant = 'text' | 'html';

/** Labels of the variants in rows. */
export const VARIANT_LABELS: Record<Variant, string> = {
  text: 'text 2 KB',
  html: 'html 20 KB (pre-rendered in both: campaigns render into the outbox as they queue)',
};

/** Sender of every message. */
export const FROM = 'Facteur Bench <bench@bench.test>';

/**
 * Distinct bodies per variant: message i gets body i mod RING. Each is rendered once (before the
 * clock in the baseline, at pre-queue time in Facteur), so both send the same bytes and the
 * baseline does not hold 50,000 x 20 KB in memory.
 */
export const RING = 1000;

/** Recipient of message `index`: `w<i>@` for warm-up messages, `m<i>@` for measured ones (the sink tells them apart). */
export function recipient(kind: 'w' | 'm', index: number): string {
  return `${kind}${index}@bench.test`;
}

/** Subject of a message. */
export function subjectFor(variant: Variant, kind: 'w' | 'm', index: number): string {
  return variant === 'text'
    ? `Order ${kind}${index}: confirmation and receipt`
    : `Weekly digest ${kind}${index}: what changed this week`;
}

const WORDS = [
  'parcel',
  'invoice',
  'delivery',
  'warehouse',
  'account',
  'summary',
  'balance',
  'shipment',
  'window',
  'courier',
  'receipt',
  'refund',
  'tracking',
  'address',
  'schedule',
  'reminder',
  'customer',
  'service',
];

function words(seed: number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(WORDS[(seed * 7 + i * 13) % WORDS.length] as string);
  return out.join(' ');
}

/** A ~2 KB plain-text order notice for ring slot `slot` (lines under 76 characters). */
export function textBody(slot: number): string {
  const lines = [
    `Hello customer ${slot},`,
    '',
    `Thank you for your order #${100000 + slot}. Here is your receipt.`,
    '',
  ];
  for (let i = 0; lines.join('\n').length < 1900; i++) {
    lines.push(
      `${String(i + 1).padStart(2, ' ')}. ${words(slot + i, 6)}  qty ${(i % 3) + 1}  EUR ${(slot % 90) + i}.50`,
    );
  }
  lines.push('', 'Questions? Reply to this message.', '-- The Bench Shop');
  let body = lines.join('\n');
  while (body.length < 2048) body += '.';
  return body.slice(0, 2048);
}

/** A ~20 KB HTML newsletter (layout tables, inline styles, links) rendered for ring slot `slot`. */
export function htmlBody(slot: number): string {
  const head = `<!doctype html><html><head><meta charset="utf-8"><title>Weekly digest</title></head><body style="margin:0;padding:0;background:#f4f4f4;font-family:Arial,sans-serif"><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center"><table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff"><tr><td style="padding:24px;font-size:20px;color:#222">Hello reader ${slot}, here is your weekly digest</td></tr>`;
  const tail =
    '<tr><td style="padding:24px;font-size:12px;color:#888">You receive this because you subscribed. <a href="https://bench.test/unsubscribe" style="color:#888">Unsubscribe</a></td></tr></table></td></tr></table></body></html>';
  const parts: string[] = [head];
  let size = head.length + tail.length;
  for (let i = 0; size < 20_480 - 600; i++) {
    const article = `<tr><td style="padding:12px 24px;border-top:1px solid #eeeeee"><h2 style="margin:0 0 8px;font-size:16px;color:#333">${words(slot + i, 4)}</h2><p style="margin:0 0 8px;font-size:14px;line-height:20px;color:#555">${words(slot * 3 + i, 40)}</p><a href="https://bench.test/articles/${i}?r=${slot}" style="color:#0066cc;font-size:14px">Read more</a></td></tr>`;
    parts.push(article);
    size += article.length;
  }
  parts.push(tail);
  let body = parts.join('\n');
  if (body.length < 20_480)
    body = body.replace('</body>', `<!--${' '.repeat(20_480 - body.length - 7)}--></body>`);
  return body;
}

/** The body of ring slot `slot` for `variant`. */
export function bodyFor(variant: Variant, slot: number): string {
  return variant === 'text' ? textBody(slot) : htmlBody(slot);
}

/** What the systems under test are asked to send. */
export interface B1RunSpec {
  variant: Variant;
  /** Warm-up messages, sent first (not measured). */
  warmup: number;
  /** Measured messages. */
  measured: number;
  /** Pooled SMTP connections. */
  connections: number;
  /** Messages in flight (FACTEUR_SEND_CONCURRENCY; the baseline's concurrent sendMail calls). */
  window: number;
}

/** What the sink reports (unsolicited) at the first measured message and once it has every one. */
export interface SinkEvent {
  event: 'first' | 'done';
  /** Epoch ms (performance.timeOrigin + performance.now()). */
  at: number;
  /** Sink process CPU seconds at that moment. */
  cpuSeconds: number;
}

/** The sink's count of a run, with `event: 'done'`. */
export interface SinkTally extends SinkEvent {
  /** Distinct measured messages received. */
  measured: number;
  /** Measured messages received more than once (extra copies). */
  duplicates: number;
  warmup: number;
  /** Bytes of the measured messages (DATA, as received). */
  measuredBytes: number;
  /** End of DATA of the first and of the last measured message, epoch ms. */
  firstAt: number;
  lastAt: number;
  /** Connections the sink saw during the run. */
  connections: number;
}

/** Facteur's database after a drain (read by the sink process, read-only). */
export interface RecordCheck {
  /** First poll that showed every message `sent`, epoch ms; null when it never did. */
  recordedAt: number | null;
  messages: number;
  byStatus: Record<string, number>;
  attempts: number;
  attemptsByOutcome: Record<string, number>;
  /** Messages whose attempt_count is not 1. */
  attemptCountNotOne: number;
}
