import type { ErrorCodeInfo } from './errors.js';

/**
 * The codes of the features that talk to the outside world (SMTP and provider transports,
 * webhooks, inbound mail, reports, rules): part of `ERROR_CODES` in errors.ts, kept here so
 * that neither file outgrows the layout's size rule. `docs/errors.md` documents each.
 */
export const DELIVERY_ERROR_CODES = {
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

  // Provider API transports (mail/providers)
  PROVIDER_REJECTED: {
    status: 502,
    retryable: false,
    doc: "The provider API refused the message for good: an invalid or inactive (bounced, suppressed) recipient, an unverified sender or domain, content it does not take; the message fails and the provider's answer is kept on the attempt. Fix the address, the sender or the account, then replay the job.",
  },
  PROVIDER_AUTH: {
    status: 502,
    retryable: false,
    doc: 'The provider API refused the key, token or signature of the transport in `FACTEUR_TRANSPORTS` (HTTP 401/403, Postmark error 10, an invalid AWS signature or a suspended account); the message fails at once rather than being retried with a key that does not work. Fix the key and replay the job.',
  },
  PROVIDER_RATE_LIMITED: {
    status: 502,
    retryable: true,
    doc: "The provider API answered 429 or a throttling error; it did not take the message, so the next transport of `FACTEUR_TRANSPORTS` gets it in the same attempt, or it is retried (no earlier than the provider's `Retry-After`).",
  },
  PROVIDER_UNAVAILABLE: {
    status: 502,
    retryable: true,
    doc: "The provider API could not be reached (DNS, refused connection, TLS) or answered 5xx; it did not take the message, so the next transport of `FACTEUR_TRANSPORTS` gets it in the same attempt, or it is retried. Unreachability counts toward the transport's circuit breaker.",
  },
  PROVIDER_TIMEOUT: {
    status: 504,
    retryable: true,
    doc: 'The provider API did not answer in time, or the connection broke after the request was sent; it may have taken the message, so it is not handed to another transport in the same attempt (that could send it twice) but retried later. Counts toward the circuit breaker.',
  },
  PROVIDER_PROTOCOL: {
    status: 502,
    retryable: true,
    doc: 'The provider API answered something Facteur cannot read (an unexpected status or body); retried.',
  },
  TRANSPORT_UNAVAILABLE: {
    status: 503,
    retryable: true,
    doc: 'Every transport of `FACTEUR_TRANSPORTS` has its circuit breaker open; sends wait without spending attempts and resume as soon as a probe of one succeeds. With SMTP transports only, the code is `SMTP_UNAVAILABLE`.',
  },
  RATE_LIMITED: {
    status: 503,
    retryable: true,
    doc: "The transport's server asked Facteur to slow down (an SMTP 421 or 451 with an enhanced code 4.7.x or a reply that speaks of rate or too many, an HTTP 429 or throttling from a provider) and the transport has a [rate budget](configuration.md#rate-budgets): the budget's rate was halved (it grows back by a tenth every few seconds), and the message waits for its next token without spending an attempt and without going to the next transport. It never fails the message. The attempt that met the reply keeps it.",
  },
  BUDGET_EXHAUSTED: {
    status: 503,
    retryable: true,
    doc: "The transport's [rate budget](configuration.md#rate-budgets) has no token for this send now: the `hourly` or `daily` count is used up, a `Retry-After` pauses the transport, or the queue for the `rate` is longer than a few seconds. The message waits, without spending an attempt, until the time its token comes (the start of the next hour or day for a count), and is not handed to the next transport for it.",
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
  // Reports
  REPORT_DATA_TIMEOUT: {
    status: 504,
    retryable: true,
    doc: "A report's data source (URL or SQL query) did not answer within the report's `data.timeout`; the run tries again on its retry schedule, and its `fetch` stage says so.",
  },
  REPORT_DATA_UNREACHABLE: {
    status: 502,
    retryable: true,
    doc: "A report's data source cannot be reached (connection refused, name not found, database down); the run tries again on its retry schedule.",
  },
  REPORT_DATA_HTTP: {
    status: 502,
    retryable: true,
    doc: "A report's data URL answered an HTTP error; `details.status` has it. 429 and 5xx are tried again, other statuses fail the run (a 401 or 403: the bearer token or headers are wrong).",
  },
  REPORT_DATA_INVALID: {
    status: 422,
    retryable: false,
    doc: "A report's data source answered something unusable: not JSON, not an object or array, more than 5 MiB, or more rows than `data.maxRows`.",
  },
  REPORT_DATA_SQL: {
    status: 422,
    retryable: false,
    doc: "A report's SQL query failed on its database (syntax, a missing table, a refused login, or a write attempted in the read-only transaction); the message has the database's error.",
  },
  REPORT_DATA_MISSING: {
    status: 400,
    retryable: false,
    doc: 'The report takes its data in the trigger request (`data.type` = `push`) and the trigger sent no `data`; or the preview page (`GET /api/reports/{id}/preview.html`) of such a report was asked for without `data` before any run had pushed some.',
  },
  REPORT_RENDER_FAILED: {
    status: 422,
    retryable: false,
    doc: "A report's template failed to render with the run's data (or the CSV rows are not an array); the message names the template (`subject`, `html`, `text`, `attachCsv.rows`). Try `POST /api/reports/{id}/preview` with the same data.",
  },
  REPORT_PING_FAILED: {
    status: 502,
    retryable: true,
    doc: "The report's ping URL (dead-man's switch) could not be reached or answered an error; pings are retried three times, then given up (the run itself is not affected).",
  },
  REPORT_MISSED: {
    status: 409,
    retryable: false,
    doc: 'A scheduled run did not happen: no instance was running at its time and the misfire grace had passed when one started. Recorded on the run (status `missed`) with an alert; the report shows red in `/readyz` until a run succeeds.',
  },
  REPORT_SLOT_INVALID: {
    status: 400,
    retryable: false,
    doc: "A trigger named a `slot` the report's schedule does not have (or the report has no schedule); give `latest` or an instant the cron expression fires at.",
  },

  // Campaigns: editing
  CAMPAIGN_NOT_EDITABLE: {
    status: 409,
    retryable: false,
    doc: 'Only a `draft` or `scheduled` campaign can be edited (`PATCH /api/campaigns/{id}`); this one has started, been paused, cancelled or finished. `details.status` is its status, `details.allowedFrom` the statuses an edit applies to. Nothing was changed.',
  },

  // Campaigns: audiences
  CSV_MALFORMED: {
    status: 400,
    retryable: false,
    doc: 'The CSV file of `POST /api/lists/{id}/import` is malformed at `details.line` (a quoted field never closed, a stray quote, a record over 16 MiB); the rows before that line were imported in batches and `details.report` says exactly how many, nothing after it was read. Fix the line and import the file again: rows already in the list count as `unchanged`.',
  },
  CSV_HEADER_INVALID: {
    status: 400,
    retryable: false,
    doc: 'The CSV file has no header line, or its header has no address column (email, e-mail, mail, courriel, adresse), or a column named by `email=`, `name=` or `attributes=` is not in it, or two attribute columns share a name; `details.headers` lists the columns found. Nothing was imported.',
  },

  // Campaigns: the providers' bounce webhooks (provider-feedback/)
  FEEDBACK_NOT_CONFIGURED: {
    status: 404,
    retryable: false,
    doc: "A provider's bounce webhook (`POST /api/feedback/{provider}`) was called without an API key while that provider is not configured; the message names the variable to set (`FACTEUR_FEEDBACK_POSTMARK_AUTH`, `FACTEUR_FEEDBACK_SENDGRID_KEY`, `FACTEUR_FEEDBACK_MAILGUN_KEY` or `FACTEUR_FEEDBACK_SES_TOPICS`). Nothing was applied.",
  },
  FEEDBACK_SIGNATURE_INVALID: {
    status: 401,
    retryable: false,
    doc: "A provider's bounce webhook request did not prove where it came from: Postmark's Basic credentials missing or wrong, a SendGrid or Mailgun signature missing or not made with the configured key, an SNS signature that does not verify, a certificate URL that is not an SNS host, or an SNS topic not in `FACTEUR_FEEDBACK_SES_TOPICS`; the message says which. Nothing was applied; the log line `feedback.refused` has the reason.",
  },
  FEEDBACK_REPLAYED: {
    status: 401,
    retryable: false,
    doc: "A SendGrid or Mailgun webhook request was signed too long ago (or in the future) for `FACTEUR_FEEDBACK_MAX_AGE`, or carries a Mailgun token already taken; it may be a replay. Nothing was applied. Check the server's clock if every request gets it.",
  },
  FEEDBACK_SNS_UNREACHABLE: {
    status: 502,
    retryable: true,
    doc: 'An SNS message could not be checked or confirmed: its signing certificate (`SigningCertURL`) or, for a subscription, its `SubscribeURL` could not be fetched or read. Nothing was applied; SNS sends the message again. A subscription still unconfirmed is logged (`feedback.sns_subscription`) with the URL to open.',
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
  INBOUND_FEEDBACK_FAILED: {
    status: 500,
    retryable: true,
    doc: "Handing the bounces and complaints read from a bounce mailbox's message to campaigns failed; the route job is retried like other inbound work, and the ledger row stays `parsed` with this error when it fails for good (replay the job once the cause is fixed). Also when no feedback handler is configured (not retried).",
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

/** The codes of users, sign-in and sessions (access/), part of `ERROR_CODES` in errors.ts. */
export const ACCESS_ERROR_CODES = {
  CSRF_INVALID: {
    status: 403,
    retryable: false,
    doc: "A change made with the dashboard's session cookie did not carry the session's `X-CSRF-Token` header (from `GET /auth/session`), or carried another. Nothing was changed. API keys do not need it.",
  },
  LOGIN_LOCKED: {
    status: 429,
    retryable: true,
    doc: 'Ten wrong passwords within a minute for this account, or from this address, locked password sign-in for `FACTEUR_LOGIN_LOCK` (`Retry-After` says how long), even with the right password. The lock is in the audit log. An emailed sign-in link still works.',
  },
  EMAIL_TAKEN: {
    status: 409,
    retryable: false,
    doc: 'Another user has this email already (emails are compared lower-cased).',
  },
  LAST_ADMIN: {
    status: 409,
    retryable: false,
    doc: 'The change would leave no admin who can sign in (demoting, disabling or deleting the last one). Make another user admin first.',
  },
  LINK_USED: {
    status: 410,
    retryable: false,
    doc: 'This sign-in or setup link was used already (each works once); ask for a new one on the sign-in page.',
  },
  LINK_EXPIRED: {
    status: 410,
    retryable: false,
    doc: 'This sign-in link is past its lifetime (`FACTEUR_LOGIN_LINK_TTL`; a setup link lives 24 h); ask for a new one (a new setup link is printed at each start while there is no user).',
  },
  LINK_REVOKED: {
    status: 410,
    retryable: false,
    doc: 'This sign-in link was revoked: a newer one was sent, the user signed out everywhere, or the account was disabled or changed role.',
  },
  LINK_UNKNOWN: {
    status: 404,
    retryable: false,
    doc: 'No sign-in link has this token; check that the link was copied whole.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;
