/**
 * The database schema as Kysely sees it. Conventions, identical on SQLite and PostgreSQL:
 * ids are UUIDv7 text; times are epoch milliseconds in bigint columns; JSON is stored as text;
 * booleans are 0/1 integers. One code path, no dialect-specific column types beyond binary.
 */

import type {
  AuditLogTable,
  LoginLinksTable,
  LoginThrottleTable,
  SessionsTable,
  UsersTable,
} from './schema-access.js';
import type {
  CampaignRecipientsTable,
  CampaignsTable,
  ContactsTable,
  ListsTable,
  RateBudgetsTable,
  SuppressionsTable,
} from './schema-campaigns.js';
import type {
  CatcherMessagesTable,
  MessageAttemptsTable,
  MessagesTable,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
  WebhookEventsTable,
} from './schema-delivery.js';
import type {
  InboundMessageEventsTable,
  InboundMessagesTable,
  MailboxesTable,
  MailboxFoldersTable,
  ReportRunsTable,
  ReportsTable,
  RulesTable,
} from './schema-inbound.js';

export type {
  AuditLogTable,
  LoginLinksTable,
  LoginThrottleTable,
  SessionsTable,
  UsersTable,
} from './schema-access.js';
export type {
  CampaignRecipientsTable,
  CampaignsTable,
  ContactsTable,
  ListsTable,
  RateBudgetsTable,
  SuppressionsTable,
} from './schema-campaigns.js';
export type {
  CatcherMessagesTable,
  MessageAttemptsTable,
  MessagesTable,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
  WebhookEventsTable,
} from './schema-delivery.js';
export type {
  InboundMessageEventsTable,
  InboundMessagesTable,
  MailboxesTable,
  MailboxFoldersTable,
  ReportRunsTable,
  ReportsTable,
  RulesTable,
} from './schema-inbound.js';

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

/** Small key-value facts about the installation (schema owner, first start, ...). */
export interface SettingsTable {
  key: string;
  value: string;
  updated_at: number;
}

/** Leases for singleton work across instances (one watcher per mailbox). */
export interface LeasesTable {
  name: string;
  owner: string;
  expires_at: number;
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
