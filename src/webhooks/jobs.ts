import { parseDuration } from '../core/config/parsers.js';
import { oneByOne, type QueueDefinition } from '../core/jobs/index.js';
import { type DeliveryDeps, deliverWebhook, onDeliveryReplayed, onDeliverySettled } from './delivery.js';
import { DELIVERY_QUEUE, type DeliveryJobPayload } from './events.js';
import { DEFAULT_RETRY_SCHEDULE } from './model.js';

/** The retry schedule of a delivery whose endpoint is not known here (deleted, not loaded yet). */
export const DEFAULT_SCHEDULE_MS: readonly number[] = DEFAULT_RETRY_SCHEDULE.map((d) => parseDuration(d));
/** Retry jitter: ±5% keeps every retry within 5% of its schedule while spreading bursts. */
const RETRY_JITTER = 0.05;
/** Deliveries of an endpoint in flight at once when its settings are not known here. */
const DEFAULT_ENDPOINT_CONCURRENCY = 10;

/**
 * The `webhook.deliver` queue: one job per delivery, keyed by endpoint, so that each endpoint's
 * own concurrency and retry schedule (read from its settings when a job is claimed or settles)
 * apply. `concurrency`: deliveries in flight at once in this process, all endpoints together.
 */
export function deliveryQueue(
  deps: DeliveryDeps & { concurrency: number },
): QueueDefinition<DeliveryJobPayload> {
  return {
    name: DELIVERY_QUEUE,
    concurrency: deps.concurrency,
    keyConcurrency: (endpointId) =>
      deps.endpoints.peek(endpointId)?.settings.concurrency ?? DEFAULT_ENDPOINT_CONCURRENCY,
    retry: (job) => ({
      kind: 'schedule',
      delaysMs: deps.endpoints.peek(job.payload.endpointId)?.settings.retryScheduleMs ?? DEFAULT_SCHEDULE_MS,
      jitter: RETRY_JITTER,
    }),
    handle: (job, context) => deliverWebhook(deps, job, context),
    onSettled: oneByOne((tx, job, settlement) => onDeliverySettled(deps, tx, job, settlement)),
    onReplayed: (tx, job) => onDeliveryReplayed(deps, tx, job),
  };
}
