import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import {
  type FieldError,
  fieldErrorsFromIssue,
  type IssueLike,
  validationError,
} from '../core/validation.js';
import {
  type CampaignContent,
  type CampaignInput,
  type CampaignStatus,
  campaignHash,
  inlineRecipientSchema,
} from './campaign-model.js';
import {
  type CampaignRow,
  copyListRecipients,
  getCampaignRow,
  insertCampaign,
  insertRecipients,
  type NewRecipient,
  updateCampaign,
} from './campaign-store.js';
import type { CampaignOrigin, CampaignsDeps, CreatedCampaign } from './campaigns.js';
import { enqueueDispatch } from './dispatch.js';
import { validateContact } from './model.js';
import { contactCounts } from './store.js';

/**
 * Creating a campaign: its recipients validated and de-duplicated, then the campaign and its
 * whole ledger (inline recipients, then the list's contacts copied by the database) in one
 * transaction, so that a 201 means every recipient is recorded and nothing is half-created.
 */

/** Creates a campaign with its ledger in one transaction; enqueues its dispatch when it starts now or at a time. */
export async function createCampaign(
  deps: Pick<CampaignsDeps, 'store' | 'clock' | 'logger' | 'lists'>,
  input: CampaignInput,
  origin: CampaignOrigin,
): Promise<CreatedCampaign> {
  const { store, clock } = deps;
  const scope = origin.apiKeyId ?? origin.source;
  const hash = campaignHash(input);
  const key = input.idempotencyKey ?? null;
  const inline = inlineRecipients(input);
  if (input.listId !== undefined) await deps.lists.load(input.listId);
  const startAt = input.start === undefined || input.start === 'now' ? null : Date.parse(input.start);
  const id = uuidv7();
  const now = clock.now();
  const status: CampaignStatus =
    input.start === undefined ? 'draft' : startAt !== null && startAt > now ? 'scheduled' : 'running';
  const content: CampaignContent = {
    ...(input.from ? { from: input.from } : {}),
    ...(input.replyTo ? { replyTo: input.replyTo } : {}),
    subject: input.subject,
    ...(input.html !== undefined ? { html: input.html } : {}),
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.headers ? { headers: input.headers } : {}),
    ...(input.attachments ? { attachments: input.attachments } : {}),
  };
  const row: CampaignRow = {
    id,
    name: input.name,
    status,
    list_id: input.listId ?? null,
    content: JSON.stringify(content),
    owner_email: input.ownerEmail ?? null,
    start_at: startAt,
    started_at: status === 'running' ? now : null,
    finished_at: null,
    total: 0,
    api_key_id: origin.apiKeyId ?? null,
    idempotency_scope: scope,
    idempotency_key: key,
    request_hash: hash,
    stalled_at: null,
    version: 1,
    created_at: now,
    updated_at: now,
  };
  let given = inline.recipients.length + inline.duplicates;
  let written = 0;
  const result = await store.transaction(async (tx) => {
    const inserted = await insertCampaign(tx, row);
    if (!inserted.created) return inserted;
    written += await insertRecipients(tx, id, inline.recipients, 0, now);
    if (input.listId !== undefined) {
      given += (await contactCounts(tx.db, [input.listId])).get(input.listId) ?? 0;
      written += await copyListRecipients(tx, id, input.listId, inline.recipients.length, now);
    }
    await updateCampaign(tx, id, { total: written }, now);
    if (status !== 'draft') await enqueueDispatch(tx, id, now, startAt ?? now);
    return inserted;
  });
  if (!result.created) {
    if (result.row.request_hash !== hash)
      throw new AppError(
        'IDEMPOTENCY_CONFLICT',
        `the idempotency key was already used for campaign ${result.row.id} with a different body`,
        {
          details: { campaignId: result.row.id },
        },
      );
    return {
      campaign: result.row,
      created: false,
      recipients: { given: result.row.total, written: result.row.total, duplicates: 0 },
    };
  }
  deps.logger.info(
    { event: 'campaign.created', campaignId: id, status, recipients: written },
    'campaign created',
  );
  return {
    campaign: (await getCampaignRow(store.db, id)) as CampaignRow,
    created: true,
    recipients: { given, written, duplicates: given - written },
  };
}

/** Validates and de-duplicates the inline recipients; any invalid one refuses the request, naming each. */
export function inlineRecipients(input: CampaignInput): { recipients: NewRecipient[]; duplicates: number } {
  const problems: FieldError[] = [];
  const seen = new Set<string>();
  const recipients: NewRecipient[] = [];
  let duplicates = 0;
  // Each given recipient is dropped once read: 100,000 of them are held once, not twice.
  const given = (input.recipients ?? []) as unknown[];
  given.forEach((item, index) => {
    given[index] = undefined;
    const at = `recipients.${index}`;
    const parsed = inlineRecipientSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as IssueLike;
      if (problems.length < 100)
        problems.push(
          ...fieldErrorsFromIssue({ ...issue, path: ['recipients', index, ...issue.path] }, 'body'),
        );
      return;
    }
    const r = parsed.data;
    const draft = validateContact(
      { address: r.address, ...(r.name !== undefined ? { name: r.name } : {}), attributes: r.fields ?? {} },
      { address: `${at}.address`, name: `${at}.name` },
    );
    if ('message' in draft) {
      if (problems.length < 100)
        problems.push({
          in: 'body',
          field: draft.field.startsWith(at) ? draft.field : `${at}.fields`,
          message: draft.message,
        });
      return;
    }
    if (seen.has(draft.key)) {
      duplicates += 1;
      return;
    }
    seen.add(draft.key);
    recipients.push({ key: draft.key, address: draft.address, name: draft.name, fields: draft.attributes });
  });
  if (problems.length > 0) throw validationError('body', problems);
  return { recipients, duplicates };
}
