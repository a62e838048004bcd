import { parseMailbox } from '../../core/email-address.js';
import { AppError, type ErrorCode } from '../../core/errors.js';
import type { RefusedRecipient, SendResult } from '../transport.js';

/**
 * What every provider API transport shares, without I/O: the answer as plain data, the error
 * details, the classification of status codes and network failures, and the one rule of
 * failover: `details.notTaken` is true only when the failure proves the provider did not take
 * the message (it answered 429 or 5xx, or the connection never opened).
 */

/** An HTTP request to a provider API (path below the API base). */
export interface ProviderRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** JSON or form text; bytes for a multipart body (Mailgun with attachments). */
  body?: string | Buffer;
}

/** The provider's answer, whatever its status. Header names are lower-case. */
export interface ProviderResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The details every provider error carries (also shown on the attempt). */
export interface ProviderErrorDetails {
  provider: string;
  httpStatus: number | null;
  /** The provider's own error code or type (Postmark ErrorCode, SES `__type`, ...). */
  providerCode: string | null;
  providerMessage: string | null;
  /** True only when the failure proves the message was not taken (failover is then safe). */
  notTaken: boolean;
  /** Shown as the attempt's `smtpResponse` (no SMTP here: the HTTP status and the provider's text). */
  smtpResponse: string;
  smtpCode: null;
  refusedRecipients?: unknown[];
}

/** Builds a provider error with its details. `retryAfterMs` comes from a `Retry-After` header. */
export function providerError(
  code: ErrorCode,
  message: string,
  facts: {
    provider: string;
    status?: number | null;
    providerCode?: string | null;
    providerMessage?: string | null;
    notTaken: boolean;
    retryAfterMs?: number | undefined;
    refusedRecipients?: unknown[];
    cause?: unknown;
  },
): AppError {
  const status = facts.status ?? null;
  const text = facts.providerMessage ?? null;
  const details: ProviderErrorDetails = {
    provider: facts.provider,
    httpStatus: status,
    providerCode: facts.providerCode ?? null,
    providerMessage: text,
    notTaken: facts.notTaken,
    smtpCode: null,
    smtpResponse: [status === null ? null : `HTTP ${status}`, text].filter(Boolean).join(': ') || message,
    ...(facts.refusedRecipients ? { refusedRecipients: facts.refusedRecipients } : {}),
  };
  return new AppError(code, message, {
    details,
    ...(facts.retryAfterMs !== undefined ? { retryAfterMs: facts.retryAfterMs } : {}),
    ...(facts.cause !== undefined ? { cause: facts.cause } : {}),
  });
}

/** The facts of an answer that an error carries: which provider, the status, its code and text. */
export interface AnswerFacts {
  provider: string;
  status: number;
  providerCode?: string | null;
  providerMessage: string | null;
}

/**
 * The provider answered and refused the message itself (a bad recipient or sender, too large):
 * permanent, and not failed over, since the next transport would be asked the same.
 */
export function rejectedError(message: string, facts: AnswerFacts): AppError {
  return providerError('PROVIDER_REJECTED', message, { ...facts, notTaken: false });
}

/**
 * The result of a send the provider took: every recipient accepted but those it `refused`, and
 * `said` (the provider and its id) after the HTTP status as the attempt's response.
 */
export function takenResult(
  response: ProviderResponse,
  said: string,
  recipients: string[],
  providerMessageId: string | undefined,
  refused: RefusedRecipient[] = [],
): SendResult {
  const refusedSet = new Set(refused.map((r) => r.address));
  return {
    smtpCode: null,
    smtpResponse: `HTTP ${response.status}: ${said}`,
    accepted: recipients.filter((r) => !refusedSet.has(r)),
    rejected: refused,
    ...(providerMessageId !== undefined ? { providerMessageId } : {}),
  };
}

/** Whether `error` proves the message was not taken, so the next transport may get it now. */
export function provenNotTaken(error: AppError): boolean {
  return (error.details as { notTaken?: unknown } | undefined)?.notTaken === true;
}

/**
 * The error for a status a provider answers the same way as the others: 401/403 bad key, 429
 * throttled, 5xx down. Undefined for the statuses each provider reads itself.
 */
export function commonStatusError(
  provider: string,
  response: ProviderResponse,
  providerMessage: string | null,
): AppError | undefined {
  const { status } = response;
  const facts = { provider, status, providerMessage };
  if (status === 429)
    return providerError(
      'PROVIDER_RATE_LIMITED',
      `${provider} is throttling sends (429)${tail(providerMessage)}`,
      {
        ...facts,
        notTaken: true,
        retryAfterMs: retryAfterMs(response.headers['retry-after']),
      },
    );
  if (status >= 500)
    return providerError('PROVIDER_UNAVAILABLE', `${provider} answered ${status}${tail(providerMessage)}`, {
      ...facts,
      notTaken: true,
    });
  if (status === 401 || status === 403) return authError(provider, status, providerMessage);
  return undefined;
}

/** A refused key: permanent, and the message says which setting to fix. */
export function authError(
  provider: string,
  status: number | null,
  providerMessage: string | null,
  providerCode?: string,
): AppError {
  return providerError(
    'PROVIDER_AUTH',
    `${provider} refused the credentials of this transport (${status === null ? 'auth' : status})${tail(providerMessage)}; fix the key in FACTEUR_TRANSPORTS, then replay the job. Not retried: every retry would be refused the same way`,
    { provider, status, providerMessage, providerCode: providerCode ?? null, notTaken: true },
  );
}

/** An answer Facteur cannot read: retried, not failed over (the provider may have taken it). */
export function unreadableAnswer(provider: string, response: ProviderResponse, why: string): AppError {
  return providerError('PROVIDER_PROTOCOL', `${provider} answered ${response.status} ${why}`, {
    provider,
    status: response.status,
    providerMessage: response.body.slice(0, 200) || null,
    notTaken: false,
  });
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds, bounded to an hour. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  return Math.min(seconds, 3_600_000);
}

const NOT_CONNECTED = new Set(
  'ENOTFOUND EAI_AGAIN EAI_FAIL EAI_NODATA EAI_NONAME ECONNREFUSED EHOSTUNREACH ENETUNREACH EHOSTDOWN ENETDOWN EADDRNOTAVAIL UND_ERR_CONNECT_TIMEOUT'.split(
    ' ',
  ),
);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/**
 * A failure with no answer. Nothing was sent when the connection never opened (DNS, refused,
 * unreachable, connect timeout, TLS handshake): failover is safe. Anything later (the total
 * timeout, a reset or close while waiting for the answer) is ambiguous: the provider may have
 * taken the message, so it is retried later by the job engine, never handed on at once.
 */
export function classifyNetworkFailure(provider: string, thrown: unknown, timedOut: boolean): AppError {
  const code = errorCodeOf(thrown);
  const text = String((thrown as Error)?.message ?? thrown);
  if (timedOut)
    return providerError(
      'PROVIDER_TIMEOUT',
      `${provider} did not answer in time; it may have taken the message, so it is retried later and not sent through another transport now`,
      {
        provider,
        notTaken: false,
        cause: thrown,
      },
    );
  if (code && (NOT_CONNECTED.has(code) || TLS_CODE.test(code)))
    return providerError('PROVIDER_UNAVAILABLE', `cannot reach ${provider}: ${text} (${code})`, {
      provider,
      notTaken: true,
      cause: thrown,
    });
  return providerError(
    'PROVIDER_TIMEOUT',
    `the connection to ${provider} broke before its answer (${code ?? text}); it may have taken the message, so it is retried later and not sent through another transport now`,
    { provider, notTaken: false, cause: thrown },
  );
}

/** The first `code` along the error's cause chain. */
function errorCodeOf(thrown: unknown): string | undefined {
  for (
    let at = thrown as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    at && depth < 5;
    depth++
  ) {
    if (typeof at.code === 'string') return at.code;
    at = at.cause as typeof at;
  }
  return undefined;
}

/** Whether a failure counts toward the transport's breaker (the provider is unreachable or failing). */
export function countsTowardBreaker(error: AppError): boolean {
  return error.code === 'PROVIDER_UNAVAILABLE' || error.code === 'PROVIDER_TIMEOUT';
}

/** `text` parsed as JSON, or undefined. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The bare address of `Name <addr>`. */
export function bareAddress(mailbox: string): string {
  const parsed = parseMailbox(mailbox);
  return 'address' in parsed ? parsed.address : mailbox;
}

/** `{ email, name? }` of a mailbox, as SendGrid takes it. */
export function emailObject(mailbox: string): { email: string; name?: string } {
  const parsed = parseMailbox(mailbox);
  if (!('address' in parsed)) return { email: mailbox };
  return parsed.name ? { email: parsed.address, name: parsed.name } : { email: parsed.address };
}

/** Every recipient of a message, or the envelope list of a retry. */
export function recipientsOf(
  message: { to: string[]; cc: string[]; bcc: string[] },
  envelopeTo?: string[],
): string[] {
  return (envelopeTo ?? [...message.to, ...message.cc, ...message.bcc]).map(bareAddress);
}

function tail(text: string | null): string {
  return text ? `: ${text.slice(0, 300)}` : '';
}
