import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { DELIVERY_STATUSES, type DeliveryStatus } from './model.js';
import {
  type AttemptRow,
  type DeliveryRowView,
  getDeliveryRow,
  listAttemptRows,
  listDeliveryRows,
} from './store.js';

/** Deliveries and attempts as the API shows them. */

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

const deliverySchema = z.object({
  id: z.string(),
  eventId: z.string().describe('Also the webhook-id header: the same on every attempt and replay.'),
  eventType: z.string(),
  endpointId: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  jobId: z.string(),
  attemptCount: z.number().int(),
  nextAttemptAt: z
    .string()
    .nullable()
    .describe('When it goes out next (for held deliveries: when the hold ends).'),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});

const attemptSchema = z.object({
  number: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string(),
  outcome: z.enum(['succeeded', 'failed', 'interrupted']),
  url: z.string().describe('The URL without its query string.'),
  format: z.string(),
  statusCode: z.number().int().nullable(),
  latencyMs: z.number().int().nullable(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  responseHeaders: z.record(z.string(), z.string()).nullable(),
  responseBody: z.string().nullable().describe('The first 1 KB of the response body.'),
});

function toDelivery(row: DeliveryRowView): z.infer<typeof deliverySchema> {
  const status: DeliveryStatus =
    (row.status === 'pending' || row.status === 'held') && row.job_status === 'running'
      ? 'delivering'
      : (row.status as DeliveryStatus);
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    endpointId: row.endpoint_id,
    status,
    jobId: row.job_id,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: status === 'pending' || status === 'held' ? iso(row.next_attempt_at) : null,
    lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
    lastError: row.last_error_code
      ? { code: row.last_error_code, message: row.last_error_message ?? '' }
      : null,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
    finishedAt: iso(row.finished_at),
  };
}

function toAttempt(row: AttemptRow): z.infer<typeof attemptSchema> {
  return {
    number: Number(row.number),
    startedAt: iso(row.started_at) as string,
    finishedAt: iso(row.finished_at) as string,
    outcome: row.outcome as 'succeeded',
    url: row.url,
    format: row.format,
    statusCode: row.status_code === null ? null : Number(row.status_code),
    latencyMs: row.latency_ms === null ? null : Number(row.latency_ms),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    responseHeaders:
      row.response_headers === null ? null : (JSON.parse(row.response_headers) as Record<string, string>),
    responseBody: row.response_body,
  };
}

export const deliveryView = { schema: deliverySchema, from: toDelivery };

export const deliveryWithAttempts = {
  schema: deliverySchema.extend({ attempts: z.array(attemptSchema) }),
  async load(db: Kysely<Database>, id: string) {
    // Attempts and the delivery's state are written in one transaction, but read here in two
    // queries: a settlement committing in between would pair one with the other's past. The
    // attempt count tells; read again until they agree.
    for (let tries = 1; ; tries++) {
      const row = await getDeliveryRow(db, id);
      if (!row) throw new AppError('NOT_FOUND', `no delivery has the id ${id}`);
      const attempts = await listAttemptRows(db, id);
      if (attempts.length === Number(row.attempt_count) || tries >= 5) {
        return { ...toDelivery(row), attempts: attempts.map(toAttempt) };
      }
    }
  },
};

export async function listDeliveries(
  db: Kysely<Database>,
  query: {
    endpoint?: string | undefined;
    status?: DeliveryStatus | undefined;
    since?: string | undefined;
    before?: string | undefined;
    limit: number;
  },
) {
  const rows = await listDeliveryRows(db, {
    limit: query.limit + 1,
    ...(query.endpoint !== undefined ? { endpointId: query.endpoint } : {}),
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(query.since !== undefined ? { since: Date.parse(query.since) } : {}),
    ...(query.before !== undefined ? { before: query.before } : {}),
  });
  const page = rows.slice(0, query.limit);
  return {
    deliveries: page.map(toDelivery),
    nextBefore: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
  };
}
