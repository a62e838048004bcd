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
    doc: 'The request body is larger than `FACTEUR_HTTP_BODY_LIMIT`.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    doc: 'The request has a `Content-Type` this route does not accept (use `application/json`).',
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
