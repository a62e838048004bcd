import { STATUS_CODES } from 'node:http';
import { AppError, type ErrorCode } from '../core/errors.js';

/**
 * What a receiver's HTTP answer means for a delivery: success, or an AppError saying whether it
 * is retried and when, and whether the endpoint must be disabled (410) or the other body
 * format tried (415). The system Facteur replaces counted 201 and 204 as failures and never
 * retried 5xx; here every 2xx succeeds and every 5xx is retried.
 */

/** How a 2xx answer is judged: any 2xx, or a JSON body with `"success": true` (Make.com scenarios, PHP scripts). */
export type SuccessRule = 'any-2xx' | 'json-success';

/** The endpoint settings that change how an answer is judged. */
export interface AnswerRules {
  /** Default for endpoints: `any-2xx`. */
  successRule: SuccessRule;
  /** Retry 4xx answers other than 410, 415 and 429 (default false: they are permanent). */
  retryOn4xx: boolean;
}

/** The receiver's answer; header names in any case. */
export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Success, or the error to record with what the engine must do about the endpoint. */
export type AnswerVerdict =
  | { ok: true }
  | { ok: false; error: AppError; disableEndpoint: boolean; unsupportedMediaType: boolean };

/** A receiver asking for more than a day is treated as asking for a day: deliveries are never parked longer. */
const MAX_RETRY_AFTER_MS = 86_400_000;
/** How much of a body an error message quotes. */
const BODY_QUOTE_LENGTH = 200;

const ON_SCHEDULE = "retried on the endpoint's schedule";

// Every retry plan of a verdict starts with "; retried" and holds no full stop of its own.
const RETRY_PLAN = /; retried [^.]*\./;

/**
 * A verdict's message for the attempt after which no attempt is left: its retry plan ("retried
 * no earlier than in 2 s") would be false, so it says the delivery is dead instead.
 */
export function finalAttemptMessage(message: string): string {
  return message.replace(
    RETRY_PLAN,
    '; no attempts are left, so the delivery is dead: replay it once the receiver is fixed.',
  );
}

/** Judges one HTTP answer under the endpoint's rules; `now` (epoch ms) resolves a `Retry-After` date. */
export function judgeAnswer(answer: HttpAnswer, rules: AnswerRules, now: number): AnswerVerdict {
  const { statusCode } = answer;
  const answered = `the receiver answered ${statusCode}${reasonPhrase(statusCode)}`;
  if (statusCode >= 200 && statusCode <= 299) {
    if (rules.successRule === 'any-2xx' || confirmsSuccess(answer.body)) return { ok: true };
    return failure('WEBHOOK_NOT_CONFIRMED', {
      message: `${answered} without a JSON body whose "success" is true, as the endpoint's json-success rule requires; ${ON_SCHEDULE}. Body: ${quote(answer.body)}`,
      details: { statusCode },
    });
  }
  if (statusCode >= 300 && statusCode <= 399) {
    const location = header(answer.headers, 'location');
    const target = location === undefined ? 'without a Location header' : `redirecting to ${location}`;
    return failure('WEBHOOK_REDIRECTED', {
      message: `${answered} ${target}; redirects are not followed, so the delivery is not retried: set the endpoint URL to the final address.`,
      details: location === undefined ? { statusCode } : { statusCode, location },
    });
  }
  if (statusCode === 429 || statusCode === 503) return waitAnswer(answer, answered, now);
  if (statusCode >= 500 && statusCode <= 599) {
    return failure('WEBHOOK_SERVER_ERROR', {
      message: `${answered}; ${ON_SCHEDULE}.`,
      details: { statusCode },
    });
  }
  if (statusCode >= 400 && statusCode <= 499) return clientErrorAnswer(statusCode, answered, rules);
  // 1xx as a final answer, or a number outside HTTP's range: a broken receiver, maybe transient.
  return failure('WEBHOOK_SERVER_ERROR', {
    message: `the receiver answered with the unexpected status ${statusCode}; ${ON_SCHEDULE}.`,
    details: { statusCode },
  });
}

/** 410, 415 and the other 4xx. */
function clientErrorAnswer(statusCode: number, answered: string, rules: AnswerRules): AnswerVerdict {
  if (statusCode === 410) {
    return failure(
      'WEBHOOK_GONE',
      {
        message: `${answered}: the delivery is not retried and the endpoint is disabled; resume it once the receiver is back.`,
        details: { statusCode },
      },
      { disableEndpoint: true },
    );
  }
  if (statusCode === 415) {
    return failure(
      'WEBHOOK_UNSUPPORTED_MEDIA_TYPE',
      {
        message: `${answered} to the body format; not retried in this format: set the endpoint's format, or retryOtherFormatOn415 to try the other one.`,
        details: { statusCode },
      },
      { unsupportedMediaType: true },
    );
  }
  const next = rules.retryOn4xx
    ? `${ON_SCHEDULE}, as the endpoint sets retryOn4xx`
    : 'not retried (set retryOn4xx on the endpoint to retry 4xx answers)';
  return failure('WEBHOOK_REJECTED', {
    message: `${answered}; ${next}.`,
    details: { statusCode },
    retryable: rules.retryOn4xx,
  });
}

/** 429 and 503: retried, no earlier than the receiver's `Retry-After` when it gives one. */
function waitAnswer(answer: HttpAnswer, answered: string, now: number): AnswerVerdict {
  const { statusCode } = answer;
  const retryAfterMs = parseRetryAfter(header(answer.headers, 'retry-after'), now);
  const when =
    retryAfterMs === undefined
      ? ON_SCHEDULE
      : `retried no earlier than in ${Math.ceil(retryAfterMs / 1000)} s, as its Retry-After asks, and not before the endpoint's schedule`;
  return failure(statusCode === 429 ? 'WEBHOOK_RATE_LIMITED' : 'WEBHOOK_SERVER_ERROR', {
    message: `${answered}; ${when}.`,
    details: retryAfterMs === undefined ? { statusCode } : { statusCode, retryAfterMs },
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function failure(
  code: ErrorCode,
  error: { message: string; details: unknown; retryable?: boolean; retryAfterMs?: number },
  flags: { disableEndpoint?: boolean; unsupportedMediaType?: boolean } = {},
): AnswerVerdict {
  const { message, ...options } = error;
  return {
    ok: false,
    error: new AppError(code, message, options),
    disableEndpoint: flags.disableEndpoint ?? false,
    unsupportedMediaType: flags.unsupportedMediaType ?? false,
  };
}

function reasonPhrase(statusCode: number): string {
  const phrase = STATUS_CODES[statusCode];
  return phrase ? ` ${phrase}` : '';
}

/** Header value by case-insensitive name: adapters do not all lower-case names. */
function header(headers: Record<string, string>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function confirmsSuccess(body: string): boolean {
  try {
    const parsed: unknown = JSON.parse(body);
    return (
      typeof parsed === 'object' && parsed !== null && (parsed as { success?: unknown }).success === true
    );
  } catch {
    return false;
  }
}

/** The body as a JSON string of at most 200 characters (never cutting a character in two), or "empty". */
function quote(body: string): string {
  if (body.length === 0) return 'empty.';
  let cut = body.slice(0, BODY_QUOTE_LENGTH);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${JSON.stringify(cut)}${cut.length < body.length ? ' (cut)' : ''}.`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** The three HTTP-date forms recipients must accept (RFC 9110, section 5.6.7). */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Milliseconds from `now` a `Retry-After` value asks to wait: delta-seconds or an HTTP-date;
 * undefined when absent or malformed; a date in the past gives 0; capped at 24 hours.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const date = parseHttpDate(text, now);
  if (date === undefined || !Number.isFinite(now)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}

/** Each form with how to read year, month, day, hour, minute, second from its match. */
const HTTP_DATE_FORMS: ReadonlyArray<{ pattern: RegExp; order: readonly number[] }> = [
  { pattern: IMF_FIXDATE, order: [3, 2, 1, 4, 5, 6] },
  { pattern: RFC850_DATE, order: [3, 2, 1, 4, 5, 6] },
  { pattern: ASCTIME_DATE, order: [6, 1, 2, 3, 4, 5] },
];

/** Epoch ms of an HTTP-date, read as UTC whatever the server's zone (Date.parse reads asctime as local time). */
function parseHttpDate(text: string, now: number): number | undefined {
  for (const { pattern, order } of HTTP_DATE_FORMS) {
    const match = pattern.exec(text);
    if (!match) continue;
    const [yearText = '', monthName = '', ...numbers] = order.map((group) => (match[group] ?? '').trim());
    const [day = 0, hour = 0, minute = 0, second = 0] = numbers.map(Number);
    const month = MONTHS.indexOf(monthName);
    let year = Number(yearText);
    if (yearText.length === 2) {
      // RFC 9110: a two-digit year that would be more than 50 years ahead is in the past century.
      year += 2000;
      if (year > new Date(now).getUTCFullYear() + 50) year -= 100;
    }
    const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    // Date.UTC would roll 31 Feb over into March: such a value is malformed, not a date in March.
    if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 60) return undefined;
    return Date.UTC(year, month, day, hour, minute, second);
  }
  return undefined;
}
