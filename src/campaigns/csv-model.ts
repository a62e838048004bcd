import { isUtf8 } from 'node:buffer';

/**
 * The pure parts of a CSV import: which encoding and delimiter a file has, which columns hold
 * the address, the name and the attributes, and on which physical line each record starts.
 * Spreadsheets in French write `;` and Windows-1252 ("Latin-1"); others write `,` and UTF-8.
 */

/** How many bytes of the start of a file decide its encoding and delimiter. */
export const SNIFF_BYTES = 64 * 1024;

export type CsvEncoding = 'utf-8' | 'latin1';

/**
 * The encoding of a file from its first bytes: UTF-8 when they are valid UTF-8 (a sequence cut
 * at the end of the sample is allowed), else Latin-1 (read as Windows-1252, which Excel writes:
 * `œ`, `€` and `’` are bytes 0x9C, 0x80 and 0x92 there).
 */
export function sniffEncoding(head: Buffer): CsvEncoding {
  if (isUtf8(head)) return 'utf-8';
  // A multi-byte sequence cut by the end of the sample: drop its bytes and look again.
  for (let cut = 1; cut <= 3 && cut < head.length; cut++) {
    const byte = head[head.length - cut] as number;
    if (byte >= 0xc0) return isUtf8(head.subarray(0, head.length - cut)) ? 'utf-8' : 'latin1';
    if (byte < 0x80) break;
  }
  return 'latin1';
}

const WINDOWS_1252 = new TextDecoder('windows-1252');

/** A field's bytes as text, or undefined when they are not valid in `encoding` (UTF-8 only). */
export function decodeField(bytes: Buffer, encoding: CsvEncoding): string | undefined {
  if (encoding === 'latin1') return WINDOWS_1252.decode(bytes);
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

/** The delimiters `delimiter=auto` chooses from. */
export const DELIMITERS = [',', ';', '\t', '|'] as const;

/**
 * The delimiter of a file from its header line: the candidate found most often outside quotes
 * (`,` when none is). The header is sniffed, not the data, because names and addresses hold
 * commas while column titles rarely do.
 */
export function sniffDelimiter(head: string): string {
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (const char of head) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) break;
    else if (!quoted && counts.has(char)) counts.set(char, (counts.get(char) as number) + 1);
  }
  let best = ',';
  let most = 0;
  for (const [delimiter, count] of counts) {
    if (count > most) {
      best = delimiter;
      most = count;
    }
  }
  return best;
}

/** Header names taken as the address column, compared without case, accents or separators. */
const EMAIL_HEADERS = [
  'email',
  'mail',
  'courriel',
  'adresse',
  'emailaddress',
  'adresseemail',
  'adressemail',
  'adressecourriel',
];
const NAME_HEADERS = ['name', 'nom', 'fullname', 'nomcomplet'];

/** `E-mail`, `e_mail`, `Adresse e-mail` -> `email`, `email`, `adresseemail`. */
export function headerToken(header: string): string {
  return header
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[\s_.-]+/g, '');
}

/** What the query of an import says about columns (unset: the defaults). */
export interface ColumnOptions {
  email?: string | undefined;
  /** One column, or several separated by commas (joined with a space: `Prénom,Nom`). */
  name?: string | undefined;
  /** Columns separated by commas; empty: none. Unset: every column but the address and name. */
  attributes?: string | undefined;
}

/** Which column index holds what. */
export interface ColumnMap {
  email: number;
  name: number[];
  /** Attribute name (the header as written, trimmed) and its column. */
  attributes: Array<{ key: string; index: number }>;
}

/** Finds a column by name: exactly, then without case, accents or separators. */
function findColumn(headers: readonly string[], wanted: string): number {
  const exact = headers.indexOf(wanted.trim());
  if (exact !== -1) return exact;
  const token = headerToken(wanted);
  return headers.findIndex((h) => headerToken(h) === token);
}

function names(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function quoted(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}

/**
 * Maps the header to the address, name and attribute columns, or says what is wrong (a named
 * column that is not in the header, no address column, two attribute columns of one name).
 */
export function mapColumns(
  rawHeaders: readonly string[],
  options: ColumnOptions,
): ColumnMap | { problem: string } {
  const headers = rawHeaders.map((h) => h.trim());
  const shown = headers.slice(0, 30).map(quoted).join(', ');
  const missing = (wanted: string, option: string) => ({
    problem: `no column is named ${quoted(wanted)} (${option}=); the header has ${shown}`,
  });
  let email: number;
  if (options.email !== undefined) {
    email = findColumn(headers, options.email);
    if (email === -1) return missing(options.email, 'email');
  } else {
    email = headers.findIndex((h) => EMAIL_HEADERS.includes(headerToken(h)));
    if (email === -1)
      return {
        problem: `no column is named email, e-mail, mail, courriel or adresse; name the address column with email=COLUMN (the header has ${shown})`,
      };
  }
  const name: number[] = [];
  if (options.name !== undefined) {
    for (const wanted of names(options.name)) {
      const index = findColumn(headers, wanted);
      if (index === -1) return missing(wanted, 'name');
      name.push(index);
    }
  } else {
    const index = headers.findIndex((h, i) => i !== email && NAME_HEADERS.includes(headerToken(h)));
    if (index !== -1) name.push(index);
  }
  const attributes: ColumnMap['attributes'] = [];
  if (options.attributes !== undefined) {
    for (const wanted of names(options.attributes)) {
      const index = findColumn(headers, wanted);
      if (index === -1) return missing(wanted, 'attributes');
      attributes.push({ key: headers[index] as string, index });
    }
  } else {
    headers.forEach((key, index) => {
      if (index !== email && !name.includes(index) && key !== '') attributes.push({ key, index });
    });
  }
  const keys = attributes.map((a) => a.key);
  const twice = keys.find((key, i) => keys.indexOf(key) !== i);
  if (twice !== undefined)
    return {
      problem: `two attribute columns are named ${quoted(twice)}; rename one or list the columns to keep with attributes=`,
    };
  return { email, name, attributes };
}

/**
 * Line numbers of a byte stream whose records arrive in order: `append` each chunk as it is fed
 * to the parser, then `recordLine(end)` with each record's end offset gives the physical line
 * where that record started (blank lines before it skipped). csv-parse's own line count is not
 * used: it counts a CRLF inside a quoted field as two lines and ends at the last line read.
 * Chunks already passed are dropped, so it holds no more than the parser does.
 */
export class LineIndex {
  private chunks: Array<{ at: number; bytes: Buffer }> = [];
  private end = 0;
  /** Offset up to which newlines are counted, and how many there were before it. */
  private counted = 0;
  private newlines = 0;
  /** Where the previous record ended. */
  private previousEnd = 0;

  append(bytes: Buffer): void {
    this.chunks.push({ at: this.end, bytes });
    this.end += bytes.length;
  }

  private byteAt(offset: number): number | undefined {
    for (const chunk of this.chunks) {
      if (offset < chunk.at) return undefined;
      if (offset < chunk.at + chunk.bytes.length) return chunk.bytes[offset - chunk.at];
    }
    return undefined;
  }

  /** Counts newlines up to `offset` (which only moves forward) and drops the chunks before it. */
  private countTo(offset: number): void {
    for (const chunk of this.chunks) {
      const from = Math.max(this.counted, chunk.at);
      const to = Math.min(offset, chunk.at + chunk.bytes.length);
      for (let i = from; i < to; i++) if (chunk.bytes[i - chunk.at] === 0x0a) this.newlines++;
    }
    this.counted = Math.max(this.counted, offset);
    while (this.chunks.length > 1) {
      const first = this.chunks[0] as { at: number; bytes: Buffer };
      if (first.at + first.bytes.length > this.counted) break;
      this.chunks.shift();
    }
  }

  /** The line (1-based) where the next record starts: the first byte after the previous end that is not CR or LF. */
  nextStartLine(): number {
    let start = this.previousEnd;
    for (;;) {
      const byte = this.byteAt(start);
      if (byte !== 0x0a && byte !== 0x0d) break;
      start++;
    }
    this.countTo(start);
    return this.newlines + 1;
  }

  /** The line where the record ending at `end` started; call once per record, in order. */
  recordLine(end: number): number {
    const line = this.nextStartLine();
    this.previousEnd = end;
    return line;
  }
}
