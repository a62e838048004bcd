/**
 * The database schema as Kysely sees it. Conventions, identical on SQLite and PostgreSQL:
 * ids are UUIDv7 text; times are epoch milliseconds in bigint columns; JSON is stored as text;
 * booleans are 0/1 integers. One code path, no dialect-specific column types beyond binary.
 */

/** The durable job queue (see core/jobs). */
export interface JobsTable {
  id: string;
  queue: string;
  concurrency_key: string | null;
  idempotency_key: string | null;
  payload: string;
  status: string;
  priority: number;
  attempts: number;
  max_attempts: number;
  run_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error_code: string | null;
  last_error_message: string | null;
  result: string | null;
  replays: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** API keys; only a SHA-256 of each key is stored. */
export interface ApiKeysTable {
  id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** `admin`, `operator` or `viewer` (a check constraint); keys older than roles are `admin`. Always written. */
  role: 'admin' | 'operator' | 'viewer';
}

/** Outbound messages accepted through the API or the CLI. */
export interface MessagesTable {
  id: string;
  status: string;
  from_address: string;
  to_addresses: string;
  cc_addresses: string;
  bcc_addresses: string;
  reply_to: string | null;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  /** JSON: [{filename, contentType, content (base64)}], or null (reports' CSV; set by Facteur, not by the API). */
  attachments: string | null;
  headers: string;
  message_id_header: string;
  /** Whose idempotency keys these are: the API key id, or `cli`. */
  idempotency_scope: string;
  idempotency_key: string | null;
  request_hash: string;
  job_id: string;
  api_key_id: string | null;
  source: string;
  /** Recipients refused with a 4xx while others were accepted: the next attempt goes to them only (JSON). */
  pending_recipients: string | null;
  attempt_count: number;
  next_attempt_at: number | null;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: number;
  updated_at: number;
  sent_at: number | null;
}

/** Every attempt to hand a message to the SMTP server. */
export interface MessageAttemptsTable {
  id: string;
  message_id: string;
  number: number;
  started_at: number;
  finished_at: number | null;
  outcome: string;
  smtp_code: number | null;
  smtp_response: string | null;
  error_code: string | null;
  error_message: string | null;
  accepted: string | null;
  rejected: string | null;
  /** The transport the attempt went through (FACTEUR_TRANSPORTS name); null before 0006. */
  transport: string | null;
  /** The id the provider API gave the message, when a provider took it. */
  provider_message_id: string | null;
}

/** Messages received by the built-in mail catcher. */
export interface CatcherMessagesTable {
  id: string;
  message_id: string | null;
  from_address: string | null;
  to_addresses: string;
  subject: string | null;
  size: number;
  raw: Buffer;
  received_at: number;
}

/** Small key-value facts about the installation (schema owner, first start, ...). */
export interface SettingsTable {
  key: string;
  value: string;
  updated_at: number;
}

/** Webhook endpoints; `config` is the validated settings (JSON), `secrets` is sealed. */
export interface WebhookEndpointsTable {
  id: string;
  name: string;
  status: string;
  config: string;
  secrets: string;
  /** When the current run of failures began; null after a success. */
  failing_since: number | null;
  failure_warned_at: number | null;
  disabled_at: number | null;
  disabled_reason: string | null;
  /** Raised on every write (see core/settings). */
  version: number;
  created_at: number;
  updated_at: number;
}

/** Events published through the API or raised internally (alerts). */
export interface WebhookEventsTable {
  id: string;
  type: string;
  payload: string;
  idempotency_scope: string;
  idempotency_key: string | null;
  request_hash: string;
  source: string;
  created_at: number;
}

/** One event to one endpoint. `delivering` is not stored: it is a pending delivery whose job runs. */
export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  endpoint_id: string;
  status: string;
  job_id: string;
  attempt_count: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** Every HTTP attempt of a delivery. */
export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  number: number;
  started_at: number;
  finished_at: number;
  outcome: string;
  url: string;
  format: string;
  status_code: number | null;
  latency_ms: number | null;
  error_code: string | null;
  error_message: string | null;
  response_headers: string | null;
  response_body: string | null;
}

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

/** Leases for singleton work across instances (one watcher per mailbox). */
export interface LeasesTable {
  name: string;
  owner: string;
  expires_at: number;
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

/** People who sign in to the dashboard; `email` is lower-cased. */
export interface UsersTable {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  /** `scrypt$...` (access/password.ts), or null for a user who signs in by link only. */
  password_hash: string | null;
  created_at: number;
  updated_at: number;
  disabled_at: number | null;
}

/** Dashboard sessions; the cookie's token is stored as its SHA-256 digest. */
export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  method: 'password' | 'magic_link' | 'setup';
  created_at: number;
  last_seen_at: number;
  /** The absolute expiry; the idle expiry is `last_seen_at` + FACTEUR_SESSION_IDLE. */
  expires_at: number;
  address: string | null;
  user_agent: string | null;
}

/** One-time sign-in links: magic links, and the setup link of the first admin (no user). */
export interface LoginLinksTable {
  id: string;
  token_hash: string;
  purpose: 'magic_link' | 'setup';
  user_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  address: string | null;
}

/** Failed sign-ins per `account:<email>` and `address:<ip>`, and the lock they led to. */
export interface LoginThrottleTable {
  key: string;
  window_started_at: number;
  failures: number;
  locked_until: number | null;
}

/** The audit log (`audit/`): append-only; before/after are redacted JSON, at most 16 KB each. */
export interface AuditLogTable {
  id: string;
  at: number;
  actor_kind: 'user' | 'api_key' | 'route_token' | 'system' | 'anonymous';
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  address: string | null;
  request_id: string | null;
  before_json: string | null;
  after_json: string | null;
  outcome: 'ok' | 'refused';
}

/** All tables. */
export interface Database {
  audit_log: AuditLogTable;
  users: UsersTable;
  sessions: SessionsTable;
  login_links: LoginLinksTable;
  login_throttle: LoginThrottleTable;
  jobs: JobsTable;
  api_keys: ApiKeysTable;
  messages: MessagesTable;
  message_attempts: MessageAttemptsTable;
  catcher_messages: CatcherMessagesTable;
  settings: SettingsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  mailboxes: MailboxesTable;
  mailbox_folders: MailboxFoldersTable;
  inbound_messages: InboundMessagesTable;
  inbound_message_events: InboundMessageEventsTable;
  rules: RulesTable;
  leases: LeasesTable;
  reports: ReportsTable;
  report_runs: ReportRunsTable;
  lists: ListsTable;
  contacts: ContactsTable;
  suppressions: SuppressionsTable;
  campaigns: CampaignsTable;
  campaign_recipients: CampaignRecipientsTable;
  rate_budgets: RateBudgetsTable;
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
