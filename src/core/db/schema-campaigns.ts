/** Audiences, campaigns and their rate budgets. (part of the schema: see schema.ts for the conventions). */

/** Contact lists for bulk mail (runtime settings; no secrets). */
export interface ListsTable {
  id: string;
  name: string;
  config: string;
  version: number;
  created_at: number;
  updated_at: number;
}

/** The contacts of a list, one per address key; deleted with their list. */
export interface ContactsTable {
  id: string;
  list_id: string;
  address_key: string;
  address: string;
  address_given: string;
  name: string | null;
  /** JSON object of strings, numbers, booleans and nulls. */
  attributes: string;
  /** The key and the name lower-cased, for `?q=`. */
  search: string;
  created_at: number;
  updated_at: number;
}

/** Addresses no campaign sends to, one per address key. */
export interface SuppressionsTable {
  address_key: string;
  address: string;
  reason: string;
  source: string;
  detail: string | null;
  created_at: number;
}

/** A bulk mailing: its templates, its audience's size and where it stands. */
export interface CampaignsTable {
  id: string;
  name: string;
  status: string;
  list_id: string | null;
  /** JSON: from, replyTo, subject, html, text, headers, attachments. */
  content: string;
  owner_email: string | null;
  start_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  total: number;
  api_key_id: string | null;
  idempotency_scope: string;
  idempotency_key: string | null;
  request_hash: string;
  stalled_at: number | null;
  version: number;
  created_at: number;
  updated_at: number;
}

/** The recipient ledger: one row per (campaign, recipient). */
export interface CampaignRecipientsTable {
  campaign_id: string;
  seq: number;
  address_key: string;
  address: string;
  name: string | null;
  /** JSON object of per-recipient fields. */
  fields: string;
  state: string;
  reason: string | null;
  detail: string | null;
  smtp_code: number | null;
  message_id: string | null;
  message_id_header: string | null;
  transport: string | null;
  provider_message_id: string | null;
  attempts: number;
  /** When the row reached a final state by a send (sent, failed). */
  settled_at: number | null;
  updated_at: number;
}

/** One transport's rate budget, shared by every instance: its state as JSON (mail/budget-model.ts). */
export interface RateBudgetsTable {
  /** The transport's name in FACTEUR_TRANSPORTS. */
  transport: string;
  state: string;
  /** Raised by every write; a write names the version it read (compare and set). */
  version: number;
  updated_at: number;
}
