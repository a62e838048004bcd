import { AppError } from '../core/errors.js';
import { messageOf, renderLiquid } from '../core/liquid.js';
import type { ReportSettings } from './model.js';

/**
 * Rendering a report: subject, HTML and text from their Liquid templates with the run's data,
 * the HTML's CSS inlined for mail clients (juice, loaded with the first report that needs it),
 * and the optional CSV attachment. Pure.
 */

/** What a template sees. */
export interface RenderContext {
  data: Record<string, unknown>;
  report: { name: string };
  run: { id: string; trigger: string; scheduledFor: string | null };
  /** The run's day in the report's time zone, YYYY-MM-DD. */
  date: string;
  /** The run's instant, ISO-8601. */
  now: string;
}

/** The rendered message parts. */
export interface Rendered {
  subject: string;
  html?: string;
  text?: string;
  attachment?: { filename: string; content: string; contentType: string };
}

/** The context of a run at `at` (the slot for a scheduled run). */
export function renderContext(
  settings: ReportSettings,
  data: Record<string, unknown>,
  run: { id: string; trigger: string; slotAt: number | null },
  at: number,
): RenderContext {
  const zone = settings.schedule?.timezone ?? 'UTC';
  const date = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
  return {
    data,
    report: { name: settings.name },
    run: {
      id: run.id,
      trigger: run.trigger,
      scheduledFor: run.slotAt === null ? null : new Date(run.slotAt).toISOString(),
    },
    date,
    now: new Date(at).toISOString(),
  };
}

function render(field: string, template: string, context: RenderContext): string {
  try {
    return renderLiquid(template, context as unknown as Record<string, unknown>);
  } catch (error) {
    throw new AppError(
      'REPORT_RENDER_FAILED',
      `${field}: the template failed to render: ${messageOf(error)}`,
      {
        retryable: false,
        details: { field },
        cause: error,
      },
    );
  }
}

/** Renders every part; REPORT_RENDER_FAILED names the template that failed. */
export async function renderReport(settings: ReportSettings, context: RenderContext): Promise<Rendered> {
  const subject = render('subject', settings.subject, context)
    .replace(/[\r\n]+/g, ' ')
    .trim();
  if (subject.length === 0)
    throw new AppError('REPORT_RENDER_FAILED', 'subject: the template rendered an empty subject', {
      retryable: false,
    });
  const rendered: Rendered = { subject: subject.slice(0, 998) };
  if (settings.html !== undefined) {
    const html = render('html', settings.html, context);
    rendered.html = settings.inlineCss ? await inlineCss(html) : html;
  }
  if (settings.text !== undefined) rendered.text = render('text', settings.text, context);
  if (settings.attachCsv) {
    const rows = pathValue(context.data, settings.attachCsv.rows);
    if (!Array.isArray(rows)) {
      throw new AppError(
        'REPORT_RENDER_FAILED',
        `attachCsv.rows: data.${settings.attachCsv.rows} is not an array of rows`,
        { retryable: false },
      );
    }
    rendered.attachment = {
      filename: settings.attachCsv.filename,
      content: toCsv(rows),
      contentType: 'text/csv',
    };
  }
  return rendered;
}

/** juice and its HTML parser (about a hundred modules) load with the first report that inlines, not at start. */
let juiceModule: ReturnType<typeof loadJuice> | undefined;
const loadJuice = () => import('juice');

async function inlineCss(html: string): Promise<string> {
  juiceModule ??= loadJuice();
  const { default: juice } = await juiceModule;
  try {
    return juice(html, {
      removeStyleTags: true,
      preserveMediaQueries: true,
      webResources: { images: false },
    });
  } catch (error) {
    throw new AppError('REPORT_RENDER_FAILED', `html: the CSS could not be inlined: ${messageOf(error)}`, {
      retryable: false,
    });
  }
}

function pathValue(data: Record<string, unknown>, path: string): unknown {
  let value: unknown = data;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Rows as CSV (RFC 4180, CRLF): the columns are the keys of every row in first-seen order; a
 * cell that starts like a formula (=, +, -, @) is prefixed with a quote so that spreadsheets
 * show it instead of running it.
 */
export function toCsv(rows: readonly unknown[]): string {
  const columns: string[] = [];
  const seen = new Set<string>();
  const objects = rows.map((row) =>
    typeof row === 'object' && row !== null ? row : { value: row },
  ) as Array<Record<string, unknown>>;
  for (const row of objects) {
    for (const key of Object.keys(row)) {
      if (!seen.has(key)) {
        seen.add(key);
        columns.push(key);
      }
    }
  }
  const lines = [columns.map(cell).join(',')];
  for (const row of objects) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
