import type { Kysely } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import { uuidv7 } from '../core/ids.js';
import { enqueueJobs } from '../core/jobs/index.js';
import { truncateText } from '../core/text.js';
import type { InboundEmail } from './email.js';

/**
 * The inbound ledger: one row per message received, whatever brought it, written before
 * anything is done with the message and in the same transaction as the job that handles it.
 * A message already in the ledger and parsed (same Message-ID and content hash, or the same
 * content hash when it has no Message-ID) is recorded again as a skipped duplicate of the first, so a
 * UIDVALIDITY change or a re-upload with new UIDs never handles it twice, and every UID of a
 * folder still has its row (the resume point only moves over recorded UIDs).
 */

/** The queue that runs the rules over a recorded message. */
export const ROUTE_QUEUE = 'inbound.route';
/**
 * Notified (payload: the mailbox id) when a message of a mailbox is ready for its mailbox
 * action; every instance hears it (LISTEN/NOTIFY on PostgreSQL), and the one watching wakes.
 */
export const ACK_READY_CHANNEL = 'inbound_ack_ready';

/** States of a ledger row. */
export const LEDGER_STATES = [
  'fetched',
  'parsed',
  'matched',
  'unmatched',
  'delivered',
  'acknowledged',
  'skipped',
] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

/** Where a message came from. */
export type InboundSource = 'imap' | 'gmail' | 'raw';

/** A message as it arrives, parsed or not. */
export interface Arrival {
  source: InboundSource;
  mailboxId: string | null;
  /** IMAP coordinates; null for HTTP ingestion. */
  imap: { folder: string; uidvalidity: number; uid: number } | null;
  /** Hex SHA-256 of the raw message (or of the pushed message's identity fields). */
  contentHash: string;
  receivedAt: number;
  size: number;
  /** The parsed form, or why there is none (the row stays `fetched` with the error). */
  parsed:
    | { ok: true; email: InboundEmail }
    | {
        ok: false;
        code: string;
        message: string;
        subject: string;
        from: string | null;
        messageId: string | null;
      };
}

/** What recording one arrival did. */
export interface Recorded {
  id: string;
  state: LedgerState;
  /** The row this one repeats (its first recording). */
  duplicateOf: string | null;
  /** False when the same IMAP coordinates were already recorded (nothing written). */
  created: boolean;
}

/**
 * Records `arrivals` in the ledger inside `tx`, with a route job for each new parsed message.
 * Duplicates of rows already in the ledger (or earlier in the batch) become skipped rows.
 */
export async function recordArrivals(tx: Tx, arrivals: readonly Arrival[], now: number): Promise<Recorded[]> {
  const firsts = await findFirstRecordings(tx.db, arrivals);
  const seenInBatch = new Map<string, string>();
  const rows: Database['inbound_messages'][] = [];
  const results: Recorded[] = [];
  for (const arrival of arrivals) {
    const messageId = arrival.parsed.ok ? arrival.parsed.email.messageId : arrival.parsed.messageId;
    const key = identityKey(messageId, arrival.contentHash);
    const duplicateOf = firsts.get(key) ?? seenInBatch.get(key) ?? null;
    const id = uuidv7();
    if (duplicateOf === null) seenInBatch.set(key, id);
    const state: LedgerState = duplicateOf ? 'skipped' : arrival.parsed.ok ? 'parsed' : 'fetched';
    rows.push(ledgerRow(arrival, { id, state, duplicateOf, messageId, now }));
    results.push({ id, state, duplicateOf, created: true });
  }
  const inserted = await insertRows(tx, rows);
  const jobs = results.filter((r) => inserted.has(r.id) && r.state === 'parsed');
  if (jobs.length > 0) {
    await enqueueJobs(
      tx,
      jobs.map((r) => ({ queue: ROUTE_QUEUE, payload: { inboundId: r.id }, maxAttempts: 5 })),
      now,
    );
  }
  return results.map((r) => (inserted.has(r.id) ? r : { ...r, created: false }));
}

function identityKey(messageId: string | null, contentHash: string): string {
  return messageId ? `${messageId}\n${contentHash}` : `\n${contentHash}`;
}

/** The first recording of each arrival's identity already in the ledger. */
async function findFirstRecordings(
  db: Kysely<Database>,
  arrivals: readonly Arrival[],
): Promise<Map<string, string>> {
  const hashes = [...new Set(arrivals.map((a) => a.contentHash))];
  const found = new Map<string, string>();
  for (let offset = 0; offset < hashes.length; offset += 500) {
    const rows = await db
      .selectFrom('inbound_messages')
      .select(['id', 'message_id', 'content_hash'])
      .where('content_hash', 'in', hashes.slice(offset, offset + 500))
      .where('duplicate_of', 'is', null)
      // A recording that could not be parsed (a worker that crashed, a parser bug since fixed)
      // does not make a new copy a duplicate: the copy gets its chance.
      .where('email', 'is not', null)
      .orderBy('id')
      .execute();
    for (const row of rows) {
      const key = identityKey(row.message_id, row.content_hash);
      if (!found.has(key)) found.set(key, row.id);
    }
  }
  return found;
}

function ledgerRow(
  arrival: Arrival,
  r: { id: string; state: LedgerState; duplicateOf: string | null; messageId: string | null; now: number },
): Database['inbound_messages'] {
  const { parsed } = arrival;
  return {
    id: r.id,
    source: arrival.source,
    mailbox_id: arrival.mailboxId,
    folder: arrival.imap?.folder ?? null,
    uidvalidity: arrival.imap?.uidvalidity ?? null,
    uid: arrival.imap?.uid ?? null,
    message_id: r.messageId,
    content_hash: arrival.contentHash,
    state: r.state,
    skip_reason: r.duplicateOf ? 'duplicate' : null,
    duplicate_of: r.duplicateOf,
    // Cut on a character: half a surrogate pair is the kind of text the text rule forbids.
    subject: truncateText(parsed.ok ? parsed.email.subject : parsed.subject, 1000),
    from_address: parsed.ok ? (parsed.email.from?.address ?? null) : parsed.from,
    size: arrival.size,
    email: parsed.ok ? JSON.stringify(parsed.email) : null,
    error_code: parsed.ok ? null : parsed.code,
    error_message: parsed.ok ? null : parsed.message,
    tags: '[]',
    matched_rules: '[]',
    subject_group: null,
    // A duplicate is handled as soon as it is recorded: its mailbox action may run.
    ack_state: r.duplicateOf && arrival.imap ? 'pending' : 'none',
    ack_error: null,
    received_at: arrival.receivedAt,
    created_at: r.now,
    updated_at: r.now,
  };
}

/** Inserts rows, skipping IMAP coordinates already recorded; returns the ids written. */
async function insertRows(tx: Tx, rows: Database['inbound_messages'][]): Promise<Set<string>> {
  const written = new Set<string>();
  for (let offset = 0; offset < rows.length; offset += 200) {
    const inserted = await tx.db
      .insertInto('inbound_messages')
      .values(rows.slice(offset, offset + 200))
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .execute();
    for (const row of inserted) written.add(row.id);
  }
  return written;
}

/** The resume point of a folder, if it was ever connected. */
export async function folderCursor(
  db: Kysely<Database>,
  mailboxId: string,
  folder: string,
): Promise<{ uidvalidity: number; nextUid: number } | undefined> {
  const row = await db
    .selectFrom('mailbox_folders')
    .select(['uidvalidity', 'next_uid'])
    .where('mailbox_id', '=', mailboxId)
    .where('folder', '=', folder)
    .executeTakeFirst();
  return row ? { uidvalidity: Number(row.uidvalidity), nextUid: Number(row.next_uid) } : undefined;
}

/** Sets the resume point (a new folder, a new UIDVALIDITY, or UIDs recorded up to `nextUid - 1`). */
export async function saveFolderCursor(
  tx: Tx,
  cursor: { mailboxId: string; folder: string; uidvalidity: number; nextUid: number },
  now: number,
): Promise<void> {
  await tx.db
    .insertInto('mailbox_folders')
    .values({
      mailbox_id: cursor.mailboxId,
      folder: cursor.folder,
      uidvalidity: cursor.uidvalidity,
      next_uid: cursor.nextUid,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['mailbox_id', 'folder']).doUpdateSet({
        uidvalidity: cursor.uidvalidity,
        next_uid: cursor.nextUid,
        updated_at: now,
      }),
    )
    .execute();
}
