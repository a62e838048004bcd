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
 * Creating a campaign: the campaign and its whole ledger (inline recipients, validated and
 * de-duplicated as they are written, then the list's contacts copied by the database) in one
 * transaction, so that a 201 means every recipient is recorded, and a refused request (one bad
 * recipient, named) leaves nothing half-created.
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
  const tally: InlineTally = { problems: [], given: 0, duplicates: 0, unique: 0 };
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
  let given = 0;
  let written = 0;
  const result = await store.transaction(async (tx) => {
    const inserted = await insertCampaign(tx, row);
    if (!inserted.created) return inserted;
    for (const chunk of inlineRecipients(input, tally))
      written += await insertRecipients(tx, id, chunk, tally.unique - chunk.length, now);
    // Thrown inside the transaction: nothing of the campaign stays.
    if (tally.problems.length > 0) throw validationError('body', tally.problems);
    given = tally.given;
    if (input.listId !== undefined) {
      given += (await contactCounts(tx.db, [input.listId])).get(input.listId) ?? 0;
      written += await copyListRecipients(tx, id, input.listId, tally.unique, now);
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

/** What reading the inline recipients found besides the recipients. */
interface InlineTally {
  problems: FieldError[];
  /** Recipients read (valid, invalid or duplicate). */
  given: number;
  duplicates: number;
  /** Valid, distinct recipients yielded. */
  unique: number;
}

/** Inline recipients are written in chunks of this many as they are read. */
const INLINE_CHUNK = 500;

/**
 * Reads, validates and de-duplicates the inline recipients, yielding them in chunks so that
 * they are written as they are read: 100,000 recipients are never held twice (each given one is
 * dropped once read) nor all at once. Invalid ones are noted in `tally.problems`; the caller
 * refuses the request (and rolls back what was written) when there are any.
 */
export function* inlineRecipients(input: CampaignInput, tally: InlineTally): Generator<NewRecipient[]> {
  const seen = new Set<string>();
  let chunk: NewRecipient[] = [];
  const given = (input.recipients ?? []) as unknown[];
  tally.given += given.length;
  for (let index = 0; index < given.length; index += 1) {
    const item = given[index];
    given[index] = undefined;
    const at = `recipients.${index}`;
    const parsed = inlineRecipientSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as IssueLike;
      if (tally.problems.length < 100)
        tally.problems.push(
          ...fieldErrorsFromIssue({ ...issue, path: ['recipients', index, ...issue.path] }, 'body'),
        );
      continue;
    }
    const r = parsed.data;
    const draft = validateContact(
      { address: r.address, ...(r.name !== undefined ? { name: r.name } : {}), attributes: r.fields ?? {} },
      { address: `${at}.address`, name: `${at}.name` },
    );
    if ('message' in draft) {
      if (tally.problems.length < 100)
        tally.problems.push({
          in: 'body',
          field: draft.field.startsWith(at) ? draft.field : `${at}.fields`,
          message: draft.message,
        });
      continue;
    }
    if (seen.has(draft.key)) {
      tally.duplicates += 1;
      continue;
    }
    seen.add(draft.key);
    tally.unique += 1;
    chunk.push({ key: draft.key, address: draft.address, name: draft.name, fields: draft.attributes });
    if (chunk.length >= INLINE_CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
