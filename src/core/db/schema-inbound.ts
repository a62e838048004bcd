/** Inbound mail, rules and reports. (part of the schema: see schema.ts for the conventions). */

/** Mailboxes watched over IMAP; `config` is the validated settings (JSON), `secrets` is sealed. */
export interface MailboxesTable {
  id: string;
  name: string;
  status: string;
  config: string;
  secrets: string;
  /** Raised on every write (see core/settings). */
  version: number;
  created_at: number;
  updated_at: number;
}

/** Where a watched folder resumes: every UID below `next_uid` in `uidvalidity` is in the ledger. */
export interface MailboxFoldersTable {
  mailbox_id: string;
  folder: string;
  uidvalidity: number;
  next_uid: number;
  updated_at: number;
}

/** The inbound ledger: one row per message received, whatever brought it. */
export interface InboundMessagesTable {
  id: string;
  source: string;
  mailbox_id: string | null;
  folder: string | null;
  uidvalidity: number | null;
  uid: number | null;
  message_id: string | null;
  content_hash: string;
  state: string;
  skip_reason: string | null;
  duplicate_of: string | null;
  subject: string;
  from_address: string | null;
  size: number;
  /** The normalised `InboundEmail` (JSON); null when the message could not be parsed. */
  email: string | null;
  error_code: string | null;
  error_message: string | null;
  tags: string;
  matched_rules: string;
  subject_group: string | null;
  /** The mailbox action after handling: `none`, `pending`, `done`, `failed`, `stale`. */
  ack_state: string;
  ack_error: string | null;
  received_at: number;
  created_at: number;
  updated_at: number;
}

/** The webhook events an inbound message raised. */
export interface InboundMessageEventsTable {
  inbound_id: string;
  event_id: string;
}

/** Routing rules, in `position` order; `config` is the validated rule (JSON). */
export interface RulesTable {
  id: string;
  position: number;
  name: string;
  config: string;
  /** Raised on every write (see core/settings). */
  version: number;
  created_at: number;
  updated_at: number;
}

/** Scheduled reports (runtime settings); `secrets` (sealed) holds the trigger token and source credentials. */
export interface ReportsTable {
  id: string;
  name: string;
  status: string;
  config: string;
  secrets: string;
  resumed_at: number | null;
  version: number;
  created_at: number;
  updated_at: number;
}

/** One run of a report, with its stages as JSON; at most one per scheduled slot. */
export interface ReportRunsTable {
  id: string;
  report_id: string;
  trigger: string;
  slot_at: number | null;
  idempotency_scope: string;
  idempotency_key: string | null;
  status: string;
  stages: string;
  data: string | null;
  message_id: string | null;
  smtp_response: string | null;
  error_code: string | null;
  error_message: string | null;
  note: string | null;
  deadline_at: number | null;
  late_alerted_at: number | null;
  job_id: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
}
