import { z } from 'zod';
import { formatDuration } from '../core/duration.js';
import { RUN_STATUSES, STAGES } from './model.js';
import type { Report } from './reports.js';
import type { Run } from './store.js';

/** Reports and runs as the API shows them: secrets masked, times ISO-8601. */

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

const MASK = '••••••••';

export const stageSchema = z.object({
  stage: z.enum(STAGES),
  outcome: z.enum(['pending', 'running', 'ok', 'failed', 'retrying', 'skipped']),
  startedAt: z.string().nullable(),
  ms: z.number().nullable(),
  attempts: z.number(),
  errorCode: z.string().nullable(),
  message: z.string().nullable(),
  hint: z.string().nullable().describe('What to do about the failure.'),
  detail: z.record(z.string(), z.unknown()),
  retryAt: z.string().nullable(),
});

export const runSchema = z
  .object({
    id: z.string(),
    reportId: z.string(),
    trigger: z.enum(['schedule', 'manual']),
    scheduledFor: z.string().nullable().describe('The scheduled slot the run stands for.'),
    status: z.enum(RUN_STATUSES),
    stages: z.array(stageSchema),
    messageId: z.string().nullable(),
    smtpResponse: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string().nullable() }).nullable(),
    note: z.string().nullable(),
    deadlineAt: z.string().nullable(),
    idempotencyKey: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    links: z.object({ self: z.string(), report: z.string(), message: z.string().nullable() }),
  })
  .describe('ReportRun');

export function runView(run: Run): z.infer<typeof runSchema> {
  return {
    id: run.id,
    reportId: run.reportId,
    trigger: run.trigger as 'schedule' | 'manual',
    scheduledFor: iso(run.slotAt),
    status: run.status,
    stages: run.stages.map((s) => ({
      stage: s.stage,
      outcome: s.outcome,
      startedAt: iso(s.startedAt),
      ms: s.ms,
      attempts: s.attempts,
      errorCode: s.errorCode,
      message: s.message,
      hint: s.hint,
      detail: s.detail,
      retryAt: iso(s.retryAt),
    })),
    messageId: run.messageId,
    smtpResponse: run.smtpResponse,
    error: run.errorCode ? { code: run.errorCode, message: run.errorMessage } : null,
    note: run.note,
    deadlineAt: iso(run.deadlineAt),
    idempotencyKey: run.idempotencyKey,
    createdAt: iso(run.createdAt) as string,
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    links: {
      self: `/api/report-runs/${run.id}`,
      report: `/api/reports/${run.reportId}`,
      message: run.messageId ? `/api/messages/${run.messageId}` : null,
    },
  };
}

const dataViewSchema = z.union([
  z.object({
    type: z.literal('http'),
    url: z.string(),
    headers: z.record(z.string(), z.string()).describe('Header names; values are never shown.'),
    bearerToken: z.string().nullable(),
    timeout: z.string(),
    retries: z.number(),
  }),
  z.object({
    type: z.literal('sql'),
    url: z.string().describe('The database, without credentials.'),
    query: z.string(),
    timeout: z.string(),
    maxRows: z.number(),
    retries: z.number(),
  }),
  z.object({ type: z.enum(['push', 'none']) }),
]);

export const reportSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(['active', 'paused']),
    description: z.string().nullable(),
    schedule: z
      .object({
        cron: z.string(),
        timezone: z.string(),
        misfireGrace: z.string(),
        deadline: z.string().nullable(),
      })
      .nullable(),
    nextRunAt: z
      .string()
      .nullable()
      .describe('The next scheduled slot (null without a schedule or while paused).'),
    to: z.array(z.string()),
    cc: z.array(z.string()),
    bcc: z.array(z.string()),
    from: z.string().nullable(),
    replyTo: z.string().nullable(),
    subject: z.string(),
    html: z.string().nullable(),
    text: z.string().nullable(),
    inlineCss: z.boolean(),
    data: dataViewSchema,
    attachCsv: z.object({ filename: z.string(), rows: z.string() }).nullable(),
    pingUrl: z.string().nullable().describe('Masked: only the origin is shown.'),
    triggerToken: z.string().nullable().describe('Masked; shown in full only when created or rotated.'),
    secretsProblem: z.string().optional(),
    version: z.number(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .describe('Report');

export function reportView(report: Report, nextRunAt: number | null): z.infer<typeof reportSchema> {
  const { settings: s, secrets } = report;
  const data = s.data;
  return {
    id: report.id,
    name: report.name,
    status: report.status,
    description: s.description ?? null,
    schedule: s.schedule
      ? {
          cron: s.schedule.cron,
          timezone: s.schedule.timezone,
          misfireGrace: formatDuration(s.schedule.misfireGraceMs),
          deadline: s.schedule.deadlineMs === null ? null : formatDuration(s.schedule.deadlineMs),
        }
      : null,
    nextRunAt: iso(nextRunAt),
    to: s.to,
    cc: s.cc,
    bcc: s.bcc,
    from: s.from ?? null,
    replyTo: s.replyTo ?? null,
    subject: s.subject,
    html: s.html ?? null,
    text: s.text ?? null,
    inlineCss: s.inlineCss,
    data:
      data.type === 'http'
        ? {
            type: 'http',
            url: data.url,
            headers: Object.fromEntries(data.headerNames.map((h) => [h, MASK])),
            bearerToken: data.bearerToken ? MASK : null,
            timeout: formatDuration(data.timeoutMs),
            retries: data.retries,
          }
        : data.type === 'sql'
          ? {
              type: 'sql',
              url: `${data.dialect === 'sqlite' ? 'sqlite:' : 'postgres://'}${data.target}`,
              query: data.query,
              timeout: formatDuration(data.timeoutMs),
              maxRows: data.maxRows,
              retries: data.retries,
            }
          : { type: data.type },
    attachCsv: s.attachCsv,
    pingUrl: secrets.pingUrl ? `${new URL(secrets.pingUrl).origin}/${MASK}` : s.ping ? MASK : null,
    triggerToken: secrets.triggerToken ? `${secrets.triggerToken.slice(0, 4)}${MASK}` : null,
    ...(report.secretsProblem ? { secretsProblem: report.secretsProblem } : {}),
    version: report.version,
    createdAt: iso(report.createdAt) as string,
    updatedAt: iso(report.updatedAt) as string,
  };
}
