import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { enqueueJobs } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import { localWeekday, scheduleStateAt } from '../core/schedule.js';
import type { Endpoint, EndpointRegistry } from './endpoints.js';
import { eventTypeSchema, WEEKDAYS } from './model.js';
import {
  type DeliveryRow,
  type EventRow,
  findEventByIdempotencyKey,
  insertDeliveries,
  insertEvent,
  listDeliveriesOfEvent,
} from './store.js';

/**
 * Publishing an event: the event, one delivery per subscribed endpoint and one job per
 * delivery are written in one transaction, so an accepted event is never without its
 * deliveries. Deliveries to an endpoint that is paused or outside its window start `held`.
 */

/** The queue that delivers webhooks; jobs are keyed by endpoint id. */
export const DELIVERY_QUEUE = 'webhook.deliver';
/** How often a paused or disabled endpoint's held deliveries look again (resuming wakes them at once). */
export const HOLD_RECHECK_MS = 3_600_000;

/** POST /api/events. */
export const eventInputSchema = z.strictObject({
  type: eventTypeSchema.describe(
    'Dotted event type, e.g. invoice.paid. Types starting with facteur. are reserved.',
  ),
  payload: z.record(z.string(), z.unknown()).describe('The event data: a JSON object.'),
  idempotencyKey: z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe('Publishing the same key again returns the first event.'),
});
export type EventInput = z.infer<typeof eventInputSchema>;

/** Dependencies of publishing. */
export interface PublishDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  endpoints: EndpointRegistry;
}

/** Why a delivery waits, or that it may go now. */
export type HoldState = { held: false } | { held: true; until: number; reason: string };

/**
 * Whether `endpoint` takes a request at `now`; when not, until when and why. `ignoreWindow`
 * (inbound rules that tell the receiver when to start, as the replaced system did for
 * non-urgent DESABO) lets the delivery go outside the time window, never on an absence day.
 */
export function holdState(endpoint: Endpoint, now: number, ignoreWindow = false): HoldState {
  if (endpoint.status === 'paused')
    return { held: true, until: now + HOLD_RECHECK_MS, reason: 'the endpoint is paused' };
  if (endpoint.status === 'disabled') {
    return {
      held: true,
      until: now + HOLD_RECHECK_MS,
      reason: `the endpoint is disabled (${endpoint.disabledReason ?? 'by an operator'})`,
    };
  }
  const { timeZone, absenceWeekdays } = endpoint.settings;
  const timeWindow = ignoreWindow ? null : endpoint.settings.timeWindow;
  // Most endpoints have no schedule: skip the time-zone arithmetic on the hot path.
  if (timeWindow === null && absenceWeekdays.length === 0) return { held: false };
  const state = scheduleStateAt({ timeZone, window: timeWindow, absenceWeekdays }, now);
  if (state.open) return { held: false };
  const reason =
    state.reason === 'absence_day'
      ? `${WEEKDAYS[localWeekday(timeZone, now)]} is an absence day in ${timeZone}`
      : `outside the endpoint's time window (${timeZone})`;
  return { held: true, until: state.opensAt, reason };
}

/** The answer to a publish. */
export interface PublishedEvent {
  event: EventRow;
  deliveries: DeliveryRow[];
  created: boolean;
}

/** Publishes an event from the API (idempotent per API key). */
export async function publishEvent(
  deps: PublishDeps,
  input: EventInput,
  origin: { source: string; scope: string },
): Promise<PublishedEvent> {
  if (input.type.startsWith('facteur.')) {
    throw new AppError('VALIDATION_FAILED', 'event types starting with facteur. are reserved for Facteur', {
      details: [{ in: 'body', field: 'type', message: 'must not start with facteur. (reserved)' }],
    });
  }
  const hash = createHash('sha256')
    .update(JSON.stringify([input.type, input.payload]))
    .digest('hex');
  if (input.idempotencyKey !== undefined) {
    const existing = await findEventByIdempotencyKey(deps.store.db, origin.scope, input.idempotencyKey);
    if (existing) return replayed(deps, existing, hash);
  }
  const subscribers = await deps.endpoints.subscribersOf(input.type);
  const result = await deps.store.groupTransaction((tx) =>
    publishIn(tx, deps.clock.now(), subscribers, { ...input, hash, ...origin }),
  );
  if (!result && input.idempotencyKey !== undefined) {
    const winner = await findEventByIdempotencyKey(deps.store.db, origin.scope, input.idempotencyKey);
    if (winner) return replayed(deps, winner, hash);
  }
  if (!result) throw new AppError('INTERNAL', 'the event was neither recorded nor found');
  return result;
}

async function replayed(deps: PublishDeps, existing: EventRow, hash: string): Promise<PublishedEvent> {
  if (existing.request_hash !== hash) {
    throw new AppError(
      'IDEMPOTENCY_CONFLICT',
      `the idempotency key was already used for event ${existing.id} with a different body`,
      {
        details: { eventId: existing.id },
      },
    );
  }
  return {
    event: existing,
    deliveries: await listDeliveriesOfEvent(deps.store.db, existing.id),
    created: false,
  };
}

/**
 * Writes an event, its deliveries and their jobs inside `tx`. Returns undefined when the
 * idempotency key is already taken (nothing written).
 */
export async function publishIn(
  tx: Tx,
  now: number,
  subscribers: readonly Endpoint[],
  event: {
    type: string;
    payload: unknown;
    idempotencyKey?: string;
    hash: string;
    source: string;
    scope: string;
    /** Deliver outside the endpoints' time windows (absence days still hold). */
    ignoreWindow?: boolean;
  },
): Promise<PublishedEvent | undefined> {
  const row: EventRow = {
    id: uuidv7(),
    type: event.type,
    payload: JSON.stringify(event.payload),
    idempotency_scope: event.scope,
    idempotency_key: event.idempotencyKey ?? null,
    request_hash: event.hash,
    source: event.source,
    created_at: now,
  };
  if (!(await insertEvent(tx, row))) return undefined;
  const ignoreWindow = event.ignoreWindow === true;
  const plans = subscribers.map((endpoint) => ({
    endpoint,
    id: uuidv7(),
    hold: holdState(endpoint, now, ignoreWindow),
  }));
  const jobIds = await enqueueJobs(
    tx,
    plans.map(({ endpoint, id, hold }) => ({
      queue: DELIVERY_QUEUE,
      payload: {
        deliveryId: id,
        endpointId: endpoint.id,
        eventType: event.type,
        ...(ignoreWindow ? { ignoreWindow } : {}),
      },
      concurrencyKey: endpoint.id,
      maxAttempts: endpoint.settings.retryScheduleMs.length + 1,
      runAt: hold.held ? hold.until : now,
    })),
    now,
  );
  const deliveries: DeliveryRow[] = plans.map(({ endpoint, id, hold }, index) => ({
    id,
    event_id: row.id,
    endpoint_id: endpoint.id,
    status: hold.held ? 'held' : 'pending',
    job_id: jobIds[index] as string,
    attempt_count: 0,
    next_attempt_at: hold.held ? hold.until : now,
    last_status_code: null,
    last_error_code: hold.held ? 'WEBHOOK_HELD' : null,
    last_error_message: hold.held ? hold.reason : null,
    created_at: now,
    updated_at: now,
    finished_at: null,
  }));
  await insertDeliveries(tx, deliveries);
  return { event: row, deliveries, created: true };
}

/** Payload of a delivery job. */
export interface DeliveryJobPayload {
  deliveryId: string;
  endpointId: string;
  eventType: string;
  /** Set by inbound rules that deliver outside the endpoint's time window. */
  ignoreWindow?: boolean;
}
