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
  type InlineRecipient,
  inlineRecipientSchema,
  plainInlineRecipient,
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
import { type ContactInput, type RowProblem, validateContact } from './model.js';
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
  const tally: InlineTally = { problems: [], given: 0, yielded: 0 };
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
    // A recipient whose address is already in the ledger (given twice) is left out by the
    // insert, so its seq is not used. Once a recipient is refused nothing more is written (the
    // rest is still read, so that the answer names up to 100 bad ones), and what was written is
    // rolled back below.
    for (const chunk of inlineRecipients(input, tally))
      if (tally.problems.length === 0)
        written += await insertRecipients(tx, id, chunk, tally.yielded - chunk.length, now);
    // Thrown inside the transaction: nothing of the campaign stays.
    if (tally.problems.length > 0) throw validationError('body', tally.problems);
    given = tally.given;
    if (input.listId !== undefined) {
      given += (await contactCounts(tx.db, [input.listId])).get(input.listId) ?? 0;
      written += await copyListRecipients(tx, id, input.listId, tally.yielded, now);
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
  /** Valid recipients yielded (duplicates included: the ledger's unique key leaves them out). */
  yielded: number;
}

/** The field names validateContact is given until a recipient turns out to be bad. */
const UNNAMED = { address: 'address', name: 'name' };

/** The schema's verdict on a recipient that is not plainly valid: the recipient, or its problem noted. */
function parsedRecipient(item: unknown, index: number, tally: InlineTally): InlineRecipient | undefined {
  const parsed = inlineRecipientSchema.safeParse(item);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as IssueLike;
  if (tally.problems.length < 100)
    tally.problems.push(
      ...fieldErrorsFromIssue({ ...issue, path: ['recipients', index, ...issue.path] }, 'body'),
    );
  return undefined;
}

/**
 * The problem of a recipient validateContact refused, named `recipients.<index>.<field>`. The
 * names are made for a bad recipient only: three strings per recipient otherwise.
 */
function recipientProblem(contact: ContactInput, index: number): FieldError {
  const at = `recipients.${index}`;
  const problem = validateContact(contact, { address: `${at}.address`, name: `${at}.name` }) as RowProblem;
  return {
    in: 'body',
    field: problem.field.startsWith(at) ? problem.field : `${at}.fields`,
    message: problem.message,
  };
}

/**
 * Inline recipients are written in chunks of this many as they are read: one statement each
 * (RECIPIENTS_PER_STATEMENT). Small for the reason of IMPORT_BATCH: what waits to be written is
 * what a scavenge may promote (500 left up to 10 MB more in B8's old space than 100).
 */
const INLINE_CHUNK = 100;

/**
 * Reads and validates the inline recipients, yielding them in chunks so that they are written
 * as they are read: 100,000 recipients are never held twice (each given one is dropped once
 * read) nor all at once. Invalid ones are noted in `tally.problems`; the caller refuses the
 * request (and rolls back what was written) when there are any. Duplicates are left to the
 * ledger's unique key (campaign, address key), which keeps the first: a set of every key seen
 * cost about 17 MB of peak RSS for 100,000 recipients (B8).
 */
export function* inlineRecipients(input: CampaignInput, tally: InlineTally): Generator<NewRecipient[]> {
  let chunk: NewRecipient[] = [];
  const given = (input.recipients ?? []) as unknown[];
  tally.given += given.length;
  for (let index = 0; index < given.length; index += 1) {
    const item = given[index];
    given[index] = undefined;
    const r = plainInlineRecipient(item) ?? parsedRecipient(item, index, tally);
    if (r === undefined) continue;
    const contact = {
      address: r.address,
      ...(r.name !== undefined ? { name: r.name } : {}),
      attributes: r.fields ?? {},
    };
    const draft = validateContact(contact, UNNAMED);
    if ('message' in draft) {
      if (tally.problems.length < 100) tally.problems.push(recipientProblem(contact, index));
      continue;
    }
    tally.yielded += 1;
    chunk.push({ key: draft.key, address: draft.address, name: draft.name, fields: draft.attributes });
    if (chunk.length >= INLINE_CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
