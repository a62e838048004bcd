/**
 * The one error type of Facteur and the registry of its codes.
 *
 * Every failure that crosses a module boundary is an `AppError` with a code from
 * `ERROR_CODES`. Adapters translate library errors (nodemailer, pg, Fastify) into these
 * at the edge, so the rest of the code, the HTTP layer and the docs speak one vocabulary.
 * `docs/errors.md` documents each code; a test keeps the two in step.
 */

import { ACCESS_ERROR_CODES, DELIVERY_ERROR_CODES } from './error-codes.js';

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
    doc: 'No credentials were sent to an `/api/*` route: no `Authorization: Bearer <key>` header and no dashboard session cookie.',
  },
  AUTH_INVALID: {
    status: 401,
    retryable: false,
    doc: 'The API key is unknown or was revoked (create one with `facteur apikey create`), or the dashboard session has ended (signed out, idle or past its lifetime, or the user disabled or given another role): sign in again.',
  },
  AUTH_FORBIDDEN: {
    status: 403,
    retryable: false,
    doc: "The API key is valid but its role is below the route's; the message and `details` name the role needed (`required`) and the key's (`role`). Nothing was changed.",
  },
  NOT_FOUND: { status: 404, retryable: false, doc: 'No resource (or route) exists with this id or path.' },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    retryable: false,
    doc: 'The idempotency key was already used with a different request body.',
  },
  CAMPAIGN_STATE: {
    status: 409,
    retryable: false,
    doc: 'The campaign is in a status the action does not apply to (pausing a finished one, resuming a running one). `details.status` is its status, `details.allowedFrom` the statuses the action applies to.',
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
  CAMPAIGN_WINDOW_FULL: {
    status: 503,
    retryable: true,
    doc: "Not an error: the last error of a campaign's dispatch job while its in-flight window (`FACTEUR_CAMPAIGN_WINDOW`) is full. The job runs again as soon as enough of the window's messages are settled, or a quarter of a second later.",
  },
  JOB_INTERRUPTED: {
    status: 503,
    retryable: true,
    doc: 'The job was still running when the shutdown deadline passed; it was put back in the queue.',
  },

  // Outbound mail, webhooks, inbound, reports, rules: error-codes.ts
  ...DELIVERY_ERROR_CODES,
  // Users, sign-in, sessions: error-codes.ts
  ...ACCESS_ERROR_CODES,
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
