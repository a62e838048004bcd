import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import {
  type AddressObject,
  type AttachmentStream,
  type HeaderLines,
  type Headers,
  MailParser,
  type MessageText,
  type EmailAddress as ParsedAddress,
} from 'mailparser';
import addressparser, { type Address } from 'nodemailer/lib/addressparser/index.js';
import { formatMailbox } from '../core/email-address.js';
import { AppError } from '../core/errors.js';
import type { AttachmentMeta, EmailAddress, InboundEmail } from '../core/inbound-email.js';
import { withTextRule } from './email.js';
import { collectBodyUrls } from './links.js';
import { replyText } from './reply-text.js';

/**
 * RFC 822 bytes to an `InboundEmail`, with mailparser's streaming parser. Attachments are read
 * as streams and only measured and hashed, so a 20 MB attachment never sits in memory; bodies
 * are capped before the HTML is rendered as text, so a huge HTML part costs a bounded amount.
 */

/** Size caps applied while parsing. */
export interface ParseLimits {
  /** Bytes of HTML kept (default 1 MiB; the system Facteur replaces capped HTML at 1 MB before parsing). */
  maxHtmlBytes: number;
  /** Bytes of plain text kept (default 1 MiB). */
  maxTextBytes: number;
}

/** The limits used when a caller gives none. */
export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxHtmlBytes: 1024 * 1024,
  maxTextBytes: 1024 * 1024,
});

/** A parse that neither ends nor fails gets this long, plus PARSE_TIMEOUT_PER_MB_MS per megabyte. */
export const PARSE_TIMEOUT_BASE_MS = 30_000;
/** Extra time per megabyte of raw message. */
export const PARSE_TIMEOUT_PER_MB_MS = 1_000;

const require = createRequire(import.meta.url);
// html-to-text (a mailparser dependency) ships no type declarations: the one call used is typed here.
const { compile } = require('html-to-text') as {
  compile(options: object): (html: string) => string;
};

/**
 * Compiled once: html-to-text compiles its options on every `convert` call. No wrapping (rules
 * and payloads want the author's lines); headings keep their case (html-to-text capitalises
 * them, and rules match the author's words); table cells are blocks, since by default the cells
 * of a layout table run together (`NomPrix`) and words no rule can find appear.
 */
const renderHtmlAsText = compile({
  wordwrap: false,
  selectors: [
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    ...['td', 'th'].map((selector) => ({
      selector,
      format: 'block',
      options: { leadingLineBreaks: 1, trailingLineBreaks: 1 },
    })),
  ],
});

/** An addr-spec worth keeping: something before and after one `@` (a quoted local part may hold more). */
const PLAUSIBLE_ADDRESS = /^(?:"[^"]*"|[^\s@"<>,;]+)@[^\s@"<>,;()]+$/;

// libmime (mailparser's header decoder) ships no type declarations either.
const libmime = require('libmime') as {
  decodeHeader(line: string): { key: string; value: string };
  decodeWords(value: string): string;
};

/** Headers whose values are address lists, rendered as `Name <addr>, ...` in `headers`. */
const ADDRESS_HEADERS = new Set(
  'from to cc bcc sender reply-to delivered-to return-path disposition-notification-to resent-from resent-to resent-cc resent-sender'.split(
    ' ',
  ),
);

/** How long a parse of `bytes` may take before it is abandoned. */
export function parseTimeoutMs(bytes: number): number {
  return PARSE_TIMEOUT_BASE_MS + Math.ceil(bytes / (1024 * 1024)) * PARSE_TIMEOUT_PER_MB_MS;
}

/** Cuts `value` to at most `maxBytes` of UTF-8, never inside a character. */
export function capUtf8(value: string, maxBytes: number): { value: string; truncated: boolean } {
  // A UTF-16 code unit takes at most 3 bytes of UTF-8: short strings need no measuring.
  if (value.length * 3 <= maxBytes || Buffer.byteLength(value) <= maxBytes)
    return { value, truncated: false };
  const bytes = Buffer.from(value.slice(0, maxBytes));
  let end = Math.min(maxBytes, bytes.length);
  // Back up over continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && end < bytes.length && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return { value: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

/** Renders HTML as plain text (no wrapping: rules and payloads want the author's lines). */
export function htmlToPlainText(html: string): string {
  return renderHtmlAsText(html);
}

/** The HTML and text bodies, capped, with the text rendered from the HTML when there is none. */
export function bodiesFrom(
  text: string | null,
  html: string | null,
  limits: ParseLimits,
): Pick<InboundEmail, 'text' | 'html' | 'truncated'> {
  const truncated: string[] = [];
  let cappedHtml: string | null = null;
  if (html !== null) {
    const capped = capUtf8(html, limits.maxHtmlBytes);
    if (capped.truncated) truncated.push('html');
    cappedHtml = capped.value;
  }
  const source = text?.trim() ? text : cappedHtml !== null ? htmlToPlainText(cappedHtml) : (text ?? '');
  const cappedText = capUtf8(source, limits.maxTextBytes);
  if (cappedText.truncated) truncated.unshift('text');
  return { text: cappedText.value, html: cappedHtml, truncated };
}

/** Flattens groups, drops entries without a plausible address, lower-cases addresses. */
function addressesOf(value: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  const out: EmailAddress[] = [];
  const visit = (entries: ParsedAddress[]): void => {
    for (const entry of entries) {
      if (entry.group) visit(entry.group);
      else if (entry.address && PLAUSIBLE_ADDRESS.test(entry.address))
        out.push({ address: entry.address.toLowerCase(), name: entry.name ?? '' });
    }
  };
  for (const object of value === undefined ? [] : Array.isArray(value) ? value : [value]) visit(object.value);
  return out;
}

/** A message id without its angle brackets; null when empty. */
function bareMessageId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  // Index arithmetic, not /^<+|>+$/: a header of a million `>` would make that regex quadratic.
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === '<' || value[start] === ' ')) start++;
  while (end > start && (value[end - 1] === '>' || value[end - 1] === ' ')) end--;
  return start === end ? null : value.slice(start, end);
}

/** Decodes RFC 2047 encoded words; a broken one is kept as written rather than failing the message. */
function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/** An address list as text: each mailbox `Name <addr>` with its name decoded, groups as `Name: ...;`. */
function renderAddresses(value: string): string {
  const render = (entry: Address): string => {
    const name = decodeWords(entry.name);
    if (entry.group) return `${name}: ${entry.group.map(render).join(', ')};`;
    if (!entry.address) return name;
    return formatMailbox(name ? { name, address: entry.address } : { address: entry.address });
  };
  return addressparser(value)
    .map(render)
    .filter((text) => text !== '')
    .join(', ');
}

/** Every header as decoded text, and the From header decoded as written. */
function renderHeaders(lines: HeaderLines): { headers: Record<string, string[]>; sender: string } {
  const headers: Record<string, string[]> = Object.create(null);
  let sender: string | null = null;
  for (const line of lines) {
    const { key, value: binary } = libmime.decodeHeader(line.line);
    // A line without a colon has no name: it is not a header, whatever the sender meant.
    if (!key) continue;
    // mailsplit hands header lines over as binary strings; raw 8-bit headers are UTF-8 in practice.
    const value = Buffer.from(binary, 'binary').toString('utf8');
    if (key === 'from' && sender === null) sender = decodeWords(value);
    const rendered = ADDRESS_HEADERS.has(key) ? renderAddresses(value) : decodeWords(value);
    const values = headers[key];
    if (values) values.push(rendered);
    else headers[key] = [rendered];
  }
  return { headers: { ...headers }, sender: sender ?? '' };
}

/** What the parser reported, gathered as it streams. */
interface Collected {
  headers: Headers;
  headerLines: HeaderLines;
  attachments: Promise<AttachmentMeta>[];
  text: string | null;
  html: string | null;
}

/**
 * Drains an attachment stream, keeping only its metadata. The parser itself hashes the content
 * as it passes (`checksumAlgo: 'sha256'`) and counts it; the bytes are dropped chunk by chunk.
 */
function measureAttachment(attachment: AttachmentStream): Promise<AttachmentMeta> {
  return new Promise((resolve, reject) => {
    attachment.content.on('error', reject);
    attachment.content.once('end', () => {
      // The parser waits for this before it reads on.
      attachment.release();
      resolve({
        filename: attachment.filename ?? null,
        contentType: attachment.contentType,
        size: attachment.size,
        contentId: attachment.cid ?? null,
        disposition: (attachment.contentDisposition as string | undefined) ?? null,
        sha256: attachment.checksum,
      });
    });
    (attachment.content as Readable).resume();
  });
}

/** Gathers what `parser` emits into a Collected. */
function collectFrom(parser: MailParser): Collected {
  const collected: Collected = {
    headers: new Map(),
    headerLines: [],
    attachments: [],
    text: null,
    html: null,
  };
  parser.on('headers', (headers: Headers) => {
    collected.headers = headers;
  });
  parser.on('headerLines', (lines: HeaderLines) => {
    collected.headerLines = lines;
  });
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'attachment') {
      collected.attachments.push(measureAttachment(data));
      return;
    }
    collected.text = typeof data.text === 'string' ? data.text : null;
    collected.html = typeof data.html === 'string' ? data.html : null;
  });
  return collected;
}

/** `raw` in 64 KiB views (no copies). */
function* slicesOf(raw: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < raw.length; offset += 64 * 1024)
    yield raw.subarray(offset, offset + 64 * 1024);
}

/** Runs mailparser over `raw`; resolves with what it found and the attachments' metadata. */
function runParser(raw: Buffer): Promise<{ collected: Collected; attachments: AttachmentMeta[] }> {
  return new Promise((resolve, reject) => {
    // HTML is rendered by bodiesFrom, after the cap; mailparser's text-to-HTML and linkify are not used.
    const parser = new MailParser({
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
      checksumAlgo: 'sha256',
    });
    const collected = collectFrom(parser);
    let settled = false;
    const settle = (outcome: { attachments: AttachmentMeta[] } | { failure: string; cause?: unknown }) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if ('attachments' in outcome) return resolve({ collected, attachments: outcome.attachments });
      parser.destroy();
      reject(new AppError('INBOUND_PARSE_FAILED', outcome.failure, { cause: outcome.cause }));
    };
    const timeoutMs = parseTimeoutMs(raw.length);
    const timer = setTimeout(
      () =>
        settle({ failure: `the message (${raw.length} bytes) was still not parsed after ${timeoutMs} ms` }),
      timeoutMs,
    );
    // `on`, not `once`: a destroyed parser may still emit, and an unheard 'error' would crash the process.
    parser.on('error', (error: Error) =>
      settle({ failure: `the message could not be parsed: ${error.message}`, cause: error }),
    );
    parser.once('end', () => {
      Promise.all(collected.attachments).then(
        (attachments) => settle({ attachments }),
        (error: Error) =>
          settle({ failure: `an attachment could not be read: ${error.message}`, cause: error }),
      );
    });
    // Fed in slices with backpressure: written in one go, the splitter would queue every decoded
    // line of a large attachment at once instead of streaming it.
    Readable.from(slicesOf(raw), { objectMode: false }).pipe(parser);
  });
}

/** The Date header as ISO-8601, or null when missing or unreadable (mailparser would say "now"). */
function dateOf(headers: Record<string, string[]>): string | null {
  const value = headers['date']?.[0];
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * mailparser joins the parts it renders with `<br/>\n`; a text part beside the HTML (rendered as
 * '' since text-to-HTML is off) leaves one at either end.
 */
function withoutEdgeBreaks(html: string | null): string | null {
  if (html === null) return null;
  const joint = '<br/>\n';
  let start = 0;
  let end = html.length;
  while (html.startsWith(joint, start)) start += joint.length;
  while (end - joint.length >= start && html.endsWith(joint, end)) end -= joint.length;
  return start === 0 && end === html.length ? html : html.slice(start, end);
}

/** Builds the InboundEmail from what the parser gathered. */
function toInboundEmail(
  raw: Buffer,
  collected: Collected,
  attachments: AttachmentMeta[],
  limits: ParseLimits,
): InboundEmail {
  const { headers: parsed } = collected;
  const { headers, sender } = renderHeaders(collected.headerLines);
  const bodies = bodiesFrom(collected.text, withoutEdgeBreaks(collected.html), limits);
  const references = parsed.get('references');
  return withTextRule({
    messageId: bareMessageId(parsed.get('message-id')),
    inReplyTo: bareMessageId(parsed.get('in-reply-to')),
    references: (Array.isArray(references) ? references : [references])
      .map(bareMessageId)
      .filter((id): id is string => id !== null),
    date: dateOf(headers),
    subject: typeof parsed.get('subject') === 'string' ? (parsed.get('subject') as string) : '',
    from: addressesOf(parsed.get('from') as AddressObject | undefined)[0] ?? null,
    sender,
    to: addressesOf(parsed.get('to') as AddressObject | AddressObject[] | undefined),
    cc: addressesOf(parsed.get('cc') as AddressObject | AddressObject[] | undefined),
    replyTo: addressesOf(parsed.get('reply-to') as AddressObject | undefined),
    headers,
    ...bodies,
    replyText: replyText(bodies.text),
    attachments,
    links: collectBodyUrls(bodies.text, bodies.html),
    size: raw.length,
  });
}

/**
 * Parses a raw RFC 822 message. Fails with `INBOUND_PARSE_FAILED` when the parser errors or
 * does not finish within `parseTimeoutMs(raw.length)`.
 */
export async function parseEmail(raw: Buffer, limits: Partial<ParseLimits> = {}): Promise<InboundEmail> {
  const effective: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  const { collected, attachments } = await runParser(raw);
  try {
    return toInboundEmail(raw, collected, attachments, effective);
  } catch (error) {
    throw new AppError('INBOUND_PARSE_FAILED', `the parsed message could not be read: ${String(error)}`, {
      cause: error,
    });
  }
}
