import { type Kysely, sql } from 'kysely';
import type { Database, IdempotentInsert, Tx } from '../core/db/index.js';
import { insertOrSkipByIdempotencyKey } from '../core/db/index.js';
import { BulkStatement } from './bulk-store.js';
import {
  type CampaignStatus,
  emptyCounts,
  IN_FLIGHT_STATES,
  type RecipientState,
  type StateCounts,
} from './campaign-model.js';

/**
 * SQL of campaigns and their recipient ledger; the same statements on SQLite and PostgreSQL,
 * no decisions here.
 */

export type CampaignRow = Database['campaigns'];
export type RecipientRow = Database['campaign_recipients'];

/** Ledger rows per insert: 700 parameters, under every dialect's limit. */
const RECIPIENTS_PER_STATEMENT = 100;

export async function insertCampaign(tx: Tx, row: CampaignRow): Promise<IdempotentInsert<CampaignRow>> {
  return insertOrSkipByIdempotencyKey(tx, 'campaigns', row);
}

export async function getCampaignRow(db: Kysely<Database>, id: string): Promise<CampaignRow | undefined> {
  return db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A page of campaigns, newest first. */
export async function listCampaignRows(
  db: Kysely<Database>,
  options: { status?: CampaignStatus; before?: string; limit: number },
): Promise<CampaignRow[]> {
  let query = db.selectFrom('campaigns').selectAll();
  if (options.status) query = query.where('status', '=', options.status);
  if (options.before) query = query.where('id', '<', options.before);
  return query.orderBy('id', 'desc').limit(options.limit).execute();
}

/** How many campaigns are in each status. */
export async function campaignStatusCounts(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('campaigns')
    .select((eb) => ['status', eb.fn.countAll<number | string>().as('n')])
    .groupBy('status')
    .execute();
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

/** Changes a campaign when its status is one of `from` (when given); false when it was not. */
export async function updateCampaign(
  tx: Tx,
  id: string,
  patch: Partial<Omit<CampaignRow, 'id' | 'created_at'>>,
  now: number,
  from?: readonly CampaignStatus[],
): Promise<boolean> {
  let query = tx.db
    .updateTable('campaigns')
    .set({ ...patch, updated_at: now, version: sql`version + 1` })
    .where('id', '=', id);
  if (from) query = query.where('status', 'in', [...from]);
  return Number((await query.executeTakeFirst()).numUpdatedRows) > 0;
}

/** Scheduled campaigns whose start time has come. */
export async function dueScheduled(db: Kysely<Database>, now: number): Promise<CampaignRow[]> {
  return db
    .selectFrom('campaigns')
    .selectAll()
    .where('status', '=', 'scheduled')
    .where('start_at', '<=', now)
    .execute();
}

/** The next start time of a scheduled campaign, if any. */
export async function nextScheduledStart(db: Kysely<Database>): Promise<number | undefined> {
  const row = await db
    .selectFrom('campaigns')
    .select((eb) => eb.fn.min('start_at').as('at'))
    .where('status', '=', 'scheduled')
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
}

// --- the ledger ----------------------------------------------------------------------------

/** A recipient to write. */
export interface NewRecipient {
  key: string;
  address: string;
  name: string | null;
  fields: Record<string, unknown>;
}

const recipientRows = new BulkStatement(
  'insert into campaign_recipients (campaign_id, seq, address_key, address, name, fields, state, attempts, updated_at) values ',
  "(?, ?, ?, ?, ?, ?, 'queued', 0, ?)",
  ' on conflict (campaign_id, address_key) do nothing',
  RECIPIENTS_PER_STATEMENT,
);

/**
 * Appends recipients to a campaign's ledger from `seq` on, a statement per 100 rows (plain SQL:
 * bulk-store.ts says why); one whose key is already there is left out. Returns how many were
 * written.
 */
export async function insertRecipients(
  tx: Tx,
  campaignId: string,
  recipients: readonly NewRecipient[],
  firstSeq: number,
  now: number,
): Promise<number> {
  let written = 0;
  for (let start = 0; start < recipients.length; start += RECIPIENTS_PER_STATEMENT) {
    const params: unknown[] = [];
    const end = Math.min(recipients.length, start + RECIPIENTS_PER_STATEMENT);
    for (let i = start; i < end; i++) {
      const r = recipients[i] as NewRecipient;
      params.push(campaignId, firstSeq + i, r.key, r.address, r.name, JSON.stringify(r.fields), now);
    }
    written += await recipientRows.affected(tx.db, tx.dialect, params);
  }
  return written;
}

/**
 * Appends a list's contacts to a campaign's ledger in one statement, in the list's order, from
 * `seq` on (a contact whose key is already there is left out): the database copies the rows, so
 * a list of any size costs the server no memory. Returns how many were written.
 */
export async function copyListRecipients(
  tx: Tx,
  campaignId: string,
  listId: string,
  firstSeq: number,
  now: number,
): Promise<number> {
  const result = await sql`
    insert into campaign_recipients (campaign_id, seq, address_key, address, name, fields, state, attempts, updated_at)
    select ${campaignId}, ${firstSeq} + row_number() over (order by id), address_key, address, name, attributes,
      'queued', 0, ${now}
    from contacts where list_id = ${listId}
    on conflict (campaign_id, address_key) do nothing`.execute(tx.db);
  return Number(result.numAffectedRows ?? 0);
}

/** The rows of a campaign in `state`, in order, after `afterSeq`. */
export async function recipientsInState(
  db: Kysely<Database>,
  campaignId: string,
  options: { state?: RecipientState; afterSeq?: number; limit: number },
): Promise<RecipientRow[]> {
  let query = db.selectFrom('campaign_recipients').selectAll().where('campaign_id', '=', campaignId);
  if (options.state) query = query.where('state', '=', options.state);
  if (options.afterSeq !== undefined) query = query.where('seq', '>', options.afterSeq);
  return query.orderBy('seq').limit(options.limit).execute();
}

/**
 * Moves rows still `queued` to `sending` with their message, one statement per 200 rows
 * (`UPDATE ... FROM (VALUES ...)`, on both dialects); a row another dispatcher took meanwhile
 * is left out. Returns the seqs moved.
 */
export async function takeRecipients(
  tx: Tx,
  campaignId: string,
  rows: ReadonlyArray<{ seq: number; messageId: string; header: string }>,
  now: number,
): Promise<Set<number>> {
  const taken = new Set<number>();
  for (let offset = 0; offset < rows.length; offset += 200) {
    const values = sql.join(
      rows
        .slice(offset, offset + 200)
        .map((r) => sql`(cast(${r.seq} as integer), ${r.messageId}, ${r.header})`),
    );
    const result = await sql<{ seq: number | string }>`
      update campaign_recipients set state = 'sending', message_id = v.column2, message_id_header = v.column3,
        updated_at = ${now}
      from (values ${values}) as v
      where campaign_recipients.campaign_id = ${campaignId} and campaign_recipients.seq = v.column1
        and campaign_recipients.state = 'queued'
      returning campaign_recipients.seq`.execute(tx.db);
    for (const row of result.rows) taken.add(Number(row.seq));
  }
  return taken;
}

/** Rows handed to the outbox and not settled: the in-flight window. */
export async function inFlightCount(db: Kysely<Database>, campaignId: string): Promise<number> {
  const row = await db
    .selectFrom('campaign_recipients')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('campaign_id', '=', campaignId)
    .where('state', 'in', [...IN_FLIGHT_STATES])
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Whether any row of the campaign is not final yet. */
export async function hasUnsettled(db: Kysely<Database>, campaignId: string): Promise<boolean> {
  const row = await db
    .selectFrom('campaign_recipients')
    .select('seq')
    .where('campaign_id', '=', campaignId)
    .where('state', 'in', ['queued', ...IN_FLIGHT_STATES])
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Counts per state. */
export async function stateCounts(db: Kysely<Database>, campaignId: string): Promise<StateCounts> {
  const rows = await db
    .selectFrom('campaign_recipients')
    .select((eb) => ['state', eb.fn.countAll<number | string>().as('n')])
    .where('campaign_id', '=', campaignId)
    .groupBy('state')
    .execute();
  const counts = emptyCounts();
  for (const row of rows) counts[row.state as RecipientState] = Number(row.n);
  return counts;
}

/** Rows that reached a final state by a send since `since` (the rate). */
export async function settledSince(db: Kysely<Database>, campaignId: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('campaign_recipients')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('campaign_id', '=', campaignId)
    .where('settled_at', '>=', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Changes one row, when its state is one of `from` (when given); false when it was not. */
export async function updateRecipient(
  tx: Tx,
  campaignId: string,
  seq: number,
  patch: Partial<Omit<RecipientRow, 'campaign_id' | 'seq'>>,
  now: number,
  from?: readonly RecipientState[],
): Promise<boolean> {
  let query = tx.db
    .updateTable('campaign_recipients')
    .set({ ...patch, updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('seq', '=', seq);
  if (from) query = query.where('state', 'in', [...from]);
  return Number((await query.executeTakeFirst()).numUpdatedRows) > 0;
}

/** Moves every row of a campaign in one of `from` to `to`; returns how many. */
export async function moveRecipients(
  tx: Tx,
  campaignId: string,
  from: readonly RecipientState[],
  patch: Partial<Omit<RecipientRow, 'campaign_id' | 'seq'>>,
  now: number,
): Promise<number> {
  const result = await tx.db
    .updateTable('campaign_recipients')
    .set({ ...patch, updated_at: now })
    .where('campaign_id', '=', campaignId)
    .where('state', 'in', [...from])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The ledger row carried by an outbox message. */
export async function recipientByMessage(
  db: Kysely<Database>,
  messageId: string,
): Promise<RecipientRow | undefined> {
  return db
    .selectFrom('campaign_recipients')
    .selectAll()
    .where('message_id', '=', messageId)
    .executeTakeFirst();
}

/** The ledger rows a bounce or complaint names: by Message-ID, else by the provider's id. */
export async function recipientsForFeedback(
  db: Kysely<Database>,
  which: { messageIdHeader?: string; providerMessageId?: string },
): Promise<RecipientRow[]> {
  if (which.messageIdHeader) {
    const rows = await db
      .selectFrom('campaign_recipients')
      .selectAll()
      .where('message_id_header', '=', which.messageIdHeader)
      .execute();
    if (rows.length > 0) return rows;
  }
  if (which.providerMessageId) {
    const rows = await db
      .selectFrom('campaign_recipients')
      .selectAll()
      .where('provider_message_id', '=', which.providerMessageId)
      .execute();
    if (rows.length > 0) return rows;
  }
  return [];
}

export async function getRecipient(
  db: Kysely<Database>,
  campaignId: string,
  seq: number,
): Promise<RecipientRow | undefined> {
  return db
    .selectFrom('campaign_recipients')
    .selectAll()
    .where('campaign_id', '=', campaignId)
    .where('seq', '=', seq)
    .executeTakeFirst();
}

/** A campaign's row for an address key. */
export async function recipientByKey(
  db: Kysely<Database>,
  campaignId: string,
  key: string,
): Promise<RecipientRow | undefined> {
  return db
    .selectFrom('campaign_recipients')
    .selectAll()
    .where('campaign_id', '=', campaignId)
    .where('address_key', '=', key)
    .executeTakeFirst();
}

/** When any row of the campaign last changed (0 when it has none). */
export async function lastChange(db: Kysely<Database>, campaignId: string): Promise<number> {
  const row = await db
    .selectFrom('campaign_recipients')
    .select((eb) => eb.fn.max('updated_at').as('at'))
    .where('campaign_id', '=', campaignId)
    .executeTakeFirst();
  return Number(row?.at ?? 0);
}
