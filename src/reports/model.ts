import { z } from 'zod';
import { durationSchema } from '../core/duration.js';
import { parseMailbox } from '../core/email-address.js';
import { templateProblem } from '../core/liquid.js';
import { cronProblem, isValidTimeZone } from './schedule.js';

/**
 * Scheduled reports as the API takes them, validated on write, and the shape of a run. Pure:
 * no I/O. A report is: when (a cron expression in a time zone, or trigger only), what (a data
 * source fetched at run time), how (Liquid templates for subject, HTML and text), to whom, and
 * what to watch (misfire grace, deadline, a Healthchecks-style ping URL).
 */

/** Where a report stands: paused reports do not run on their schedule (triggers still work). */
export type ReportStatus = 'active' | 'paused';

/** The stages of a run, in order. */
export const STAGES = ['fetch', 'render', 'queue', 'send'] as const;
export type StageName = (typeof STAGES)[number];

/** Where a stage stands. `retrying`: it failed and the run tries again at `retryAt`. */
export type StageOutcome = 'pending' | 'running' | 'ok' | 'failed' | 'retrying' | 'skipped';

/** One stage of a run, as stored and shown. Times are ms since the epoch. */
export interface Stage {
  stage: StageName;
  outcome: StageOutcome;
  startedAt: number | null;
  ms: number | null;
  attempts: number;
  errorCode: string | null;
  message: string | null;
  hint: string | null;
  /** Facts worth showing: rows fetched, bytes rendered, the message id, the SMTP reply. */
  detail: Record<string, unknown>;
  retryAt?: number | null;
}

/** Where a run stands. `sending`: its message is in the outbox, waiting for the transport. */
export const RUN_STATUSES = ['queued', 'running', 'sending', 'sent', 'failed', 'missed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['sent', 'failed', 'missed']);

/** How a run came to be. */
export type RunTrigger = 'schedule' | 'manual';

/** Stages of a new run. */
export function freshStages(): Stage[] {
  return STAGES.map((stage) => ({
    stage,
    outcome: 'pending',
    startedAt: null,
    ms: null,
    attempts: 0,
    errorCode: null,
    message: null,
    hint: null,
    detail: {},
  }));
}

const MAX_RECIPIENTS = 50;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;

const mailbox = z.string().superRefine((value, ctx) => {
  const parsed = parseMailbox(value);
  if ('problem' in parsed)
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value.slice(0, 80))} ${parsed.problem}` });
});

const template = (max: number) =>
  z
    .string()
    .max(max, `is longer than ${max} characters`)
    .superRefine((value, ctx) => {
      const problem = templateProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const scheduleSchema = z
  .strictObject({
    cron: z
      .string()
      .max(200)
      .superRefine((value, ctx) => {
        const problem = cronProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('When to run, e.g. "0 19 * * *" (19:00 every day) or "0 8 * * 1-5".'),
    timezone: z
      .string()
      .max(64)
      .refine(isValidTimeZone, 'is not an IANA time zone name; use one such as "Europe/Paris" or "UTC"')
      .prefault('UTC')
      .describe('IANA time zone the cron expression is read in.'),
    misfireGrace: durationSchema(0, 7 * 86_400_000)
      .prefault('1h')
      .describe(
        'If Facteur was down at the scheduled time, it runs the report once on start while this long has not passed; later, the run is recorded `missed`.',
      ),
    deadline: durationSchema(60_000, 7 * 86_400_000)
      .optional()
      .describe('A run not sent this long after its scheduled time raises an alert.'),
  })
  .describe('Omit (or null) for a report that runs only when triggered.');

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'must be an HTTP header name');

const httpSource = z.strictObject({
  type: z.literal('http'),
  url: z.string().max(2048).describe('An http(s) URL answering JSON; checked by the SSRF guard.'),
  headers: z
    .record(
      headerName,
      z
        .string()
        .max(4096)
        .refine((v) => !/[\r\n]/.test(v), 'must not contain line breaks'),
    )
    .optional()
    .describe('Extra request headers; their values are kept encrypted and never shown.'),
  bearerToken: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe('Sent as `Authorization: Bearer`; kept encrypted.'),
  timeout: durationSchema(100, 120_000).prefault('10s'),
  retries: z.number().int().min(0).max(5).prefault(2).describe('Tries after the first when the fetch fails.'),
});

const sqlSource = z.strictObject({
  type: z.literal('sql'),
  url: z
    .string()
    .max(2048)
    .describe(
      'postgres://user:pass@host/db or sqlite:/path/file.db (under FACTEUR_REPORT_SQLITE_DIR); kept encrypted.',
    ),
  query: z
    .string()
    .min(1)
    .max(65_536)
    .superRefine((value, ctx) => {
      const problem = readOnlyQueryProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      'One read-only statement (SELECT, WITH ... SELECT, VALUES); it runs in a read-only transaction.',
    ),
  timeout: durationSchema(100, 300_000).prefault('10s').describe('Statement timeout.'),
  maxRows: z.number().int().min(1).max(100_000).prefault(1000).describe('Rows beyond this are refused.'),
  retries: z.number().int().min(0).max(5).prefault(2),
});

const dataSchema = z
  .discriminatedUnion('type', [
    httpSource,
    sqlSource,
    z.strictObject({ type: z.literal('push') }).describe('Data comes in the trigger request (`data`).'),
    z.strictObject({ type: z.literal('none') }),
  ])
  .describe('Where the report gets its data at run time.');

const attachCsvSchema = z.strictObject({
  filename: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}\.csv$/, 'must be a file name ending in .csv')
    .prefault('report.csv'),
  rows: z
    .string()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/,
      'must be a dotted path such as rows or stats.daily',
    )
    .prefault('rows')
    .describe('Where the rows are in the data: an array of objects.'),
});

const reportShape = {
  description: z.string().max(500).optional(),
  schedule: scheduleSchema.nullable().prefault(null),
  to: z.array(mailbox).min(1, 'needs at least one recipient').max(MAX_RECIPIENTS),
  cc: z.array(mailbox).max(MAX_RECIPIENTS).prefault([]),
  bcc: z.array(mailbox).max(MAX_RECIPIENTS).prefault([]),
  from: mailbox.optional().describe('Sender; FACTEUR_MAIL_FROM when omitted.'),
  replyTo: mailbox.optional(),
  subject: template(998).refine((v) => v.trim().length > 0, 'must not be empty'),
  html: template(262_144)
    .optional()
    .describe('Liquid; CSS is inlined for mail clients unless inlineCss is false.'),
  text: template(262_144).optional().describe('Liquid. At least one of html and text is required.'),
  inlineCss: z.boolean().prefault(true),
  data: dataSchema.prefault({ type: 'none' }),
  attachCsv: attachCsvSchema.nullable().prefault(null).describe('Attach rows of the data as a CSV file.'),
  pingUrl: z
    .string()
    .max(2048)
    .nullable()
    .prefault(null)
    .describe(
      'Healthchecks-style ping URL: `/start` when a run starts, the URL itself on success, `/fail` on failure. Kept encrypted.',
    ),
};

const EXAMPLE = {
  name: 'daily-stats',
  schedule: { cron: '0 19 * * *', timezone: 'Europe/Paris' },
  to: ['team@example.com'],
  subject: 'Daily report {{ date }}',
  html: '<h1>{{ data.title }}</h1><p>{{ data.count }} new sign-ups</p>',
  data: { type: 'push' },
};

/** The create form, with its defaults. */
export const reportCreateSchema = z
  .strictObject({
    name: z.string().regex(NAME, 'must be 1 to 100 letters, digits, spaces, dots, dashes or underscores'),
    ...reportShape,
  })
  .superRefine((input, ctx) => {
    if (input.html === undefined && input.text === undefined)
      ctx.addIssue({ code: 'custom', path: ['html'], message: 'html or text is required' });
  })
  .meta({ examples: [{ ...EXAMPLE, schedule: null }] });

/** A patch: any subset of the settings. */
export const reportPatchSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME, 'must be 1 to 100 letters, digits, spaces, dots, dashes or underscores')
      .optional(),
    description: reportShape.description,
    schedule: scheduleSchema.nullable().optional(),
    to: reportShape.to.optional(),
    cc: z.array(mailbox).max(MAX_RECIPIENTS).optional(),
    bcc: z.array(mailbox).max(MAX_RECIPIENTS).optional(),
    from: reportShape.from,
    replyTo: reportShape.replyTo,
    subject: reportShape.subject.optional(),
    html: reportShape.html,
    text: reportShape.text,
    inlineCss: z.boolean().optional(),
    data: dataSchema.optional(),
    attachCsv: attachCsvSchema.nullable().optional(),
    pingUrl: z.string().max(2048).nullable().optional(),
  })
  .meta({ examples: [{ subject: 'Daily report for {{ date }}' }] });

export type ReportInput = z.infer<typeof reportCreateSchema>;
export type ReportPatch = z.infer<typeof reportPatchSchema>;
export type DataSourceInput = ReportInput['data'];

/** The data source as stored: secrets (token, header values, the SQL URL) are held apart. */
export type DataSource =
  | {
      type: 'http';
      url: string;
      headerNames: string[];
      bearerToken: boolean;
      timeoutMs: number;
      retries: number;
    }
  | {
      type: 'sql';
      dialect: 'postgres' | 'sqlite';
      target: string;
      query: string;
      timeoutMs: number;
      maxRows: number;
      retries: number;
    }
  | { type: 'push' }
  | { type: 'none' };

/** What a report stores in clear. */
export interface ReportSettings {
  name: string;
  description?: string;
  schedule: { cron: string; timezone: string; misfireGraceMs: number; deadlineMs: number | null } | null;
  /** When the schedule was last set: slots before it were never due. */
  scheduleSince: number | null;
  to: string[];
  cc: string[];
  bcc: string[];
  from?: string;
  replyTo?: string;
  subject: string;
  html?: string;
  text?: string;
  inlineCss: boolean;
  data: DataSource;
  attachCsv: { filename: string; rows: string } | null;
  /** Whether a ping URL is set (the URL is a secret: it lets anyone ping). */
  ping: boolean;
}

/** What a report keeps sealed. */
export interface ReportSecrets {
  bearerToken?: string;
  headers?: Record<string, string>;
  sqlUrl?: string;
  pingUrl?: string;
}

/**
 * Why `query` may not be read-only, or null. A conservative lexical check on write (one
 * statement, starting with SELECT, WITH, VALUES or TABLE, no writing or locking keyword outside
 * strings and comments); the query also runs in a read-only transaction, which is the guarantee.
 */
export function readOnlyQueryProblem(query: string): string | null {
  const code = stripLiterals(query).trim().replace(/;\s*$/, '');
  if (code.includes(';')) return 'must be a single statement (no `;` between statements)';
  const first = /^\(*\s*([a-z]+)/i.exec(code)?.[1]?.toLowerCase();
  if (!first || !['select', 'with', 'values', 'table'].includes(first))
    return 'must be a read-only query starting with SELECT, WITH, VALUES or TABLE';
  const words = new Set(code.toLowerCase().match(/[a-z_]+/g) ?? []);
  for (const word of WRITING_WORDS) {
    if (words.has(word))
      return `must be read-only: \`${word.toUpperCase()}\` is not allowed in a report query`;
  }
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/i.test(code))
    return 'must be read-only: row locks (FOR UPDATE, FOR SHARE) are not allowed';
  return null;
}

const WRITING_WORDS = [
  'insert',
  'update',
  'delete',
  'merge',
  'upsert',
  'replace',
  'create',
  'drop',
  'alter',
  'truncate',
  'grant',
  'revoke',
  'copy',
  'attach',
  'detach',
  'pragma',
  'vacuum',
  'reindex',
  'call',
  'lock',
  'into',
  'nextval',
  'setval',
];

/** The query with string literals, quoted identifiers and comments blanked out. */
function stripLiterals(query: string): string {
  return query
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '""')
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''");
}
