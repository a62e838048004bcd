/**
 * The one error type of Facteur and the registry of its codes.
 *
 * Every failure that crosses a module boundary is an `AppError` with a code from
 * `ERROR_CODES`. Adapters translate library errors (nodemailer, pg, Fastify) into these
 * at the edge, so the rest of the code, the HTTP layer and the docs speak one vocabulary.
 * `docs/errors.md` documents each code; a test keeps the two in step.
 */

/** What the registry knows about a code. */
export interface ErrorCodeInfo {
  /** HTTP status used when this error answers a request. */
  readonly status: number;
  /** Whether an operation that failed with this code may succeed if tried again. */
  readonly retryable: boolean;
  /** One line for `docs/errors.md`: what happened and what to do. */
  readonly doc: string;
}

/** The registry: every error code Facteur can produce. */
export const ERROR_CODES = {
  // Input and protocol
  VALIDATION_FAILED: {
    status: 400,
    retryable: false,
    doc: 'The request body, query or parameters do not match the schema; `details` names each bad field.',
  },
  INVALID_JSON: { status: 400, retryable: false, doc: 'The request body is not valid JSON.' },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    retryable: false,
    doc: "The request body is larger than the route's limit: `FACTEUR_HTTP_BODY_LIMIT`, or the route's own limit where it has one; `details.limitBytes` says which.",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    doc: 'The request has a `Content-Type` this route does not accept; `details.accepted` lists the ones it does (`application/json` for all but `/api/ingress/raw`).',
  },
  URI_TOO_LONG: {
    status: 414,
    retryable: false,
    doc: 'A path parameter is longer than 100 characters; no id is that long.',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    retryable: false,
    doc: 'The path exists but not with this method; the `Allow` header and `details.allowed` list the methods it takes.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    retryable: false,
    doc: 'The request headers are larger than the server reads (16 KiB in all); the connection is closed after the answer.',
  },
  TARGET_FORBIDDEN: {
    status: 400,
    retryable: false,
    doc: "A host Facteur would connect to on a user's behalf (webhook endpoint, mailbox IMAP host, OAuth token URL) is not public: loopback, private, link-local, cloud metadata, unique-local, unspecified, shared (CGNAT), multicast or reserved; `details` names the `field`, `address` and `rule`. Allowed only by the server's `FACTEUR_ALLOW_PRIVATE_TARGETS`, metadata addresses never. Checked on save and again on every connection.",
  },
  AUTH_REQUIRED: {
    status: 401,
    retryable: false,
    doc: 'No `Authorization: Bearer <key>` header was sent to an `/api/*` route.',
  },
  AUTH_INVALID: {
    status: 401,
    retryable: false,
    doc: 'The API key is unknown or was revoked; create one with `facteur apikey create`.',
  },
  NOT_FOUND: { status: 404, retryable: false, doc: 'No resource (or route) exists with this id or path.' },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    retryable: false,
    doc: 'The idempotency key was already used with a different request body.',
  },
  VERSION_MISMATCH: {
    status: 412,
    retryable: false,
    doc: 'The change names a version (`If-Match`) the record is no longer at: someone changed it meanwhile. Read it again (its `version` and `ETag`) and apply the change to that.',
  },
  JOB_NOT_REPLAYABLE: {
    status: 409,
    retryable: false,
    doc: 'Only `dead` or `failed` jobs can be replayed; the job is in another state.',
  },
  SHUTTING_DOWN: {
    status: 503,
    retryable: true,
    doc: 'The server is draining after SIGTERM and accepts no new work; retry against another instance.',
  },
  INTERNAL: {
    status: 500,
    retryable: true,
    doc: 'An unexpected error; the log line with the same request id has the cause.',
  },

  // Configuration and storage
  CONFIG_INVALID: {
    status: 500,
    retryable: false,
    doc: 'A `FACTEUR_*` variable is missing or malformed; `details` lists each variable and the expected form.',
  },
  DATABASE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    doc: 'The database cannot be reached or refused the operation; check `FACTEUR_DATABASE_URL` and the server.',
  },
  MIGRATION_FAILED: {
    status: 500,
    retryable: false,
    doc: 'A schema migration failed. On PostgreSQL the whole run is rolled back; on SQLite the failing migration may be partly applied, so restore the backup taken before upgrading.',
  },
  CATCHER_PORT_IN_USE: {
    status: 500,
    retryable: false,
    doc: 'The built-in mail catcher cannot listen on `FACTEUR_CATCHER_PORT`; free the port or choose another.',
  },
  HTTP_PORT_IN_USE: {
    status: 500,
    retryable: false,
    doc: 'The HTTP server cannot listen on `FACTEUR_HOST:FACTEUR_PORT`; free the port or choose another.',
  },

  // Jobs
  JOB_ERROR: {
    status: 500,
    retryable: true,
    doc: 'A job handler failed with an unexpected error; it is retried per its queue policy.',
  },
  JOB_LEASE_EXPIRED: {
    status: 500,
    retryable: true,
    doc: 'The process running the job stopped renewing its lease (it crashed or stalled); the job was put back in the queue.',
  },
  JOB_INTERRUPTED: {
    status: 503,
    retryable: true,
    doc: 'The job was still running when the shutdown deadline passed; it was put back in the queue.',
  },

  // SMTP
  SMTP_TRANSIENT: {
    status: 502,
    retryable: true,
    doc: 'The SMTP server answered with a 4xx reply (greylisting, rate limit, mailbox busy); retried with backoff.',
  },
  SMTP_REJECTED: {
    status: 502,
    retryable: false,
    doc: 'The SMTP server answered with a 5xx reply; the message failed and the reply is kept on the attempt.',
  },
  SMTP_AUTH: {
    status: 502,
    retryable: true,
    doc: 'The SMTP server refused the credentials of `FACTEUR_SMTP_URL`; retried so that a fixed password lets queued mail through.',
  },
  SMTP_CONNECT: {
    status: 502,
    retryable: true,
    doc: 'The SMTP server could not be reached (DNS, refused or reset connection); retried with backoff.',
  },
  SMTP_TLS: {
    status: 502,
    retryable: true,
    doc: 'The TLS handshake with the SMTP server failed (certificate, protocol); check `FACTEUR_SMTP_URL` (smtp:// vs smtps://).',
  },
  SMTP_TIMEOUT: {
    status: 504,
    retryable: true,
    doc: 'The SMTP server did not answer within the connect, greeting, socket or send timeout; retried with backoff.',
  },
  SMTP_UNAVAILABLE: {
    status: 503,
    retryable: true,
    doc: 'The SMTP circuit breaker is open after repeated connection failures; sends wait without spending attempts and resume as soon as a probe succeeds.',
  },
  SMTP_PROTOCOL: {
    status: 502,
    retryable: true,
    doc: 'The SMTP conversation failed in an unexpected way (protocol error, broken message); retried.',
  },

  // Webhooks
  WEBHOOK_TIMEOUT: {
    status: 504,
    retryable: true,
    doc: "The webhook receiver did not connect or answer within the endpoint's `connectTimeout` or `timeout`; retried on the endpoint's schedule.",
  },
  WEBHOOK_CONNECT_FAILED: {
    status: 502,
    retryable: true,
    doc: "The webhook receiver could not be reached (connection refused, host unreachable); retried on the endpoint's schedule.",
  },
  WEBHOOK_CONNECTION_RESET: {
    status: 502,
    retryable: true,
    doc: "The webhook receiver closed or reset the connection before answering in full; retried on the endpoint's schedule.",
  },
  WEBHOOK_DNS_FAILED: {
    status: 502,
    retryable: true,
    doc: "The endpoint's host name does not resolve; check the URL. Retried, in case the name is being set up.",
  },
  WEBHOOK_SERVER_ERROR: {
    status: 502,
    retryable: true,
    doc: "The webhook receiver answered 5xx; retried on the endpoint's schedule (a 503's `Retry-After` is honoured).",
  },
  WEBHOOK_RATE_LIMITED: {
    status: 502,
    retryable: true,
    doc: 'The webhook receiver answered 429; retried no earlier than its `Retry-After` and never earlier than the schedule.',
  },
  WEBHOOK_GONE: {
    status: 502,
    retryable: false,
    doc: 'The webhook receiver answered 410 Gone: the delivery failed and the endpoint was disabled. Re-enable it with `POST /api/endpoints/{id}/resume`.',
  },
  WEBHOOK_REJECTED: {
    status: 502,
    retryable: false,
    doc: 'The webhook receiver answered 4xx (other than 410, 415 and 429); not retried unless the endpoint sets `retryOn4xx`. The response is kept on the attempt.',
  },
  WEBHOOK_UNSUPPORTED_MEDIA_TYPE: {
    status: 502,
    retryable: false,
    doc: "The webhook receiver answered 415 to the body format; set the endpoint's `format`, or `retryOtherFormatOn415` to try the other format at once.",
  },
  WEBHOOK_NOT_CONFIRMED: {
    status: 502,
    retryable: true,
    doc: "The endpoint's success rule is `json-success` and the receiver answered 2xx without a JSON body whose `success` is true; retried.",
  },
  WEBHOOK_REDIRECTED: {
    status: 502,
    retryable: false,
    doc: 'The webhook receiver answered with a redirect (3xx). Facteur does not follow redirects (the target could be anywhere): set the endpoint URL to the final address.',
  },
  WEBHOOK_UNAVAILABLE: {
    status: 503,
    retryable: true,
    doc: "The endpoint's circuit breaker is open after repeated failures; its deliveries wait without spending attempts and resume when a probe succeeds.",
  },
  WEBHOOK_HELD: {
    status: 503,
    retryable: true,
    doc: 'The delivery is held: the endpoint is paused, disabled, outside its time window or on an absence day. It goes out when that ends; nothing is dropped.',
  },
  WEBHOOK_THROTTLED: {
    status: 503,
    retryable: true,
    doc: "The endpoint's own rate limit is reached; the delivery waits for the next free slot without spending an attempt.",
  },
  DELIVERY_NOT_REPLAYABLE: {
    status: 409,
    retryable: false,
    doc: 'The delivery is still pending, held or being delivered; only succeeded, failed or dead deliveries can be replayed.',
  },

  // Inbound
  INBOUND_PARSE_FAILED: {
    status: 422,
    retryable: false,
    doc: 'The message could not be parsed as RFC 822 mail; it is recorded in the inbound ledger in the `fetched` state with this error (left unread on the server), and the messages after it are handled.',
  },

  // Rules
  RULE_TEMPLATE_FAILED: {
    status: 422,
    retryable: false,
    doc: "A rule's Liquid payload template failed to render or did not render a JSON object; fix the template (write strings with `| json`), then replay the message.",
  },
  INBOUND_TOO_LARGE: {
    status: 413,
    retryable: false,
    doc: "The message is larger than its mailbox's `maxMessageMb`; it is recorded in the ledger in the `fetched` state with this error, never downloaded or parsed, and left unread on the server.",
  },
  INBOUND_SCHEDULE_CLOSED: {
    status: 503,
    retryable: true,
    doc: "The message's mailbox is outside its schedule (a day off, outside its hours, a vacation); its routing waits, without spending an attempt, until the schedule opens.",
  },
  INBOUND_ACTION_FAILED: {
    status: 422,
    retryable: false,
    doc: "A rule action could not be carried out (for example it names a webhook endpoint that no longer exists); the ledger row's message names the rule and the endpoint. The other actions ran.",
  },
  IMAP_CONNECT_FAILED: {
    status: 502,
    retryable: true,
    doc: 'The IMAP server cannot be reached or closed the connection (refused, reset, unknown host); the watcher reconnects with backoff. Check the mailbox host, port and TLS mode.',
  },
  IMAP_TIMEOUT: {
    status: 504,
    retryable: true,
    doc: 'The IMAP server did not answer in time (connection, greeting, or a silent socket); the watcher reconnects with backoff.',
  },
  IMAP_AUTH_FAILED: {
    status: 502,
    retryable: true,
    doc: "The IMAP server refused the mailbox's credentials; fix the password or OAuth2 settings with PATCH /api/mailboxes/{id}. The watcher keeps retrying with backoff.",
  },
  IMAP_OAUTH_FAILED: {
    status: 502,
    retryable: true,
    doc: 'The OAuth2 token URL refused the refresh token or could not be reached; an `invalid_grant` answer means the refresh token was revoked or expired and a new one must be set.',
  },
  IMAP_PROTOCOL: {
    status: 502,
    retryable: true,
    doc: 'The IMAP server answered something unexpected (a refused command, a missing folder); the message quotes the server. The watcher reconnects with backoff.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** A code from the registry. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options for an AppError beyond code and message. */
export interface AppErrorOptions {
  /** Overrides the registry's retryable flag (e.g. a 4xx reply that is known to be permanent). */
  retryable?: boolean;
  /** Structured details returned to API clients (field errors, SMTP reply, ...). */
  details?: unknown;
  /** The underlying error, kept for logs; never serialised to clients. */
  cause?: unknown;
  /** When retrying makes sense no earlier than this many milliseconds from now. */
  retryAfterMs?: number;
}

/** The error type every Facteur module throws and every boundary understands. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** HTTP status for this error, from the registry. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** True when `value` is an AppError. */
export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Wraps anything thrown into an AppError, keeping AppErrors as they are. */
export function toAppError(value: unknown, fallback: ErrorCode = 'INTERNAL'): AppError {
  if (value instanceof AppError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new AppError(fallback, message, { cause: value });
}
