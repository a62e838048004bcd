import { z } from 'zod';
import { AppError } from '../core/errors.js';
import {
  type CampaignContent,
  type CampaignStatus,
  campaignContentSchema,
  campaignCreateSchema,
  MAX_ATTACHMENT_BYTES,
} from './campaign-model.js';
import { type CampaignRow, getCampaignRow, updateCampaign } from './campaign-store.js';
import type { CampaignsDeps } from './campaigns.js';
import { enqueueDispatch } from './dispatch.js';

/**
 * Editing a campaign that has not started (`draft` or `scheduled`): its content, name, owner and
 * start time, with the validation of a create. The recipients are not editable: the ledger is
 * written once, when the campaign is created.
 */

/** The statuses a campaign can be edited in. */
export const EDITABLE_STATUSES: readonly CampaignStatus[] = ['draft', 'scheduled'];

const content = campaignContentSchema.shape;
const create = campaignCreateSchema.shape;

/** The body of `PATCH /api/campaigns/:id`: every field optional; `null` removes an optional one. */
export const campaignPatchSchema = z
  .strictObject({
    name: create.name.optional(),
    from: content.from.unwrap().nullable().optional(),
    replyTo: content.replyTo.unwrap().nullable().optional(),
    subject: content.subject.optional(),
    html: content.html.unwrap().nullable().optional(),
    text: content.text.unwrap().nullable().optional(),
    headers: content.headers.unwrap().nullable().optional(),
    attachments: content.attachments.unwrap().nullable().optional(),
    ownerEmail: create.ownerEmail.unwrap().nullable().optional(),
    start: create.start
      .unwrap()
      .nullable()
      .optional()
      .describe('`now` starts it, an ISO time schedules it, `null` makes it a draft again.'),
  })
  .superRefine((input, ctx) => {
    const bytes = (input.attachments ?? []).reduce(
      (sum, a) => sum + Math.floor((a.content.length * 3) / 4),
      0,
    );
    if (bytes > MAX_ATTACHMENT_BYTES)
      ctx.addIssue({ code: 'custom', path: ['attachments'], message: `total over 10 MB (${bytes} bytes)` });
  })
  .meta({ examples: [{ subject: 'The general meeting, {{ name }}' }] });
export type CampaignPatch = z.infer<typeof campaignPatchSchema>;

const CONTENT_FIELDS = ['from', 'replyTo', 'subject', 'html', 'text', 'headers', 'attachments'] as const;

/** The content after a patch: given fields replace, `null` removes, omitted ones stay. */
export function patchedContent(before: CampaignContent, patch: CampaignPatch): CampaignContent {
  const next: Record<string, unknown> = { ...before };
  for (const field of CONTENT_FIELDS) {
    const value = patch[field];
    if (value === null) delete next[field];
    else if (value !== undefined) next[field] = value;
  }
  return next as CampaignContent;
}

/**
 * Applies a patch to a draft or scheduled campaign in one transaction; any other status is
 * CAMPAIGN_NOT_EDITABLE and nothing changes.
 */
export async function editCampaign(
  deps: Pick<CampaignsDeps, 'store' | 'clock' | 'logger'>,
  id: string,
  patch: CampaignPatch,
): Promise<CampaignRow> {
  const { store, clock } = deps;
  const refuse = (status: string) =>
    new AppError(
      'CAMPAIGN_NOT_EDITABLE',
      `cannot edit a campaign that is ${status}; only a draft or a scheduled one`,
      {
        details: { status, allowedFrom: EDITABLE_STATUSES },
      },
    );
  const before = await getCampaignRow(store.db, id);
  if (!before) throw new AppError('NOT_FOUND', `no campaign with id ${id}`);
  if (!EDITABLE_STATUSES.includes(before.status as CampaignStatus)) throw refuse(before.status);
  const next = patchedContent(JSON.parse(before.content) as CampaignContent, patch);
  if (next.text === undefined && next.html === undefined)
    throw new AppError('VALIDATION_FAILED', 'text or html is required', {
      details: [{ in: 'body', field: 'text', message: 'text or html is required' }],
    });
  const now = clock.now();
  const row: Partial<CampaignRow> = { content: JSON.stringify(next) };
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.ownerEmail !== undefined) row.owner_email = patch.ownerEmail;
  let runAt: number | undefined;
  if (patch.start === null) Object.assign(row, { status: 'draft', start_at: null });
  else if (patch.start !== undefined) {
    const at = patch.start === 'now' ? now : Date.parse(patch.start);
    runAt = Math.max(at, now);
    Object.assign(
      row,
      at > now
        ? { status: 'scheduled', start_at: at }
        : { status: 'running', start_at: patch.start === 'now' ? null : at, started_at: now },
    );
  }
  const changed = await store.transaction(async (tx) => {
    if (!(await updateCampaign(tx, id, row, now, EDITABLE_STATUSES))) return false;
    // A dispatch queued for an earlier time finds the campaign not due (or a draft) and stops.
    if (runAt !== undefined) await enqueueDispatch(tx, id, now, runAt);
    return true;
  });
  const after = (await getCampaignRow(store.db, id)) as CampaignRow;
  if (!changed) throw refuse(after.status);
  deps.logger.info(
    { event: 'campaign.edited', campaignId: id, status: after.status, fields: Object.keys(patch) },
    'campaign edited',
  );
  return after;
}
