import { Readable } from 'node:stream';
import { z } from 'zod';
import { FRAMED_BODY_HEADERS, framedBody } from '../core/http/pages.js';
import type { HttpApp } from '../core/http/server.js';
import { RECIPIENT_STATES, type RecipientState } from './campaign-model.js';
import { type RecipientRow, recipientsInState } from './campaign-store.js';
import { streamCampaignEvents } from './campaign-stream.js';
import type { Campaigns } from './campaigns.js';

/** `/api/campaigns/:id/...`: who received it (the ledger and its CSV export), preview, test, events. */

const tags = ['campaigns'];
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());
const idParams = z.object({ id: z.string().min(1).max(64) });

const recipientSchema = z.object({
  seq: z.number().int().describe('Position in the campaign; the cursor of the next page.'),
  address: z.string(),
  name: z.string().nullable(),
  state: z.enum(RECIPIENT_STATES),
  reason: z.string().nullable().describe('Why: the skip reason, the error code, the bounce status.'),
  detail: z.string().nullable().describe("The server's reply or the bounce diagnostic."),
  smtpCode: z.number().int().nullable(),
  messageId: z.string().nullable().describe('The outbox message (GET /api/messages/:id has every attempt).'),
  messageIdHeader: z.string().nullable(),
  transport: z.string().nullable(),
  attempts: z.number().int(),
  settledAt: z.string().nullable(),
  updatedAt: z.string(),
});

function recipientView(row: RecipientRow): z.infer<typeof recipientSchema> {
  return {
    seq: Number(row.seq),
    address: row.address,
    name: row.name,
    state: row.state as RecipientState,
    reason: row.reason,
    detail: row.detail,
    smtpCode: row.smtp_code === null ? null : Number(row.smtp_code),
    messageId: row.message_id,
    messageIdHeader: row.message_id_header,
    transport: row.transport,
    attempts: Number(row.attempts),
    settledAt: iso(row.settled_at),
    updatedAt: iso(row.updated_at) as string,
  };
}

/** One CSV cell: quoted when it holds a delimiter, a quote or a line break; formulas neutralised. */
function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const CSV_COLUMNS = [
  'address',
  'name',
  'state',
  'reason',
  'detail',
  'smtp_code',
  'message_id',
  'transport',
  'attempts',
  'settled_at',
] as const;

/** The ledger (pages and CSV), preview, test and the progress stream. */
export function registerLedgerRoutes(
  app: HttpApp,
  campaigns: Campaigns,
  options: { isShuttingDown: () => boolean },
): void {
  const db = campaigns.deps.store.db;
  const stateQuery = z.enum(RECIPIENT_STATES).optional().describe('Only rows in this state.');
  app.get(
    '/campaigns/:id/recipients',
    {
      schema: {
        summary: 'The ledger: who received it, who did not and why, in campaign order.',
        tags,
        params: idParams,
        querystring: z.object({
          state: stateQuery,
          after: z.coerce
            .number()
            .int()
            .min(-1)
            .optional()
            .describe('Cursor: the `nextAfter` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: z.object({ recipients: z.array(recipientSchema), nextAfter: z.number().int().nullable() }),
        },
      },
    },
    async (request) => {
      await campaigns.load(request.params.id);
      const { state, after, limit } = request.query;
      const rows = await recipientsInState(db, request.params.id, {
        limit,
        ...(state ? { state } : {}),
        ...(after !== undefined ? { afterSeq: after } : {}),
      });
      return {
        recipients: rows.map(recipientView),
        nextAfter: rows.length === limit ? Number((rows.at(-1) as RecipientRow).seq) : null,
      };
    },
  );
  app.get(
    '/campaigns/:id/recipients.csv',
    {
      schema: {
        summary: 'The ledger as CSV (streamed), optionally one state only.',
        tags,
        params: idParams,
        querystring: z.object({ state: stateQuery }),
        produces: ['text/csv'],
        response: { 200: z.string().describe('CSV, header line first.') },
      },
    },
    async (request, reply) => {
      const campaign = await campaigns.load(request.params.id);
      const { state } = request.query;
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header(
        'content-disposition',
        `attachment; filename="campaign-${campaign.id}${state ? `-${state}` : ''}.csv"`,
      );
      async function* lines() {
        yield `${CSV_COLUMNS.join(',')}\r\n`;
        let after: number | undefined;
        for (;;) {
          const rows = await recipientsInState(db, campaign.id, {
            limit: 1000,
            ...(state ? { state } : {}),
            ...(after !== undefined ? { afterSeq: after } : {}),
          });
          if (rows.length === 0) return;
          yield rows
            .map((r) => {
              const v = recipientView(r);
              return `${[v.address, v.name, v.state, v.reason, v.detail, v.smtpCode, v.messageId, v.transport, v.attempts, v.settledAt].map(csvCell).join(',')}\r\n`;
            })
            .join('');
          after = Number((rows.at(-1) as RecipientRow).seq);
        }
      }
      // Streamed page by page: the schema's string is the OpenAPI shape, not the value.
      return reply.send(Readable.from(lines()) as unknown as string);
    },
  );
  app.post(
    '/campaigns/:id/preview',
    {
      schema: {
        summary: 'Renders the campaign for one recipient (by address) or the first one.',
        tags,
        params: idParams,
        body: z.strictObject({ address: z.string().max(320).optional() }).optional(),
        response: {
          200: z.object({
            to: z.string(),
            from: z.string(),
            subject: z.string(),
            html: z.string().optional(),
            text: z.string().optional(),
          }),
        },
      },
    },
    async (request) => campaigns.preview(request.params.id, request.body?.address),
  );
  app.get(
    '/campaigns/:id/preview.html',
    {
      schema: {
        summary:
          'The campaign rendered for one recipient (by address) or the first one, as an HTML page (the dashboard shows it in a sandboxed frame).',
        description:
          'The rendered HTML body, else the text part. The answer carries a CSP of its own: no scripts, no requests anywhere, sandboxed, framed only by Facteur itself.',
        tags,
        params: idParams,
        querystring: z.object({
          address: z.string().max(320).optional().describe('The recipient; the first one when omitted.'),
        }),
        produces: ['text/html'],
      },
    },
    async (request, reply) => {
      const rendered = await campaigns.preview(request.params.id, request.query.address);
      return reply.headers(FRAMED_BODY_HEADERS).send(framedBody(rendered));
    },
  );
  app.post(
    '/campaigns/:id/test',
    {
      schema: {
        summary:
          'Sends the campaign, rendered for one recipient (`as`, default the first), to one address only.',
        tags,
        params: idParams,
        body: z.strictObject({
          to: z.email('must be an email address'),
          as: z.string().max(320).optional().describe('Render with this recipient’s fields.'),
        }),
        response: { 202: z.object({ messageId: z.string() }) },
      },
    },
    async (request, reply) =>
      reply.status(202).send(await campaigns.test(request.params.id, request.body.to, request.body.as)),
  );
  app.get(
    '/campaigns/:id/events',
    {
      schema: {
        summary:
          'Server-Sent Events: `progress` (counts, rate, ETA) when it changes, then `end` when the campaign is finished or cancelled.',
        tags,
        params: idParams,
        produces: ['text/event-stream'],
        response: { 200: z.string().describe('text/event-stream') },
      },
    },
    async (request, reply) => {
      const row = await campaigns.load(request.params.id);
      return streamCampaignEvents(campaigns, row, request, reply, options.isShuttingDown);
    },
  );
}
