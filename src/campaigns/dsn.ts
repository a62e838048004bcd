import addressparser, { type Address } from 'nodemailer/lib/addressparser/index.js';
import { truncateText } from '../core/text.js';
import {
  bareMessageId,
  contentTypeOf,
  decodedBody,
  decodeText,
  type Entity,
  type Fields,
  first,
  readFields,
  splitEntity,
  splitMultipart,
  statusGroups,
} from './dsn-mime.js';
import type { Feedback, FeedbackKind } from './feedback-model.js';

/**
 * Bounces and complaints read from one received message: delivery status notifications
 * (RFC 3464 `multipart/report; report-type=delivery-status`, and RFC 6533's
 * `message/global-delivery-status`) and abuse reports (ARF, RFC 5965,
 * `report-type=feedback-report`). Pure: bytes in, `Feedback[]` out, no I/O, and it never
 * throws: a message that is not a report (normal mail, an auto-reply) or that cannot be read
 * gives `[]`, a damaged one what could be read of it.
 *
 * It reads the raw bytes, not the inbound parsed form: that form keeps attachments' metadata
 * only, and the `message/delivery-status` part is exactly what it drops.
 */

/** Bytes of a message read at most. The report parts come before the returned original, near the top. */
export const DSN_MAX_BYTES = 1024 * 1024;
/** Multipart levels read: a report may sit inside a `multipart/mixed` (mis-declared DSNs do). */
const MAX_DEPTH = 4;
/** MIME parts read in all, whatever the nesting. */
const MAX_PARTS = 64;
/** Feedback items returned at most (one DSN may list every recipient at one domain). */
const MAX_ITEMS = 1000;
const DIAGNOSTIC_MAX = 1000;

const STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const FEEDBACK_TYPES = new Set(['message/feedback-report']);
const ORIGINAL_TYPES = new Set([
  'text/rfc822-headers',
  'message/rfc822',
  'message/global-headers',
  'message/global',
]);

/** The report parts of a message, found by walking its MIME tree. */
interface Found {
  status: Entity[];
  feedback: Entity[];
  /** The returned original (its headers or the whole message), the first one met. */
  original: Entity | null;
  /** Parts still allowed. */
  budget: number;
}

/**
 * The bounces and complaints one received message reports; `[]` when it reports none.
 * `raw` is the message as received (RFC 5322 bytes); a string is read as its UTF-8 bytes.
 */
export function parseDsn(raw: Uint8Array | string): Feedback[] {
  try {
    const bytes =
      typeof raw === 'string'
        ? Buffer.from(raw, 'utf8')
        : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    // latin1: one character per byte, whatever the bytes; values are decoded as UTF-8 once cut out.
    const text = bytes.subarray(0, DSN_MAX_BYTES).toString('latin1');
    const found: Found = { status: [], feedback: [], original: null, budget: MAX_PARTS };
    walk(splitEntity(text), 0, found);
    if (found.status.length === 0 && found.feedback.length === 0) return [];
    const original = found.original ? originalHeaders(found.original) : null;
    const items = [
      ...found.status.flatMap((part) => bouncesFrom(part, original)),
      ...found.feedback.flatMap((part) => complaintsFrom(part, original)),
    ];
    return distinct(items).slice(0, MAX_ITEMS);
  } catch {
    // Hostile input must never stop the inbound path; what cannot be read reports nothing.
    return [];
  }
}

/** Collects the report parts under `entity`. A message that is not multipart has none. */
function walk(entity: Entity, depth: number, found: Found): void {
  if (found.budget-- <= 0) return;
  const type = contentTypeOf(entity.fields);
  if (type.type.startsWith('multipart/')) {
    if (depth >= MAX_DEPTH) return;
    const boundary = type.params.get('boundary') ?? guessBoundary(entity.body);
    if (!boundary) return;
    for (const part of splitMultipart(entity.body, boundary, MAX_PARTS))
      walk(splitEntity(part), depth + 1, found);
    return;
  }
  // The top level itself is never a report part; message/* parts are not opened (a returned
  // original that was itself a bounce must not be read as one).
  if (depth === 0) return;
  if (STATUS_TYPES.has(type.type)) found.status.push(entity);
  else if (FEEDBACK_TYPES.has(type.type)) found.feedback.push(entity);
  else if (ORIGINAL_TYPES.has(type.type)) found.original ??= entity;
}

/** A multipart without its boundary parameter: the first delimiter-looking line names it. */
function guessBoundary(body: string): string | undefined {
  return /^--([^\s]{1,200}?)[ \t]*\r?$/m.exec(body.slice(0, 65_536))?.[1];
}

/** The header fields of the returned original, whether it came whole or as headers only. */
function originalHeaders(part: Entity): Fields {
  return splitEntity(decodedBody(part).replace(/^(?:[ \t]*\r?\n)+/, '')).fields;
}

/** One bounce per recipient whose delivery failed or is delayed. */
function bouncesFrom(part: Entity, original: Fields | null): Feedback[] {
  const { message, recipients } = statusGroups(decodedBody(part));
  const messageIdHeader = messageIdOf(original) ?? bareMessageId(first(message, 'x-original-message-id'));
  const arrivedAt = dateOf(first(message, 'arrival-date'));
  const out: Feedback[] = [];
  for (const group of recipients) {
    const address =
      recipientAddress(first(group, 'final-recipient')) ??
      recipientAddress(first(group, 'original-recipient'));
    if (!address) continue;
    const action = first(group, 'action')
      ?.trim()
      .toLowerCase()
      .split(/[\s(;]/)[0];
    const diagnostic = diagnosticOf(first(group, 'diagnostic-code'));
    const status = statusOf(first(group, 'status'), diagnostic);
    const kind = bounceKind(action, status);
    if (!kind) continue;
    const occurredAt = dateOf(first(group, 'last-attempt-date')) ?? arrivedAt;
    out.push({
      kind,
      address,
      source: 'dsn',
      ...(messageIdHeader ? { messageIdHeader } : {}),
      ...(status ? { status } : {}),
      ...(diagnostic ? { diagnostic } : {}),
      ...(occurredAt !== undefined ? { occurredAt } : {}),
    });
  }
  return out;
}

/**
 * RFC 3464's actions: `failed` is final (hard, unless its status is transient: a message that
 * expired in a queue), `delayed` is soft; `delivered`, `relayed` and `expanded` report nothing
 * wrong. A status of class 2 is a success whatever the action says. Without an action the
 * status class decides, and a `failed` without any status is hard: the MTA says it gave up.
 */
export function bounceKind(action: string | undefined, status: string | undefined): FeedbackKind | null {
  if (action === 'delivered' || action === 'relayed' || action === 'expanded') return null;
  const statusClass = status?.charAt(0);
  if (statusClass === '2') return null;
  if (action === 'failed') return statusClass === '4' ? 'soft_bounce' : 'hard_bounce';
  if (action === 'delayed') return 'soft_bounce';
  if (statusClass === '5') return 'hard_bounce';
  if (statusClass === '4') return 'soft_bounce';
  return null;
}

/** One complaint per recipient of an abuse report (`Feedback-Type: abuse`). */
function complaintsFrom(part: Entity, original: Fields | null): Feedback[] {
  const fields = readFields(decodedBody(part));
  const type = first(fields, 'feedback-type')
    ?.trim()
    .toLowerCase()
    .split(/[\s(;]/)[0];
  if (type !== 'abuse') return [];
  // Original-Rcpt-To is the envelope recipient; many receivers leave it out (or redact the
  // original's To): then the To of the returned original is all there is.
  const reported = (fields.get('original-rcpt-to') ?? []).map(recipientAddress);
  const addresses = reported.some(Boolean) ? reported : addressesOf(first(original, 'to'));
  const messageIdHeader = messageIdOf(original);
  const occurredAt = dateOf(first(fields, 'arrival-date') ?? first(fields, 'received-date'));
  const common = {
    kind: 'complaint' as const,
    source: 'arf',
    ...(messageIdHeader ? { messageIdHeader } : {}),
    ...(occurredAt !== undefined ? { occurredAt } : {}),
  };
  const named = addresses.filter((address): address is string => Boolean(address));
  if (named.length > 0) return named.map((address) => ({ ...common, address }));
  // Every address redacted: the Message-ID still names the message, and so its one recipient.
  return messageIdHeader ? [common] : [];
}

/** The original's Message-ID without angle brackets. */
function messageIdOf(original: Fields | null): string | undefined {
  return bareMessageId(first(original, 'message-id'));
}

const PLAUSIBLE_ADDRESS = /^[^\s@<>()",;]+@[^\s@<>()",;]+$/;

/**
 * `rfc822; jane@example.com` (or `rfc822;<jane@example.com>`, `utf-8; ...`, a bare address) to
 * the address; undefined when what is there is no address (a local name, `x-unknown`).
 */
export function recipientAddress(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let rest = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  rest = rest.replace(/\([^)]*\)/g, ' ').trim();
  const angled = /<([^<>]*)>/.exec(rest);
  if (angled) rest = angled[1] as string;
  // RFC 6533's utf-8 address type escapes characters as \x{HEX}.
  rest = decodeText(rest.trim()).replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (whole, hex: string) => {
    const code = Number.parseInt(hex, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
  return PLAUSIBLE_ADDRESS.test(rest) && rest.length <= 320 ? rest : undefined;
}

/** The addresses of an address header (the original's To). */
function addressesOf(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  const visit = (entries: Address[]): void => {
    for (const entry of entries) {
      if (entry.group) visit(entry.group);
      else if (entry.address) {
        const address = recipientAddress(entry.address);
        if (address) out.push(address);
      }
    }
  };
  visit(addressparser(value));
  return out;
}

/** `smtp; 550 5.1.1 ...` to `550 5.1.1 ...`, on one line, at most 1,000 characters. */
function diagnosticOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = decodeText(value.replace(/^\s*[A-Za-z][A-Za-z0-9-]*\s*;/, ''))
    .replace(/\s+/g, ' ')
    .trim();
  return text === '' ? undefined : truncateText(text, DIAGNOSTIC_MAX);
}

// An enhanced status code (RFC 3463) not inside a longer dotted number (an IP address).
const ENHANCED = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)/;

/**
 * The enhanced status code: the Status field's, made precise by the diagnostic when the field
 * is generic (Exim writes `5.0.0` beside the server's `550 5.1.1`); without a Status field, the
 * diagnostic's, or its basic SMTP code as `5.0.0` / `4.0.0`.
 */
export function statusOf(field: string | undefined, diagnostic: string | undefined): string | undefined {
  const given = field === undefined ? null : ENHANCED.exec(field);
  const told = diagnostic === undefined ? null : ENHANCED.exec(diagnostic);
  if (given) {
    const generic = given[2] === '0' && given[3] === '0';
    if (generic && told && told[1] === given[1]) return told[0];
    return given[0];
  }
  if (told) return told[0];
  const basic = diagnostic === undefined ? null : /^([245])\d\d(?:[\s-]|$)/.exec(diagnostic);
  return basic ? `${basic[1]}.0.0` : undefined;
}

/** An RFC 5322 date (comments and all) as epoch ms; undefined when unreadable. */
function dateOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(
    value
      .replace(/\([^)]*\)/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
  return Number.isFinite(ms) ? ms : undefined;
}

/** One item per kind and address (the first), in order. */
function distinct(items: Feedback[]): Feedback[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = `${item.kind}\n${(item.address ?? `<${item.messageIdHeader}>`).toLowerCase()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
