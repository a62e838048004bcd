/** Outbound delivery: the outbox, its attempts, the catcher, and webhooks. (part of the schema: see schema.ts for the conventions). */

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
