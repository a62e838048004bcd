import { CsvError, type Options, parse } from 'csv-parse';
import { AppError } from '../core/errors.js';
import {
  type ColumnMap,
  type ColumnOptions,
  type CsvEncoding,
  decodeField,
  LineIndex,
  mapColumns,
  SNIFF_BYTES,
  sniffDelimiter,
  sniffEncoding,
} from './csv-model.js';
import {
  type AttributeValue,
  emptyReport,
  type ImportReport,
  MAX_FIELD_BYTES,
  type OnDuplicate,
  recordError,
  validateContact,
} from './model.js';
import { type Audiences, ContactWriter } from './service.js';

/**
 * Import of a CSV file streamed from the request, never held whole in memory. The encoding and
 * the delimiter are decided from the first 64 KB; each record is validated on its own (a bad
 * row is reported with the physical line where it starts and is not imported); good rows are
 * written in batches, one transaction each, so that a long import never holds the database's
 * one writer (SQLite) for long. A malformed file (an unclosed quote) stops the import at that
 * line: the rows before it are imported, and the 400 says exactly how many.
 */

/** Largest CSV file `POST /api/lists/:id/import` takes: 200 MiB. */
export const CSV_MAX_BYTES = 200 * 1024 * 1024;
/** A record larger than this (16 MiB) is taken as a malformed file: a quote that never closes. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/**
 * The parser is fed this much at a time, then the records it made are taken. A 64 KB read is
 * about 1,000 records, parsed at once and then queued through one or two batch commits, whose
 * fsyncs idle the event loop: V8 runs its scavenge task then, and records queued through two
 * scavenges are promoted to the old space (B8).
 */
const FEED_BYTES = 8 * 1024;

/** The options of a CSV import, as the query gives them. */
export interface CsvImportOptions extends ColumnOptions {
  encoding: 'auto' | CsvEncoding;
  delimiter: string;
  onDuplicate: OnDuplicate;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Counts the bytes of `body` and refuses more than `limit`. */
async function* bounded(body: AsyncIterable<Buffer | string>, limit: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    seen += bytes.length;
    if (seen > limit)
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `the CSV file is larger than ${limit / (1024 * 1024)} MiB (this route's own limit)`,
        { details: { limitBytes: limit } },
      );
    yield bytes;
  }
}

/** The first chunks of the stream, at least SNIFF_BYTES of them (or all there is). */
async function readHead(source: AsyncGenerator<Buffer>): Promise<Buffer[]> {
  const head: Buffer[] = [];
  let size = 0;
  while (size < SNIFF_BYTES) {
    const next = await source.next();
    if (next.done) break;
    head.push(next.value);
    size += next.value.length;
  }
  return head;
}

const WHY: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  CSV_MAX_RECORD_SIZE: 'a record is larger than 16 MiB (a quote that never closes?)',
  CSV_INVALID_CLOSING_QUOTE:
    'a closing quote is followed by something other than a delimiter or the end of the line',
  INVALID_OPENING_QUOTE: 'a quote opens in the middle of an unquoted field',
};

function malformed(error: CsvError, line: number, report: ImportReport): AppError {
  const why = WHY[error.code] ?? error.message.slice(0, 200);
  return new AppError(
    'CSV_MALFORMED',
    `the CSV file is malformed at line ${line}: ${why}. The ${report.rows} rows before it were read and written (${report.imported} imported, ${report.updated} updated, ${report.unchanged} unchanged, ${report.duplicatesInFile} duplicates, ${report.invalid} invalid); nothing from line ${line} on was imported`,
    { details: { line, reason: error.code, report } },
  );
}

function headerInvalid(message: string, headers?: string[]): AppError {
  return new AppError('CSV_HEADER_INVALID', message.slice(0, 1500), {
    details: headers ? { headers: headers.slice(0, 100).map((h) => h.slice(0, 100)) } : null,
  });
}

interface Columns {
  headers: string[];
  columns: ColumnMap;
  encoding: CsvEncoding;
  writer: ContactWriter;
  /** The address and name columns' titles, as the problems name them. */
  fields: { address: string; name: string };
}

/** The header record: its column titles mapped to address, name and attributes. */
function headerColumns(
  record: Buffer[],
  options: CsvImportOptions,
  encoding: CsvEncoding,
  writer: ContactWriter,
): Columns {
  const headers: string[] = [];
  for (const [index, bytes] of record.entries()) {
    const value = bytes.length > MAX_FIELD_BYTES ? undefined : decodeField(bytes, encoding);
    if (value === undefined)
      throw headerInvalid(
        `the header's column ${index + 1} is over 10 KB or not valid ${encoding} (pass encoding=latin1 if the file is Latin-1)`,
      );
    headers.push(value.trim());
  }
  const columns = mapColumns(headers, options);
  if ('problem' in columns) throw headerInvalid(columns.problem, headers);
  const fields = {
    address: headers[columns.email] ?? 'email',
    name: columns.name.map((i) => headers[i]).join(',') || 'name',
  };
  return { headers, columns, encoding, writer, fields };
}

/** Turns one data record into a row of the report: validated, then written or refused. */
async function takeRecord(record: Buffer[], line: number, context: Columns): Promise<void> {
  const { headers, columns, encoding, writer } = context;
  const report = writer.report;
  if (record.every((field) => field.length === 0)) return; // `;;;` lines that spreadsheets leave
  report.rows += 1;
  if (record.length > headers.length) {
    recordError(report, {
      line,
      field: '',
      message: `has ${record.length} fields but the header has ${headers.length} (a delimiter inside an unquoted field?)`,
    });
    return;
  }
  const text = (index: number): string | { field: string; message: string } => {
    const bytes = record[index] ?? Buffer.alloc(0);
    const field = headers[index] ?? '';
    if (bytes.length > MAX_FIELD_BYTES) return { field, message: `is over 10 KB (${bytes.length} bytes)` };
    const value = decodeField(bytes, encoding);
    if (value === undefined)
      return {
        field,
        message: 'is not valid UTF-8 (the file was read as UTF-8; pass encoding=latin1 if it is Latin-1)',
      };
    return value;
  };
  const address = text(columns.email);
  if (typeof address !== 'string') return recordError(report, { line, ...address });
  const names: string[] = [];
  for (const index of columns.name) {
    const value = text(index);
    if (typeof value !== 'string') return recordError(report, { line, ...value });
    if (value.trim() !== '') names.push(value.trim());
  }
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, index } of columns.attributes) {
    const value = text(index);
    if (typeof value !== 'string') return recordError(report, { line, ...value });
    attributes[key] = value;
  }
  const draft = validateContact(
    { address, name: names.length > 0 ? names.join(' ') : null, attributes },
    context.fields,
  );
  if ('message' in draft) recordError(report, { line, ...draft });
  else await writer.add(draft);
}

/**
 * Imports a CSV stream into a list and answers the import report; throws CSV_HEADER_INVALID
 * (nothing imported), CSV_MALFORMED or PAYLOAD_TOO_LARGE (the rows before imported, and said).
 */
export async function importCsv(
  audiences: Audiences,
  listId: string,
  body: AsyncIterable<Buffer | string>,
  options: CsvImportOptions,
): Promise<ImportReport> {
  await audiences.lists.load(listId);
  const source = bounded(body, CSV_MAX_BYTES);
  const head = await readHead(source);
  const headBytes = Buffer.concat(head);
  const hasBom = headBytes.subarray(0, 3).equals(UTF8_BOM);
  const encoding: CsvEncoding =
    options.encoding !== 'auto' ? options.encoding : hasBom ? 'utf-8' : sniffEncoding(headBytes);
  const delimiter =
    options.delimiter !== 'auto'
      ? options.delimiter
      : sniffDelimiter(decodeField(headBytes.subarray(hasBom ? 3 : 0), 'latin1') ?? '');
  const report = emptyReport(encoding, delimiter);
  const writer = new ContactWriter(audiences.deps, listId, options.onDuplicate, report);

  const lines = new LineIndex();
  const queue: Array<{ record: Buffer[]; line: number }> = [];
  const parserOptions: Options<Buffer[], Buffer[]> = {
    encoding: null,
    delimiter,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
    // Records are taken here, as they are parsed, so that none is lost when the parser fails
    // later in the same chunk (a destroyed stream drops what it buffered); none is passed on.
    on_record: (record, info) => {
      queue.push({ record, line: lines.recordLine(info.bytes) });
      return null;
    },
  };
  const parser = parse(parserOptions as unknown as Options);
  let failure: unknown;
  parser.on('error', (error) => {
    failure ??= error;
  });
  parser.resume();
  let context: Columns | undefined;
  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const { record, line } = queue.shift() as { record: Buffer[]; line: number };
      if (!context) context = headerColumns(record, options, encoding, writer);
      else await takeRecord(record, line, context);
    }
  };
  const feed = async (chunk: Buffer): Promise<void> => {
    for (let at = 0; at < chunk.length && !failure; at += FEED_BYTES) {
      const piece = chunk.subarray(at, at + FEED_BYTES);
      lines.append(piece);
      await new Promise<void>((resolve) => parser.write(piece, () => resolve()));
      await drain();
    }
  };

  try {
    // The BOM is dropped here: csv-parse's `bom` option would switch its output to strings.
    await feed(hasBom ? headBytes.subarray(3) : headBytes);
    while (!failure) {
      const next = await source.next();
      if (next.done) break;
      await feed(next.value);
    }
    if (!failure) {
      await new Promise<void>((resolve) => {
        parser.once('error', () => resolve());
        parser.end(() => resolve());
      });
      await drain();
    }
  } catch (error) {
    if (!(error instanceof AppError) || error.code !== 'PAYLOAD_TOO_LARGE') throw error;
    // Over the size limit: the rows read so far are written, and said.
    await writer.flush();
    throw new AppError(
      error.code,
      `${error.message}; the ${report.rows} rows before the limit were read (${report.imported} imported, ${report.updated} updated) and the rest was not`,
      { details: { limitBytes: CSV_MAX_BYTES, report } },
    );
  }
  await writer.flush();
  if (failure instanceof CsvError) throw malformed(failure, lines.nextStartLine(), report);
  if (failure) throw failure;
  if (!context)
    throw headerInvalid('the file is empty: expected a header line naming the columns (email, name, ...)');
  audiences.logImport(listId, 'csv', report);
  return report;
}
