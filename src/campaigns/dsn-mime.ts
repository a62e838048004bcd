import { replaceForbiddenChars } from '../core/text.js';

/**
 * The little MIME reading that report parsing needs (dsn.ts), over a message held as a latin1
 * string (one character per byte, so that any bytes read and no decoding error can throw):
 * header fields, content types, multipart bodies, transfer encodings, and the field groups of
 * a `message/delivery-status` body. Everything is linear in the input; nothing throws on bad
 * input. mailparser is not used here: it keeps report parts only as attachments.
 */

/** Header fields: lower-case name to the unfolded values, in order. */
export type Fields = Map<string, string[]>;

/** A MIME entity: its header fields and its body (still transfer-encoded). */
export interface Entity {
  fields: Fields;
  body: string;
}

/** A content type: `type/subtype` in lower case, parameters by lower-case name. */
export interface ContentType {
  type: string;
  params: Map<string, string>;
}

/** The first value of `name`, or undefined. */
export function first(fields: Fields | null, name: string): string | undefined {
  return fields?.get(name)?.[0];
}

/** A value cut out of the latin1 text, as the UTF-8 it most likely was, without NUL. */
export function decodeText(value: string): string {
  return replaceForbiddenChars(Buffer.from(value, 'latin1').toString('utf8')).text;
}

/** Splits an entity at the first empty line; one that starts with an empty line has no fields. */
export function splitEntity(text: string): Entity {
  const start = /^\r?\n/.exec(text);
  if (start) return { fields: new Map(), body: text.slice(start[0].length) };
  const end = /\r?\n\r?\n/.exec(text);
  if (!end) return { fields: readFields(text), body: '' };
  return { fields: readFields(text.slice(0, end.index)), body: text.slice(end.index + end[0].length) };
}

// A field name: printable US-ASCII but the colon (RFC 5322 section 3.6.8).
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** A field line split into name and value, or null when it is not one. */
function fieldOf(line: string): { name: string; value: string } | null {
  const colon = line.indexOf(':');
  if (colon <= 0) return null;
  const name = line.slice(0, colon).trim().toLowerCase();
  if (!FIELD_NAME.test(name)) return null;
  return { name, value: line.slice(colon + 1).trim() };
}

/**
 * Reads header fields, unfolding continuation lines. Lines that are no field (an mbox `From `
 * line, garbage) are dropped, and so are the continuations that follow them.
 */
export function readFields(block: string): Fields {
  const fields: Fields = new Map();
  let last: { values: string[]; index: number } | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      if (last && line.trim() !== '') last.values[last.index] += ` ${line.trim()}`;
      continue;
    }
    const field = fieldOf(line);
    if (!field) {
      last = undefined;
      continue;
    }
    const values = fields.get(field.name) ?? [];
    values.push(field.value);
    fields.set(field.name, values);
    last = { values, index: values.length - 1 };
  }
  return fields;
}

/** The Content-Type of an entity; `text/plain` when missing or unreadable (RFC 2045). */
export function contentTypeOf(fields: Fields): ContentType {
  const pieces = splitOutsideQuotes(first(fields, 'content-type') ?? '');
  const type = (pieces[0] ?? '')
    .replace(/\([^)]*\)/g, '')
    .replace(/\s+/g, '')
    .toLowerCase();
  const params = new Map<string, string>();
  for (const piece of pieces.slice(1)) {
    const equals = piece.indexOf('=');
    if (equals <= 0) continue;
    const name = piece.slice(0, equals).trim().toLowerCase();
    let value = piece.slice(equals + 1).trim();
    if (value.startsWith('"'))
      value = value.slice(1, value.endsWith('"') ? -1 : undefined).replace(/\\(.)/g, '$1');
    if (!params.has(name)) params.set(name, value);
  }
  return { type: type.includes('/') ? type : 'text/plain', params };
}

/** `a; b="c;d"; e` to `['a', ' b="c;d"', ' e']`. */
function splitOutsideQuotes(value: string): string[] {
  const pieces: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (char === '\\' && quoted) i++;
    else if (char === '"') quoted = !quoted;
    else if (char === ';' && !quoted) {
      pieces.push(value.slice(start, i));
      start = i + 1;
    }
  }
  pieces.push(value.slice(start));
  return pieces;
}

/**
 * The parts of a multipart body (RFC 2046 section 5.1.1): what lies between delimiter lines,
 * the line break before each delimiter being the delimiter's. The preamble and the epilogue are
 * dropped; a body cut short (no closing delimiter) keeps its last part as far as it goes.
 */
export function splitMultipart(body: string, boundary: string, maxParts: number): string[] {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let start = -1;
  let pos = 0;
  while (pos < body.length && parts.length < maxParts) {
    const newline = body.indexOf('\n', pos);
    const next = newline < 0 ? body.length : newline + 1;
    if (body.startsWith(delimiter, pos)) {
      const rest = body.slice(pos + delimiter.length, newline < 0 ? body.length : newline).replace(/\r$/, '');
      const closing = rest.startsWith('--');
      // Transport padding (spaces) may follow a delimiter; anything else means a longer boundary.
      if (closing || rest.trim() === '') {
        if (start >= 0) parts.push(body.slice(start, Math.max(start, lineBreakBefore(body, pos))));
        if (closing) return parts;
        start = next;
      }
    }
    pos = next;
  }
  if (start >= 0 && start < body.length && parts.length < maxParts) parts.push(body.slice(start));
  return parts;
}

/** Where the line break before `pos` starts (`pos` itself when there is none). */
function lineBreakBefore(body: string, pos: number): number {
  let end = pos;
  if (body[end - 1] === '\n') end--;
  if (body[end - 1] === '\r') end--;
  return end;
}

/** An entity's body with its Content-Transfer-Encoding undone (base64, quoted-printable). */
export function decodedBody(entity: Entity): string {
  const encoding = (first(entity.fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  if (encoding === 'base64')
    return Buffer.from(entity.body.replace(/[^A-Za-z0-9+/]/g, ''), 'base64').toString('latin1');
  if (encoding === 'quoted-printable') {
    return entity.body
      .replace(/=[ \t]*\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
  return entity.body;
}

/** Fields that belong to one recipient of a delivery-status body (RFC 3464 section 2.3). */
const RECIPIENT_FIELDS = new Set([
  'original-recipient',
  'final-recipient',
  'action',
  'status',
  'remote-mta',
  'diagnostic-code',
  'last-attempt-date',
  'final-log-id',
  'will-retry-until',
]);
/** Fields a recipient has once: met again, they start the next recipient (a blank line left out). */
const ONCE_PER_RECIPIENT = new Set(['original-recipient', 'final-recipient', 'action', 'status']);

/**
 * A delivery-status body as its per-message fields and one group per recipient. Groups are
 * separated by blank lines; where an MTA leaves one out, a recipient field met twice starts
 * the next group, and recipient fields written among the per-message ones start the first.
 */
export function statusGroups(body: string): { message: Fields; recipients: Fields[] } {
  const message: Fields = new Map();
  const recipients: Fields[] = [];
  let current: Fields | null = null;
  let last: { values: string[]; index: number } | undefined;
  for (const line of body.split(/\r?\n/)) {
    if (line.trim() === '') {
      current = null;
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (last) last.values[last.index] += ` ${line.trim()}`;
      continue;
    }
    const field = fieldOf(line);
    if (!field) {
      last = undefined;
      continue;
    }
    let target = message;
    if (RECIPIENT_FIELDS.has(field.name) || current) {
      if (!current || (ONCE_PER_RECIPIENT.has(field.name) && current.has(field.name))) {
        current = new Map();
        recipients.push(current);
      }
      target = current;
    }
    const values = target.get(field.name) ?? [];
    values.push(field.value);
    target.set(field.name, values);
    last = { values, index: values.length - 1 };
  }
  return { message, recipients };
}

/** A Message-ID without angle brackets (`<a@b>` or a bare `a@b`); undefined when empty. */
export function bareMessageId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const angled = /<([^<>\s]+)>/.exec(value);
  const id = angled ? angled[1] : value.trim().split(/\s/)[0];
  return id ? decodeText(id).slice(0, 998) : undefined;
}
