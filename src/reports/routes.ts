import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import { idempotencyKeyOf, optionalBody } from '../core/http/input.js';
import { FRAMED_BODY_HEADERS, framedBody } from '../core/http/pages.js';
import type { HttpApp, Principal } from '../core/http/server.js';
import { registerSettingsRoutes } from '../core/settings/index.js';
import { RUN_STATUSES } from './model.js';
import { ReportRegistry } from './reports.js';
import type { Reports } from './service.js';
import { reportSchema, reportView, runSchema, runView } from './views.js';

/** The reports API: the resource, triggers (API key or the report's trigger token), runs, preview. */

const idParams = z.object({ id: z.string().min(1).max(100).describe('The report id, or its name.') });
const runParams = z.object({ id: z.string().min(1).max(64) });
const TOKEN_HEADER = 'x-report-token';

/** The answer to a trigger: small, like a send's; the run's stages are at `links.self`. */
const acceptedRunSchema = runSchema
  .pick({ id: true, reportId: true, status: true, trigger: true, scheduledFor: true })
  .extend({ links: z.object({ self: z.string(), report: z.string() }) })
  .describe('AcceptedReportRun');

const dataField = z
  .record(z.string(), z.unknown())
  .describe('Data for the templates (`data` in Liquid); required for a report with a `push` source.');

const triggerSchema = optionalBody(
  z
    .strictObject({
      data: dataField.optional(),
      slot: z
        .string()
        .max(64)
        .optional()
        .describe(
          'The scheduled slot this run stands for: `latest`, or an ISO-8601 instant the schedule fires at. A slot runs once, whoever triggers it (a cron job and the scheduler at the same time send one email).',
        ),
      idempotencyKey: z
        .string()
        .min(1)
        .max(255)
        .optional()
        .describe('Repeating the trigger with the same key answers the same run.'),
    })
    .meta({ examples: [{ data: { title: 'Sign-ups', count: 42 } }, { slot: 'latest' }] }),
);

const previewSchema = optionalBody(
  z
    .strictObject({
      data: dataField.optional().describe('Data to render with; default: fetched from the source.'),
    })
    .meta({ examples: [{ data: { title: 'Sign-ups', count: 42 } }] }),
);

const MAX_PREVIEW_DATA = 8000;

/** The `data` query parameter of the preview page: a JSON object, else a VALIDATION_FAILED naming it. */
function previewData(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
    return parsed as Record<string, unknown>;
  throw new AppError('VALIDATION_FAILED', 'data must be a JSON object', {
    details: [{ in: 'querystring', field: 'data', message: 'must be a JSON object' }],
  });
}

/**
 * The trigger token of the report in the path, sent as `X-Report-Token`: valid for its own
 * report's trigger route only. A request with an `Authorization` header is checked as an API key.
 */
function reportTokenAuth(reports: Reports) {
  return async (request: FastifyRequest): Promise<Principal | undefined> => {
    const token = request.headers[TOKEN_HEADER];
    if (typeof token !== 'string') return undefined;
    const { id } = request.params as { id?: string };
    const report = id === undefined ? undefined : await reports.registry.find(id);
    if (!report || !ReportRegistry.tokenMatches(report, token))
      throw new AppError(
        'AUTH_INVALID',
        'the X-Report-Token does not match this report (rotated, or another report)',
      );
    return { kind: 'route_token', id: `report:${report.id}`, name: `trigger token of ${report.name}` };
  };
}

export function registerReportRoutes(app: HttpApp, reports: Reports): void {
  const tags = ['reports'];
  const view = (report: Parameters<typeof reportView>[0]) => reportView(report, reports.nextRunAt(report));

  registerSettingsRoutes(app, {
    path: '/reports',
    listKey: 'reports',
    tags,
    collection: reports.registry,
    view,
    viewSchema: reportSchema,
    summaries: {
      create:
        'Defines a report: schedule, data source, templates, recipients. The answer shows its trigger token once.',
      list: 'Every report.',
      get: 'One report (secrets masked).',
      patch: 'Changes some settings; a new schedule applies at once, in every process.',
      delete: 'Deletes a report and its runs.',
      pause: 'Pauses a report: its schedule stops firing (triggers still run it).',
      resume: 'Resumes a paused report; slots missed while paused are not caught up.',
    },
    created: {
      schema: reportSchema.extend({
        triggerToken: z
          .string()
          .describe('Send as `X-Report-Token` to trigger this report without an API key. Shown once.'),
      }),
      body: (report) => ({ ...view(report), triggerToken: report.secrets.triggerToken ?? '' }),
    },
  });

  app.post(
    '/reports/:id/rotate-token',
    {
      schema: {
        summary: 'Replaces the trigger token; the old one stops working at once.',
        tags,
        params: idParams,
        response: { 200: z.object({ triggerToken: z.string() }) },
      },
    },
    async (request) => {
      const report = await reports.require(request.params.id);
      const rotated = await reports.registry.rotateToken(report.id);
      return { triggerToken: rotated.secrets.triggerToken ?? '' };
    },
  );

  app.post(
    '/reports/:id/runs',
    {
      config: { routeAuth: reportTokenAuth(reports), workLedger: true },
      schema: {
        summary:
          'Runs a report now; answers 202 with the run at once. Authenticate with an API key or `X-Report-Token`.',
        description:
          "The run fetches, renders, queues and sends in the background; follow it at `GET /api/report-runs/{id}`. A cron job or CI runner can call this with the report's trigger token (`X-Report-Token`) instead of an API key.",
        tags,
        params: idParams,
        headers: z.object({
          [TOKEN_HEADER]: z.string().max(200).optional().describe("The report's trigger token."),
          'idempotency-key': z.string().min(1).max(255).optional(),
        }),
        body: triggerSchema,
        response: {
          202: acceptedRunSchema,
          200: acceptedRunSchema.describe('The run that already stands for this slot or key.'),
        },
      },
    },
    async (request, reply) => {
      const report = await reports.require(request.params.id);
      const body = request.body;
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key'], body.idempotencyKey);
      const { run, created } = await reports.trigger(report, {
        ...(body.data !== undefined ? { data: body.data } : {}),
        ...(body.slot !== undefined ? { slot: body.slot } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
      reply.header('location', `/api/report-runs/${run.id}`);
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.status(created ? 202 : 200).send({
        id: run.id,
        reportId: run.reportId,
        status: run.status,
        trigger: run.trigger as 'schedule' | 'manual',
        scheduledFor: run.slotAt === null ? null : new Date(run.slotAt).toISOString(),
        links: { self: `/api/report-runs/${run.id}`, report: `/api/reports/${run.reportId}` },
      });
    },
  );

  app.get(
    '/reports/:id/runs',
    {
      schema: {
        summary: 'Runs of a report, newest first, with their stages.',
        tags,
        params: idParams,
        querystring: z.strictObject({
          status: z.enum(RUN_STATUSES).optional(),
          limit: z.coerce.number().int().min(1).max(200).prefault(50),
          before: z.string().max(64).optional().describe('A run id: runs older than it (the next page).'),
        }),
        response: { 200: z.object({ runs: z.array(runSchema), next: z.string().nullable() }) },
      },
    },
    async (request) => {
      const report = await reports.require(request.params.id);
      const { limit, before, status } = request.query;
      const runs = await reports.listRuns(report, {
        limit,
        ...(before ? { before } : {}),
        ...(status ? { status } : {}),
      });
      return {
        runs: runs.map(runView),
        next: runs.length === limit ? (runs[runs.length - 1]?.id ?? null) : null,
      };
    },
  );

  app.get(
    '/report-runs/:id',
    {
      schema: {
        summary:
          'One run: each stage with its start, duration, outcome, error code and hint; the message and its SMTP reply.',
        tags,
        params: runParams,
        response: { 200: runSchema },
      },
    },
    async (request) => runView(await reports.getRun(request.params.id)),
  );

  app.post(
    '/reports/:id/preview',
    {
      schema: {
        summary: "Renders the report with the given data (or its source's) and sends nothing.",
        tags,
        params: idParams,
        body: previewSchema,
        response: {
          200: z.object({
            subject: z.string(),
            html: z.string().nullable(),
            text: z.string().nullable(),
            attachment: z.object({ filename: z.string(), bytes: z.number(), content: z.string() }).nullable(),
            data: z.record(z.string(), z.unknown()).describe('The data the templates saw.'),
            fetch: z.record(z.string(), z.unknown()),
          }),
        },
      },
    },
    async (request) => {
      const report = await reports.require(request.params.id);
      const preview = await reports.preview(report, request.body.data);
      return {
        subject: preview.subject,
        html: preview.html ?? null,
        text: preview.text ?? null,
        attachment: preview.attachment
          ? {
              filename: preview.attachment.filename,
              bytes: Buffer.byteLength(preview.attachment.content),
              content: preview.attachment.content,
            }
          : null,
        data: preview.data,
        fetch: preview.fetch,
      };
    },
  );

  app.get(
    '/reports/:id/preview.html',
    {
      schema: {
        summary:
          "The report's preview as an HTML page (the dashboard shows it in a sandboxed frame); sends nothing.",
        description:
          "The rendered HTML part, else the text part as preformatted text, with the CSP of the catcher's bodies (no scripts, no requests, sandboxed, framed only by Facteur). The data is `data` when given (a JSON object); else a `push` report uses the data pushed with its newest run that had some (`REPORT_DATA_MISSING` before any: push data first, or `POST /api/reports/{id}/preview` with data), and other sources are fetched as `POST /api/reports/{id}/preview` does. Answers the subject in `X-Report-Subject` (URI-encoded).",
        tags,
        params: idParams,
        querystring: z.strictObject({
          data: z
            .string()
            .max(MAX_PREVIEW_DATA)
            .optional()
            .describe('Data for the templates, as a JSON object; default: as described above.'),
        }),
        produces: ['text/html'],
      },
    },
    async (request, reply) => {
      const report = await reports.require(request.params.id);
      const preview = await reports.previewPage(report, previewData(request.query.data));
      return reply
        .headers({ ...FRAMED_BODY_HEADERS, 'x-report-subject': encodeURIComponent(preview.subject) })
        .send(framedBody(preview));
    },
  );
}
