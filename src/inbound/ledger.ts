import type { Feedback } from '../campaigns/index.js';
import type { Tx } from '../core/db/index.js';
import { uuidv7 } from '../core/ids.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { enqueueJobs } from '../core/jobs/index.js';
import { truncateText } from '../core/text.js';
import { findFirstRecordings, insertLedgerRows, type LedgerRow } from './store.js';

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
  /**
   * What a message of a bounce mailbox reports (`parseDsn`, read from the raw bytes at
   * arrival, which the ledger does not keep); absent for other mailboxes. Carried by the route
   * job, which hands it over instead of running the rules.
   */
  feedback?: Feedback[];
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
  const firsts = await firstRecordings(tx, arrivals);
  const seenInBatch = new Map<string, string>();
  const rows: LedgerRow[] = [];
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
  const inserted = await insertLedgerRows(tx, rows);
  const jobs = results.flatMap((r, index) => {
    if (!inserted.has(r.id) || r.state !== 'parsed') return [];
    const feedback = arrivals[index]?.feedback;
    return [{ inboundId: r.id, ...(feedback ? { feedback } : {}) }];
  });
  if (jobs.length > 0) {
    await enqueueJobs(
      tx,
      jobs.map((payload) => ({ queue: ROUTE_QUEUE, payload, maxAttempts: 5 })),
      now,
    );
  }
  return results.map((r) => (inserted.has(r.id) ? r : { ...r, created: false }));
}

function identityKey(messageId: string | null, contentHash: string): string {
  return messageId ? `${messageId}\n${contentHash}` : `\n${contentHash}`;
}

/** The first recording of each arrival's identity already in the ledger. */
async function firstRecordings(tx: Tx, arrivals: readonly Arrival[]): Promise<Map<string, string>> {
  const hashes = [...new Set(arrivals.map((a) => a.contentHash))];
  const found = new Map<string, string>();
  for (const row of await findFirstRecordings(tx.db, hashes)) {
    const key = identityKey(row.message_id, row.content_hash);
    if (!found.has(key)) found.set(key, row.id);
  }
  return found;
}

function ledgerRow(
  arrival: Arrival,
  r: { id: string; state: LedgerState; duplicateOf: string | null; messageId: string | null; now: number },
): LedgerRow {
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
