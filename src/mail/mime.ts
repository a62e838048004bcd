import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { type Mailbox, parseMailbox } from '../core/email-address.js';
import type { OutboundMessage } from './transport.js';

/**
 * Facteur's MIME composer: the RFC 5322 message of an outbound message, built once per attempt
 * as one Buffer that the SMTP pool and the SES transport send as it is, so the bytes do not
 * depend on the transport. It writes the few shapes the outbox has (text, HTML, both, with
 * files) straight from fields that were validated at accept, where nodemailer's general
 * composer re-parses every address and streams each part: that composer was a sixth of the
 * drain's CPU in B1 (bench/README.md).
 *
 * - Headers: ASCII values folded at spaces under 78 columns; values with other characters, and
 *   display names, as RFC 2047 encoded words (UTF-8, base64); domains in IDNA form.
 * - Bodies: 7bit when ASCII with lines under 998 octets; otherwise quoted-printable, or base64
 *   when most octets are not ASCII. Line ends are CRLF.
 * - Files: base64 in 76-column lines, names per RFC 2231 (and as encoded words for old readers).
 */

const CRLF = '\r\n';
/** Octets of UTF-8 per encoded word: 52 base64 characters, a 64-column word. */
const WORD_OCTETS = 39;
const FOLD_AT = 76;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is what is tested
const NON_ASCII = /[^\x00-\x7f]/;
/** A header name as RFC 5322 allows it (printable ASCII but the colon); checked at accept too. */
const HEADER_NAME = /^[!-9;-~]+$/;
const ATEXT_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/** The SMTP envelope of a message: the bare sender and every recipient once (Bcc included). */
export interface Envelope {
  from: string;
  to: string[];
}

/** The envelope of `message`, or to `envelopeTo` only (a retry of refused recipients). */
export function envelopeOf(message: OutboundMessage, envelopeTo?: readonly string[]): Envelope {
  const to = new Set<string>();
  for (const list of envelopeTo ? [envelopeTo] : [message.to, message.cc, message.bcc]) {
    for (const entry of list) to.add(wireAddress(mailboxOf(entry).address));
  }
  return { from: wireAddress(mailboxOf(message.from).address), to: [...to] };
}

/** The whole message, headers and body, as the server receives it after DATA. */
export function composeMime(message: OutboundMessage, date: Date): Buffer {
  const head: string[] = [
    addressHeader('From', [message.from]),
    ...(message.replyTo ? [addressHeader('Reply-To', [message.replyTo])] : []),
    addressHeader('To', message.to),
    ...(message.cc.length > 0 ? [addressHeader('Cc', message.cc)] : []),
    textHeader('Subject', message.subject),
    `Message-ID: ${message.messageId}`,
    `Date: ${date.toUTCString().replace(/GMT$/, '+0000')}`,
    'MIME-Version: 1.0',
  ];
  for (const [name, value] of Object.entries(message.headers)) {
    if (HEADER_NAME.test(name)) head.push(textHeader(name, value));
  }

  const body = bodyPart(message);
  const files = message.attachments ?? [];
  if (files.length === 0) return Buffer.from(head.join(CRLF) + CRLF + body, 'utf8');
  const boundary = newBoundary();
  const parts = [body, ...files.map((file) => filePart(file.filename, file.contentType, file.content))];
  return Buffer.from(
    `${head.join(CRLF)}${CRLF}Content-Type: multipart/mixed;${CRLF} boundary="${boundary}"${CRLF}${multipart(boundary, parts)}`,
    'utf8',
  );
}

/** The body: one text part, or text and HTML as alternatives. Starts with its own headers. */
function bodyPart(message: OutboundMessage): string {
  const { text, html } = message;
  if (html === undefined) return textPart('text/plain', text ?? '');
  if (text === undefined) return textPart('text/html', html);
  const boundary = newBoundary();
  return `Content-Type: multipart/alternative;${CRLF} boundary="${boundary}"${CRLF}${multipart(boundary, [
    textPart('text/plain', text),
    textPart('text/html', html),
  ])}`;
}

/** Parts (each its headers, a blank line and its content) between boundary lines. */
function multipart(boundary: string, parts: readonly string[]): string {
  let out = CRLF;
  for (const part of parts) out += `--${boundary}${CRLF}${part}${CRLF}`;
  return `${out}--${boundary}--${CRLF}`;
}

function newBoundary(): string {
  return `--_facteur_${randomBytes(12).toString('hex')}`;
}

function textPart(type: string, content: string): string {
  const normalised = content.replace(/\r\n|\r|\n/g, CRLF);
  const bytes = Buffer.byteLength(normalised, 'utf8');
  const head = `Content-Type: ${type}; charset=utf-8${CRLF}Content-Transfer-Encoding: `;
  if (bytes === normalised.length && !hasLineOver(normalised, 998)) {
    return `${head}7bit${CRLF}${CRLF}${normalised}`;
  }
  const raw = Buffer.from(normalised, 'utf8');
  // Mostly non-ASCII (Cyrillic, CJK): quoted-printable would triple it.
  if ((bytes - normalised.length) * 2 > bytes)
    return `${head}base64${CRLF}${CRLF}${base64Lines(raw.toString('base64'))}`;
  return `${head}quoted-printable${CRLF}${CRLF}${quotedPrintable(raw)}`;
}

/** A media type with optional parameters; anything else (a line break, say) is sent as octets. */
const MEDIA_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(?:\s*;\s*[\w!#$&^.+-]+=(?:"[^"\\\r\n]*"|[\w!#$&^.+-]+))*$/;

function filePart(filename: string, contentType: string, base64: string): string {
  const type = MEDIA_TYPE.test(contentType) ? contentType : 'application/octet-stream';
  return [
    `Content-Type: ${type}; ${fileParameter('name', filename)}`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; ${fileParameter('filename', filename)}`,
    '',
    base64Lines(base64.replace(/\s+/g, '')),
  ].join(CRLF);
}

/** `name="file.csv"`; a name with other characters as RFC 2231 `name*=utf-8''...`. */
function fileParameter(name: string, value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (!NON_ASCII.test(value) && !/["\\\x00-\x1f\x7f]/.test(value)) return `${name}="${value}"`;
  const encoded = encodeURIComponent(value).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${name}*=utf-8''${encoded}`;
}

/** Base64 in lines of 76 characters, the last one ending with CRLF too. */
function base64Lines(base64: string): string {
  let out = '';
  for (let i = 0; i < base64.length; i += FOLD_AT) out += base64.slice(i, i + FOLD_AT) + CRLF;
  return out;
}

function hasLineOver(text: string, limit: number): boolean {
  let start = 0;
  for (;;) {
    const end = text.indexOf(CRLF, start);
    if ((end === -1 ? text.length : end) - start > limit) return true;
    if (end === -1) return false;
    start = end + 2;
  }
}

/**
 * Quoted-printable (RFC 2045 6.7) of CRLF-terminated lines: printable ASCII but `=` as it is,
 * a space or tab before a line end encoded, soft breaks keeping lines within 76 columns.
 */
export function quotedPrintable(raw: Buffer): string {
  const HEX = '0123456789ABCDEF';
  const out: string[] = [];
  let line = '';
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i] as number;
    if (byte === 13 && raw[i + 1] === 10) {
      out.push(line, CRLF);
      line = '';
      i++;
      continue;
    }
    const atLineEnd = i + 1 === raw.length || (raw[i + 1] === 13 && raw[i + 2] === 10);
    const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !atLineEnd);
    const token = literal ? String.fromCharCode(byte) : `=${HEX[byte >> 4]}${HEX[byte & 15]}`;
    // A soft break leaves room for its `=`; the line's last token may use the 76th column.
    if (line.length + token.length > (atLineEnd ? FOLD_AT : FOLD_AT - 1)) {
      out.push(line, `=${CRLF}`);
      line = '';
    }
    line += token;
  }
  out.push(line);
  return out.join('');
}

/** An unstructured header (Subject, a custom header): folded ASCII, or encoded words. */
function textHeader(name: string, raw: string): string {
  // Checked at accept; a line break can never reach the wire and start a header of its own.
  const value = raw.replace(/[\r\n]+/g, ' ');
  if (NON_ASCII.test(value)) return `${name}: ${encodedWords(value)}`;
  return fold(`${name}: ${value}`);
}

/** `From`, `To`, `Cc`, `Reply-To`: each mailbox formatted, the list folded where spaces allow. */
function addressHeader(name: string, entries: readonly string[]): string {
  return fold(`${name}: ${entries.map((entry) => formatWireMailbox(mailboxOf(entry))).join(', ')}`);
}

function formatWireMailbox(mailbox: Mailbox): string {
  const address = wireAddress(mailbox.address);
  if (!mailbox.name) return address;
  const { name } = mailbox;
  if (NON_ASCII.test(name)) return `${encodedWords(name)} <${address}>`;
  if (ATEXT_PHRASE.test(name)) return `${name} <${address}>`;
  return `"${name.replace(/(["\\])/g, '\\$1')}" <${address}>`;
}

/** The address with its domain in IDNA (ASCII) form; a non-ASCII local part stays (SMTPUTF8). */
function wireAddress(address: string): string {
  if (!NON_ASCII.test(address)) return address;
  const at = address.lastIndexOf('@');
  const domain = address.slice(at + 1);
  const ascii = NON_ASCII.test(domain) ? domainToASCII(domain) : domain;
  return `${address.slice(0, at + 1)}${ascii || domain}`;
}

function mailboxOf(entry: string): Mailbox {
  const parsed = parseMailbox(entry);
  // Checked at accept; a row that no longer parses goes as written rather than failing here.
  return 'address' in parsed ? parsed : { address: entry.trim() };
}

/** RFC 2047 encoded words (UTF-8, B), whole characters per word, one word per folded line. */
function encodedWords(value: string): string {
  const words: string[] = [];
  let chunk = '';
  let octets = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char, 'utf8');
    if (octets + size > WORD_OCTETS) {
      words.push(chunk);
      chunk = '';
      octets = 0;
    }
    chunk += char;
    octets += size;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(`${CRLF} `);
}

/** Folds a header at spaces so that its lines stay within 76 columns where a space allows. */
function fold(header: string): string {
  if (header.length <= FOLD_AT) return header;
  return header.includes(CRLF) ? header.split(CRLF).map(foldLine).join(CRLF) : foldLine(header);
}

function foldLine(line: string): string {
  if (line.length <= FOLD_AT) return line;
  let out = '';
  let rest = line;
  while (rest.length > FOLD_AT) {
    // At spaces only: readers unfold CRLF and a tab into a space, which would change the text.
    let at = rest.lastIndexOf(' ', FOLD_AT);
    if (at <= 0) at = rest.indexOf(' ', FOLD_AT);
    if (at <= 0) break;
    out += rest.slice(0, at) + CRLF;
    rest = rest.slice(at);
  }
  return out + rest;
}
