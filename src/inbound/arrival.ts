import { createHash } from 'node:crypto';
import { type Feedback, parseDsn } from '../campaigns/index.js';
import { AppError } from '../core/errors.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { replaceForbiddenChars } from '../core/text.js';
import type { Arrival, InboundSource } from './ledger.js';

/**
 * Turning raw RFC 822 bytes (IMAP, `POST /api/ingress/raw`) into an arrival for the ledger:
 * the content hash and the parsed form, or the parse error with what a quick header scan
 * could read, so that an unparseable message is recorded (and visible) instead of lost.
 */

/** Anything that parses raw mail: the worker pool, or the in-thread parser. */
export interface ParseLike {
  parse(raw: Buffer): Promise<InboundEmail>;
}

/** Where an arrival comes from. */
export interface ArrivalOrigin {
  source: InboundSource;
  mailboxId: string | null;
  imap: Arrival['imap'];
  receivedAt: number;
}

/**
 * The bounces and complaints each raw message reports (a bounce mailbox's batch), read on this
 * thread before the parser may move the bytes to a worker. One message at a time, with a turn
 * of the event loop between: parseDsn reads up to a megabyte of each (a returned original with
 * its attachment), a few milliseconds, and a batch of a hundred must not stall the loop at once.
 */
export async function readFeedback<K>(raws: ReadonlyMap<K, Buffer>): Promise<Map<K, Feedback[]>> {
  const reports = new Map<K, Feedback[]>();
  for (const [key, raw] of raws) {
    reports.set(key, parseDsn(raw));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return reports;
}

/** Hex SHA-256 of the raw message: the content half of a message's identity. */
export function contentHash(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * Parses `raw` into an arrival; a parse failure becomes an arrival that records the error.
 * `feedback` is what a message of a bounce mailbox reports (`readFeedback`), read beforehand.
 */
export async function arrivalFromRaw(
  parser: ParseLike,
  raw: Buffer,
  origin: ArrivalOrigin,
  options: { feedback?: Feedback[] | undefined } = {},
): Promise<Arrival> {
  const base = { ...origin, contentHash: contentHash(raw), size: raw.length };
  // The pool may move `raw` to a worker (leaving it empty here): keep the head for a failure.
  const head = Buffer.from(raw.subarray(0, HEAD_BYTES));
  const feedback = options.feedback ? { feedback: options.feedback } : {};
  try {
    return { ...base, ...feedback, parsed: { ok: true, email: await parser.parse(raw) } };
  } catch (error) {
    const e =
      error instanceof AppError
        ? error
        : new AppError('INBOUND_PARSE_FAILED', String((error as Error)?.message ?? error));
    const headers = scanHeaders(head);
    return {
      ...base,
      parsed: {
        ok: false,
        code: e.code,
        // A parser's message may quote the mail it failed on.
        message: replaceForbiddenChars(e.message).text,
        // Read as latin1 from raw bytes: a NUL in them would not fit a PostgreSQL text column.
        subject: replaceForbiddenChars(headers.subject ?? '').text,
        from: headers.from === undefined ? null : replaceForbiddenChars(headers.from).text,
        messageId: headers.messageId === undefined ? null : replaceForbiddenChars(headers.messageId).text,
      },
    };
  }
}

const HEAD_BYTES = 65_536;

/** A best-effort read of a few headers from the first 64 KB, for messages the parser refused. */
function scanHeaders(raw: Buffer): { subject?: string; from?: string; messageId?: string } {
  const head = raw.toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ');
  const found: { subject?: string; from?: string; messageId?: string } = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'subject') found.subject ??= value.slice(0, 500);
    else if (name === 'from')
      found.from ??= /<([^>]+)>/.exec(value)?.[1]?.toLowerCase() ?? value.toLowerCase().slice(0, 320);
    else if (name === 'message-id') found.messageId ??= value.replace(/^<|>$/g, '').slice(0, 500);
  }
  return found;
}
