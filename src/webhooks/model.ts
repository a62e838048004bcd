import { z } from 'zod';
import { durationSchema, formatDuration } from '../core/duration.js';
import { formatTimeOfDay, isValidTimeZone, parseTimeOfDay, WEEKDAYS } from '../core/schedule.js';
import { normaliseEndpointUrl } from './endpoint-url.js';
import { secretProblem } from './signing.js';

/**
 * Endpoint settings as the API takes them, validated on write, and the defaults. Everything
 * time-like is written the way people write it (`5m`, `09:30`, `Europe/Paris`, `monday`).
 */

/** Where an endpoint stands. Paused and disabled endpoints hold their deliveries. */
export type EndpointStatus = 'active' | 'paused' | 'disabled';

/** Stored states of a delivery; `delivering` is derived (a pending delivery whose job runs). */
export const STORED_DELIVERY_STATUSES = ['pending', 'held', 'succeeded', 'failed', 'dead'] as const;
export const DELIVERY_STATUSES = ['pending', 'held', 'delivering', 'succeeded', 'failed', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Retry schedule of Standard Webhooks services: after the first try, these delays. */
export const DEFAULT_RETRY_SCHEDULE = ['5s', '5m', '30m', '2h', '5h', '10h', '10h'] as const;

export { durationSchema, formatDuration, WEEKDAYS };

/** Event types are dotted names; a subscription may end in `*` (`invoice.*`, or `*` for all). */
const EVENT_TYPE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i;
const EVENT_PATTERN = /^(\*|([a-z0-9_-]+\.)*([a-z0-9_-]+|\*))$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers Facteur sets itself: a user value would break the request or its signature. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

export const eventTypeSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(EVENT_TYPE, 'must be a dotted name like invoice.paid (letters, digits, _ and -)');

const timeOfDay = z.string().transform((raw, ctx) => {
  const minutes = parseTimeOfDay(raw);
  if (minutes === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a time of day like 09:30 or 9h30' });
    return z.NEVER;
  }
  return minutes;
});

const settingsShape = {
  name: z.string().trim().min(1, 'must not be empty').max(100),
  description: z
    .string()
    .trim()
    .max(500)
    .describe('What the endpoint is for, for the people who read the dashboard (default empty).'),
  url: z
    .string()
    .max(2048)
    .transform((raw, ctx) => {
      const result = normaliseEndpointUrl(raw);
      if ('problem' in result) {
        ctx.addIssue({ code: 'custom', message: result.problem });
        return z.NEVER;
      }
      return result.url;
    })
    .describe('http(s) URL; a Make.com token or token@hook.<region>.make.com is expanded.'),
  eventTypes: z
    .array(z.string().regex(EVENT_PATTERN, 'must be an event type, optionally ending in * (like invoice.*)'))
    .min(1)
    .max(100)
    .describe(
      'Event types delivered here. `*` matches every type except facteur.* (alerts), which must be named.',
    ),
  format: z.enum(['json', 'form']).describe('Request body: JSON, or application/x-www-form-urlencoded.'),
  payloadShape: z
    .enum(['envelope', 'data'])
    .describe(
      '`envelope`: {type, timestamp, data}; `data`: the event payload alone (receivers of the old system).',
    ),
  retryOtherFormatOn415: z.boolean(),
  headers: z.record(
    z.string(),
    z
      .string()
      .max(4096)
      .regex(/^[^\r\n]*$/, 'must not contain line breaks'),
  ),
  successRule: z
    .enum(['any-2xx', 'json-success'])
    .describe('`json-success`: 2xx with a JSON body whose `success` is true.'),
  connectTimeout: durationSchema(100, 30_000),
  timeout: durationSchema(500, 30_000).describe('Total time for one attempt: connect, answer and body.'),
  retrySchedule: z
    .array(durationSchema(0, 7 * 86_400_000))
    .max(30)
    .describe('Delays before each retry.'),
  retryOn4xx: z.boolean(),
  concurrency: z.number().int().min(1).max(100),
  rateLimit: z
    .strictObject({ max: z.number().int().min(1).max(100_000), per: durationSchema(1000, 86_400_000) })
    .nullable()
    .describe('At most `max` deliveries per `per` (e.g. {"max": 100, "per": "1h"}).'),
  timeWindow: z.strictObject({ start: timeOfDay, end: timeOfDay }).nullable(),
  absenceWeekdays: z.array(z.enum(WEEKDAYS)).max(6, 'cannot hold every day of the week'),
  timeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone like Europe/Paris'),
  // Removed: a per-endpoint switch let any API key turn the SSRF guard off, metadata included.
  // Kept in the schema only to say so when a client still sends it.
  allowPrivateTargets: z
    .unknown()
    .refine(() => false, 'was removed; set FACTEUR_ALLOW_PRIVATE_TARGETS on the server instead')
    .optional()
    .meta({ deprecated: true, description: 'Removed: refused with 400. Use FACTEUR_ALLOW_PRIVATE_TARGETS.' }),
  disableAfter: durationSchema(60_000, 365 * 86_400_000).describe(
    'Disable the endpoint after failing continuously this long (alert at half).',
  ),
};

/** The settings as stored (times in ms and minutes). */
export interface EndpointSettings {
  name: string;
  /** Absent in endpoints written before descriptions existed. */
  description?: string;
  url: string;
  eventTypes: string[];
  format: 'json' | 'form';
  payloadShape: 'envelope' | 'data';
  retryOtherFormatOn415: boolean;
  successRule: 'any-2xx' | 'json-success';
  connectTimeoutMs: number;
  timeoutMs: number;
  retryScheduleMs: number[];
  retryOn4xx: boolean;
  concurrency: number;
  rateLimit: { max: number; perMs: number } | null;
  timeWindow: { start: number; end: number } | null;
  absenceWeekdays: number[];
  timeZone: string;
  disableAfterMs: number;
}

/** Defaults, in the API's written form. */
export const ENDPOINT_DEFAULTS = {
  eventTypes: ['*'],
  format: 'json',
  payloadShape: 'envelope',
  retryOtherFormatOn415: false,
  headers: {},
  successRule: 'any-2xx',
  connectTimeout: '5s',
  timeout: '15s',
  retrySchedule: [...DEFAULT_RETRY_SCHEDULE],
  retryOn4xx: false,
  concurrency: 10,
  rateLimit: null,
  timeWindow: null,
  absenceWeekdays: [],
  timeZone: 'UTC',
  disableAfter: '5d',
} as const;

const secretField = z
  .string()
  .superRefine((value, ctx) => {
    const problem = secretProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('Signing secret (whsec_...). Generated when omitted.');

/** POST /api/endpoints. */
export const endpointCreateSchema = z.strictObject({
  ...settingsShape,
  description: settingsShape.description.prefault(''),
  eventTypes: settingsShape.eventTypes.prefault([...ENDPOINT_DEFAULTS.eventTypes]),
  format: settingsShape.format.prefault(ENDPOINT_DEFAULTS.format),
  payloadShape: settingsShape.payloadShape.prefault(ENDPOINT_DEFAULTS.payloadShape),
  retryOtherFormatOn415: settingsShape.retryOtherFormatOn415.prefault(false),
  headers: settingsShape.headers.prefault({}),
  successRule: settingsShape.successRule.prefault(ENDPOINT_DEFAULTS.successRule),
  connectTimeout: settingsShape.connectTimeout.prefault(ENDPOINT_DEFAULTS.connectTimeout),
  timeout: settingsShape.timeout.prefault(ENDPOINT_DEFAULTS.timeout),
  retrySchedule: settingsShape.retrySchedule.prefault([...ENDPOINT_DEFAULTS.retrySchedule]),
  retryOn4xx: settingsShape.retryOn4xx.prefault(false),
  concurrency: settingsShape.concurrency.prefault(ENDPOINT_DEFAULTS.concurrency),
  rateLimit: settingsShape.rateLimit.prefault(null),
  timeWindow: settingsShape.timeWindow.prefault(null),
  absenceWeekdays: settingsShape.absenceWeekdays.prefault([]),
  timeZone: settingsShape.timeZone.prefault(ENDPOINT_DEFAULTS.timeZone),
  disableAfter: settingsShape.disableAfter.prefault(ENDPOINT_DEFAULTS.disableAfter),
  secret: secretField.optional(),
});

/** PATCH /api/endpoints/:id: any subset of the settings. */
export const endpointUpdateSchema = z.strictObject(settingsShape).partial();

export type EndpointCreateInput = z.output<typeof endpointCreateSchema>;
export type EndpointUpdateInput = z.output<typeof endpointUpdateSchema>;
type ParsedSettings = Omit<EndpointCreateInput, 'secret'>;

/** Turns parsed API fields into stored settings, checking what spans several fields. */
export function settingsFromInput(input: ParsedSettings): {
  settings: EndpointSettings;
  problems: FieldProblem[];
} {
  const problems: FieldProblem[] = [];
  if (input.connectTimeout > input.timeout) {
    problems.push({ field: 'connectTimeout', message: 'must not be longer than timeout' });
  }
  if (input.timeWindow && input.timeWindow.start === input.timeWindow.end) {
    problems.push({ field: 'timeWindow', message: 'start and end are equal; use null for always open' });
  }
  for (const name of Object.keys(input.headers)) {
    if (!HEADER_NAME.test(name))
      problems.push({ field: `headers.${name}`, message: 'is not a valid header name' });
    else if (RESERVED_HEADERS.has(name.toLowerCase()))
      problems.push({ field: `headers.${name}`, message: 'is set by Facteur and cannot be overridden' });
  }
  const settings: EndpointSettings = {
    name: input.name,
    ...(input.description ? { description: input.description } : {}),
    url: input.url,
    eventTypes: [...new Set(input.eventTypes)],
    format: input.format,
    payloadShape: input.payloadShape,
    retryOtherFormatOn415: input.retryOtherFormatOn415,
    successRule: input.successRule,
    connectTimeoutMs: input.connectTimeout,
    timeoutMs: input.timeout,
    retryScheduleMs: input.retrySchedule,
    retryOn4xx: input.retryOn4xx,
    concurrency: input.concurrency,
    rateLimit: input.rateLimit ? { max: input.rateLimit.max, perMs: input.rateLimit.per } : null,
    timeWindow: input.timeWindow,
    absenceWeekdays: [...new Set(input.absenceWeekdays.map((day) => WEEKDAYS.indexOf(day)))].sort(),
    timeZone: input.timeZone,
    disableAfterMs: input.disableAfter,
  };
  return { settings, problems };
}

/** A problem spanning fields, reported like a schema error. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** Stored settings back in the API's written form (for PATCH merging and for views). */
export function inputFromSettings(
  s: EndpointSettings,
  headers: Record<string, string>,
): ParsedSettingsWritten {
  return {
    name: s.name,
    // Written only when set, so that exports of endpoints without one stay as they were.
    ...(s.description ? { description: s.description } : {}),
    url: s.url,
    eventTypes: s.eventTypes,
    format: s.format,
    payloadShape: s.payloadShape,
    retryOtherFormatOn415: s.retryOtherFormatOn415,
    headers,
    successRule: s.successRule,
    connectTimeout: formatDuration(s.connectTimeoutMs),
    timeout: formatDuration(s.timeoutMs),
    retrySchedule: s.retryScheduleMs.map(formatDuration),
    retryOn4xx: s.retryOn4xx,
    concurrency: s.concurrency,
    rateLimit: s.rateLimit ? { max: s.rateLimit.max, per: formatDuration(s.rateLimit.perMs) } : null,
    timeWindow: s.timeWindow
      ? { start: formatTimeOfDay(s.timeWindow.start), end: formatTimeOfDay(s.timeWindow.end) }
      : null,
    absenceWeekdays: s.absenceWeekdays.map((d) => WEEKDAYS[d] as (typeof WEEKDAYS)[number]),
    timeZone: s.timeZone,
    disableAfter: formatDuration(s.disableAfterMs),
  };
}

/** The settings in the API's written form. */
export type ParsedSettingsWritten = z.input<typeof endpointUpdateSchema> & { name: string; url: string };

/** Whether an endpoint subscribed with `patterns` receives events of `type`. */
export function subscribes(patterns: readonly string[], type: string): boolean {
  const internal = type.startsWith('facteur.');
  return patterns.some((pattern) => {
    if (pattern === '*') return !internal;
    if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
    return pattern === type;
  });
}
