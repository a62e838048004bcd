import { z } from 'zod';
import { idempotencyKeyOf } from '../core/http/input.js';
import type { HttpApp } from '../core/http/server.js';
import { campaignPatchSchema } from './campaign-edit.js';
import { registerLedgerRoutes } from './campaign-ledger-routes.js';
import {
  CAMPAIGN_STATUSES,
  type CampaignContent,
  campaignContentSchema,
  campaignCreateSchema,
  type Progress,
  RECIPIENT_STATES,
  type RecipientState,
} from './campaign-model.js';
import { type CampaignRow, listCampaignRows } from './campaign-store.js';
import type { Campaigns } from './campaigns.js';

/** `/api/campaigns`: create, progress, control, the ledger and its CSV export, preview and test. */

const tags = ['campaigns'];
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());
const idParams = z.object({ id: z.string().min(1).max(64) });

const countsSchema = z.object(
  Object.fromEntries(RECIPIENT_STATES.map((s) => [s, z.number().int()])) as Record<
    RecipientState,
    z.ZodNumber
  >,
);
const progressSchema = z.object({
  total: z.number().int(),
  counts: countsSchema,
  done: z.number().int().describe('Rows in a final state (sent, failed, bounced, skipped).'),
  ratePerSecond: z.number().describe('Rows settled per second over the last minute.'),
  etaSeconds: z.number().int().nullable().describe('At that rate, while running.'),
});

export const campaignViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(CAMPAIGN_STATUSES),
    listId: z.string().nullable(),
    from: z.string().nullable(),
    subject: z.string(),
    ownerEmail: z.string().nullable(),
    startAt: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    progress: progressSchema,
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .describe('A campaign with its progress.');
export type CampaignView = z.infer<typeof campaignViewSchema>;

export function campaignView(row: CampaignRow, progress: Progress): CampaignView {
  const content = JSON.parse(row.content) as { from?: string; subject: string };
  return {
    id: row.id,
    name: row.name,
    status: row.status as CampaignView['status'],
    listId: row.list_id,
    from: content.from ?? null,
    subject: content.subject,
    ownerEmail: row.owner_email,
    startAt: iso(row.start_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    progress,
    version: Number(row.version),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** Largest inline campaign body: 100,000 recipients with their fields. */
const CREATE_BODY_LIMIT = 64 * 1024 * 1024;

export function registerCampaignRoutes(
  app: HttpApp,
  campaigns: Campaigns,
  options: { isShuttingDown: () => boolean },
): void {
  const db = campaigns.deps.store.db;
  const viewOf = async (row: CampaignRow) => campaignView(row, await campaigns.progress(row));
  app.post(
    '/campaigns',
    {
      bodyLimit: CREATE_BODY_LIMIT,
      schema: {
        summary:
          'Creates a campaign with its recipients (a list, up to 100,000 inline, or both); `start` sends it now or at a time.',
        tags,
        body: campaignCreateSchema,
        response: {
          201: campaignViewSchema.extend({
            recipients: z.object({
              given: z.number().int(),
              written: z.number().int(),
              duplicates: z.number().int(),
            }),
          }),
          200: campaignViewSchema.extend({
            recipients: z.object({
              given: z.number().int(),
              written: z.number().int(),
              duplicates: z.number().int(),
            }),
          }),
        },
      },
    },
    async (request, reply) => {
      const key = idempotencyKeyOf(
        request.headers['idempotency-key'] as string | undefined,
        request.body.idempotencyKey,
      );
      const created = await campaigns.create(
        { ...request.body, ...(key !== undefined ? { idempotencyKey: key } : {}) },
        { source: 'api', ...(request.principal ? { apiKeyId: request.principal.id } : {}) },
      );
      reply.header('location', `/api/campaigns/${created.campaign.id}`);
      if (!created.created) reply.header('idempotent-replayed', 'true');
      return reply
        .status(created.created ? 201 : 200)
        .send({ ...(await viewOf(created.campaign)), recipients: created.recipients });
    },
  );
  app.get(
    '/campaigns',
    {
      schema: {
        summary: 'Campaigns, newest first, with their progress.',
        tags,
        querystring: z.object({
          status: z.enum(CAMPAIGN_STATUSES).optional(),
          before: z.string().max(64).optional().describe('Cursor: the `nextBefore` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(100).default(20),
        }),
        response: {
          200: z.object({ campaigns: z.array(campaignViewSchema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => {
      const { status, before, limit } = request.query;
      const rows = await listCampaignRows(db, {
        limit,
        ...(status ? { status } : {}),
        ...(before ? { before } : {}),
      });
      return {
        campaigns: await Promise.all(rows.map(viewOf)),
        nextBefore: rows.length === limit ? (rows.at(-1) as CampaignRow).id : null,
      };
    },
  );
  app.get(
    '/campaigns/:id',
    {
      schema: {
        summary: 'One campaign: counts per state, rate and ETA.',
        tags,
        params: idParams,
        response: { 200: campaignViewSchema },
      },
    },
    async (request) => viewOf(await campaigns.load(request.params.id)),
  );
  app.patch(
    '/campaigns/:id',
    {
      schema: {
        summary:
          'Edits a draft or scheduled campaign: its content, name, owner and start (`now`, a time, or `null` for a draft again). The recipients are not editable.',
        tags,
        params: idParams,
        body: campaignPatchSchema,
        response: { 200: campaignViewSchema },
      },
    },
    async (request) => viewOf(await campaigns.edit(request.params.id, request.body)),
  );
  app.get(
    '/campaigns/:id/content',
    {
      schema: {
        summary:
          "A campaign's name, owner and content as written (templates, headers, attachments), to edit it.",
        tags,
        params: idParams,
        response: {
          200: campaignContentSchema
            .extend({ name: z.string(), ownerEmail: z.string().nullable(), startAt: z.string().nullable() })
            .describe('What PATCH /api/campaigns/{id} takes, as it now is.'),
        },
      },
    },
    async (request) => {
      const row = await campaigns.load(request.params.id);
      const content = JSON.parse(row.content) as CampaignContent;
      return { ...content, name: row.name, ownerEmail: row.owner_email, startAt: iso(row.start_at) };
    },
  );
  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    app.post(
      `/campaigns/:id/${action}`,
      {
        schema: {
          summary: {
            start: 'Starts a draft or scheduled campaign now.',
            pause:
              'Pauses a campaign: nothing more is handed to the outbox; the rows in flight (at most the window) finish.',
            resume: 'Resumes a paused campaign where it stopped.',
            cancel:
              'Cancels a campaign: its queued rows become skipped (cancelled); the rows in flight finish.',
          }[action],
          tags,
          params: idParams,
          response: { 200: campaignViewSchema },
        },
      },
      async (request) => viewOf(await campaigns.transition(request.params.id, action)),
    );
  }
  app.post(
    '/campaigns/:id/retry-failed',
    {
      schema: {
        summary: 'Sends again to the failed rows only (a new message each).',
        tags,
        params: idParams,
        response: { 200: campaignViewSchema.extend({ requeued: z.number().int() }) },
      },
    },
    async (request) => {
      const { campaign, requeued } = await campaigns.retryFailed(request.params.id);
      return { ...(await viewOf(campaign)), requeued };
    },
  );
  registerLedgerRoutes(app, campaigns, options);
}
