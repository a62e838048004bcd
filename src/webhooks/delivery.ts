import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { type Job, type JobContext, JobDeferral, runJobNow, type Settlement } from '../core/jobs/index.js';
import type { Logger, ObserveDependency } from '../core/observability/index.js';
import type { Alerts } from './alerts.js';
import type { Endpoint, EndpointRegistry } from './endpoints.js';
import { DELIVERY_QUEUE, type DeliveryJobPayload, holdState } from './events.js';
import type { EndpointGuards } from './guards.js';
import type { WebhookHttpClient } from './http-client.js';
import {
  type BodyFormat,
  buildRequest,
  type EventForRequest,
  httpRequestFor,
  otherFormat,
  redactUrl,
} from './request.js';
import { finalAttemptMessage, judgeAnswer } from './response.js';
import {
  type AttemptRow,
  attemptCountPlus,
  getDeliveryAttemptCount,
  getDeliveryWork,
  insertAttempts,
  markDeliveryReplayed,
  updateDelivery,
} from './store.js';

/**
 * The delivery job: one HTTP attempt (two when a 415 may be retried in the other format),
 * recorded with the job's settlement in the same batched transaction, so that an attempt,
 * its delivery's new state and its job's new state are written together.
 */

/** Dependencies of delivering. */
export interface DeliveryDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  endpoints: EndpointRegistry;
  guards: EndpointGuards;
  client: WebhookHttpClient;
  alerts: Alerts;
  /** Called in the settlement transaction of every delivery that succeeded (inbound marks its message delivered). */
  onSucceeded: Array<(tx: Tx, deliveryId: string, now: number) => Promise<void>>;
  /** Gets one sample per attempt (dependency watching), kind `endpoint`, named by the endpoint. */
  observe?: ObserveDependency;
}

/** Response bytes kept on an attempt. */
const KEPT_BODY_BYTES = 1024;
/** Rate-limit waits up to this long happen in the job; longer ones give the slot back. */
const MAX_IN_JOB_WAIT_MS = 1000;

/** Attempts made by a job run, waiting for its settlement (a WeakMap: no leak if it never settles). */
const attemptsOfRun = new WeakMap<Job, AttemptRow[]>();

/** Attempt outcomes. `interrupted`: the process stopped or died while the request was out. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'interrupted';

export async function deliverWebhook(
  deps: DeliveryDeps,
  job: Job<DeliveryJobPayload>,
  context: JobContext,
): Promise<unknown> {
  const { store, clock, guards } = deps;
  const work = await getDeliveryWork(store.db, job.payload.deliveryId);
  if (!work)
    throw new AppError('NOT_FOUND', `delivery ${job.payload.deliveryId} no longer exists`, {
      retryable: false,
    });
  // A replay gave the delivery a new job; an old job replayed through /api/jobs must not send it too.
  if (work.job_id !== job.id || work.status === 'succeeded') return { superseded: true };
  const endpoint = await deps.endpoints.get(work.endpoint_id);
  if (!endpoint)
    throw new AppError('NOT_FOUND', `endpoint ${work.endpoint_id} no longer exists`, { retryable: false });

  const hold = holdState(endpoint, clock.now(), job.payload.ignoreWindow === true);
  if (hold.held)
    throw new JobDeferral(hold.until, hold.reason, new AppError('WEBHOOK_HELD', `held: ${hold.reason}`));
  const permit = guards.breaker(endpoint.id).acquire();
  if (!permit.allowed) {
    const error = new AppError(
      'WEBHOOK_UNAVAILABLE',
      'the endpoint failed repeatedly; its circuit breaker is open',
    );
    throw new JobDeferral(permit.retryAt, error.message, error);
  }
  await waitForRateSlot(deps, endpoint);

  const event: EventForRequest = {
    id: work.event_id,
    type: work.event_type,
    payload: JSON.parse(work.event_payload),
    createdAt: Number(work.event_created_at),
  };
  const attempts: AttemptRow[] = [];
  attemptsOfRun.set(job, attempts);
  const firstNumber = Number(work.attempt_count) + 1;
  let result = await attemptOnce(deps, endpoint, event, endpoint.settings.format, firstNumber, context);
  attempts.push(result.row);
  if (
    result.verdict.ok === false &&
    result.verdict.unsupportedMediaType &&
    endpoint.settings.retryOtherFormatOn415
  ) {
    result = await attemptOnce(
      deps,
      endpoint,
      event,
      otherFormat(endpoint.settings.format),
      firstNumber + 1,
      context,
    );
    attempts.push(result.row);
  }
  const { verdict } = result;
  if (verdict.ok) {
    guards.recordSuccess(endpoint.id);
    return { statusCode: result.row.status_code };
  }
  guards.recordFailure(endpoint.id, verdict.error.message, isUnhealthy(verdict.error));
  if (verdict.disableEndpoint) await deps.alerts.disableEndpoint(endpoint, `the receiver answered 410 Gone`);
  throw verdict.error;
}

async function waitForRateSlot(deps: DeliveryDeps, endpoint: Endpoint): Promise<void> {
  for (;;) {
    const slot = deps.guards.takeRateSlot(endpoint.id, endpoint.settings.rateLimit);
    if (slot.ok) return;
    const waitMs = slot.retryAt - deps.clock.now();
    if (waitMs > MAX_IN_JOB_WAIT_MS) {
      const error = new AppError(
        'WEBHOOK_THROTTLED',
        `the endpoint's rate limit (${endpoint.settings.rateLimit?.max} per window) is reached`,
      );
      throw new JobDeferral(slot.retryAt, error.message, error);
    }
    await new Promise<void>((resolve) => deps.clock.setTimer(Math.max(1, waitMs), resolve));
  }
}

type AttemptResult = { row: AttemptRow; verdict: ReturnType<typeof judgeAnswer> };

async function attemptOnce(
  deps: DeliveryDeps,
  endpoint: Endpoint,
  event: EventForRequest,
  format: BodyFormat,
  number: number,
  context: JobContext,
): Promise<AttemptResult> {
  const { clock, client, endpoints, guards } = deps;
  const startedAt = clock.now();
  const request = buildRequest(
    endpoint,
    endpoints.signingSecrets(endpoint, startedAt),
    event,
    format,
    startedAt,
  );
  const row: AttemptRow = {
    id: uuidv7(),
    delivery_id: '',
    number,
    started_at: startedAt,
    finished_at: startedAt,
    outcome: 'failed',
    url: redactUrl(request.url),
    format,
    status_code: null,
    latency_ms: null,
    error_code: null,
    error_message: null,
    response_headers: null,
    response_body: null,
  };
  const measuredFrom = performance.now();
  const observe = (outcome: string, ms = performance.now() - measuredFrom) =>
    deps.observe?.({ kind: 'endpoint', name: endpoint.settings.name, outcome, ms });
  try {
    const response = await client.send(httpRequestFor(endpoint, request, context.signal));
    guards.metrics?.attemptDuration.observe({ endpoint: endpoint.id }, response.latencyMs / 1000);
    const verdict = judgeAnswer(response, endpoint.settings, clock.now());
    observe(verdict.ok ? 'ok' : verdict.error.code, response.latencyMs);
    Object.assign(row, {
      finished_at: clock.now(),
      outcome: verdict.ok ? 'succeeded' : 'failed',
      status_code: response.statusCode,
      latency_ms: Math.round(response.latencyMs),
      response_headers: JSON.stringify(response.headers),
      response_body: truncateUtf8(response.body, KEPT_BODY_BYTES),
      ...(verdict.ok ? {} : { error_code: verdict.error.code, error_message: verdict.error.message }),
    });
    return { row, verdict };
  } catch (thrown) {
    if (context.signal.aborted) throw thrown;
    const error =
      thrown instanceof AppError
        ? thrown
        : new AppError('WEBHOOK_CONNECT_FAILED', String((thrown as Error)?.message ?? thrown), {
            cause: thrown,
          });
    observe(error.code);
    Object.assign(row, {
      finished_at: clock.now(),
      latency_ms: clock.now() - startedAt,
      error_code: error.code,
      error_message: error.message,
    });
    return { row, verdict: { ok: false, error, disableEndpoint: false, unsupportedMediaType: false } };
  }
}

/** Failures that say the receiver is down or overwhelmed, as opposed to refusing this request. */
function isUnhealthy(error: AppError): boolean {
  return error.retryable && error.code !== 'WEBHOOK_NOT_CONFIRMED' && error.code !== 'WEBHOOK_REJECTED';
}

function truncateUtf8(text: string, bytes: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return text;
  // Cutting inside a multi-byte character leaves a replacement character; drop it.
  return buffer
    .subarray(0, bytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

/** Records the run's attempts and mirrors the job's new state onto its delivery, in the settlement transaction. */
export async function onDeliverySettled(
  deps: DeliveryDeps,
  tx: Tx,
  job: Job<DeliveryJobPayload>,
  settlement: Settlement,
): Promise<void> {
  const now = deps.clock.now();
  const { deliveryId, endpointId } = job.payload;
  if (settlement.status === 'succeeded' && (settlement.result as { superseded?: boolean })?.superseded)
    return;
  // Read and copied, never taken or changed: a batch that fails is applied again item by item.
  const made = attemptsOfRun.get(job) ?? [];
  const attempts = (made.length > 0 ? made : await interruptedAttempt(tx, job, settlement, now)).map(
    (attempt) => ({ ...attempt, delivery_id: deliveryId }),
  );
  const last = attempts.at(-1);
  let error = 'error' in settlement && settlement.error ? settlement.error : null;
  if (settlement.status === 'dead' && error) {
    // The verdict was written before anyone knew it was the last attempt.
    error = new AppError(error.code, finalAttemptMessage(error.message), {
      details: error.details,
      retryable: error.retryable,
      cause: error,
    });
    if (last?.error_message) last.error_message = finalAttemptMessage(last.error_message);
  }
  await insertAttempts(tx, attempts);
  const counts = { attempt_count: attemptCountPlus(attempts.length), updated_at: now } as const;
  const lastError = { last_error_code: error?.code ?? null, last_error_message: error?.message ?? null };
  const statusCode = last ? { last_status_code: last.status_code } : {};
  const metrics = deps.guards.metrics;
  switch (settlement.status) {
    case 'succeeded':
      await updateDelivery(tx, deliveryId, {
        ...counts,
        ...statusCode,
        ...lastError,
        status: 'succeeded',
        next_attempt_at: null,
        finished_at: now,
      });
      metrics?.deliveries.inc({ endpoint: endpointId, outcome: 'succeeded' });
      await deps.alerts.noteSuccess(tx, endpointId);
      for (const listener of deps.onSucceeded) await listener(tx, deliveryId, now);
      return;
    case 'queued': {
      let held = settlement.deferred && error?.code === 'WEBHOOK_HELD';
      let runAt = settlement.runAt;
      // The wait may already be over: the endpoint was resumed while this run held the delivery
      // on an old copy, or the probe that closes the breaker succeeded while this run was
      // refused (its bring-forward ran before this deferral was written).
      const breakerClosed =
        settlement.deferred &&
        error?.code === 'WEBHOOK_UNAVAILABLE' &&
        deps.guards.breaker(endpointId).state === 'closed';
      if (breakerClosed || (held && !(await stillHeld(deps, tx, job.payload, now)))) {
        await runJobNow(tx, DELIVERY_QUEUE, job.id, now);
        held = false;
        runAt = now;
      }
      await updateDelivery(tx, deliveryId, {
        ...counts,
        ...statusCode,
        ...lastError,
        status: held ? 'held' : 'pending',
        next_attempt_at: runAt,
      });
      const outcome = held ? 'held' : settlement.deferred ? 'deferred' : 'retried';
      metrics?.deliveries.inc({ endpoint: endpointId, outcome });
      if (!settlement.deferred) metrics?.retries.inc({ endpoint: endpointId });
      if (countsAsFailing(attempts, error)) await deps.alerts.noteFailure(tx, endpointId, now);
      return;
    }
    case 'failed':
    case 'dead':
      await updateDelivery(tx, deliveryId, {
        ...counts,
        ...statusCode,
        ...lastError,
        status: settlement.status,
        next_attempt_at: null,
        finished_at: now,
      });
      metrics?.deliveries.inc({ endpoint: endpointId, outcome: settlement.status });
      if (countsAsFailing(attempts, error)) await deps.alerts.noteFailure(tx, endpointId, now);
      if (settlement.status === 'dead')
        await deps.alerts.deliveryDead(tx, job.payload, error ?? settlement.error, now);
      return;
  }
}

/**
 * Re-reads the endpoint inside the settlement transaction. On PostgreSQL the row is read
 * FOR SHARE: a resume that changed it either committed first (seen here) or waits for this
 * transaction and then brings the held job forward itself. SQLite runs one writer at a time.
 */
async function stillHeld(
  deps: DeliveryDeps,
  tx: Tx,
  payload: DeliveryJobPayload,
  now: number,
): Promise<boolean> {
  const endpoint = await deps.endpoints.readIn(tx, payload.endpointId);
  return endpoint === undefined || holdState(endpoint, now, payload.ignoreWindow === true).held;
}

/**
 * Whether a run starts (or continues) the endpoint's failure run toward auto-disable: a failed
 * attempt with a retryable error. A refusal (4xx, redirect) is about one request, and an
 * interrupted attempt is about Facteur, not the receiver.
 */
function countsAsFailing(attempts: AttemptRow[], error: AppError | null): boolean {
  return error?.retryable === true && attempts.some((a) => a.outcome === 'failed');
}

/** A run that ended without an outcome of its own (crash, lost lease, shutdown deadline). */
async function interruptedAttempt(
  tx: Tx,
  job: Job<DeliveryJobPayload>,
  settlement: Settlement,
  now: number,
): Promise<AttemptRow[]> {
  const error = 'error' in settlement ? settlement.error : null;
  if (!error || (error.code !== 'JOB_LEASE_EXPIRED' && error.code !== 'JOB_INTERRUPTED')) return [];
  const startedAt = job.startedAt ?? now;
  const delivery = await getDeliveryAttemptCount(tx.db, job.payload.deliveryId);
  return [
    {
      id: uuidv7(),
      delivery_id: '',
      number: (delivery ?? 0) + 1,
      started_at: startedAt,
      finished_at: now,
      outcome: 'interrupted',
      url: '',
      format: '',
      status_code: null,
      latency_ms: null,
      error_code: error.code,
      error_message: `${error.message}; the receiver may or may not have got this request (it carries the same webhook-id)`,
      response_headers: null,
      response_body: null,
    },
  ];
}

/** A replayed delivery is pending again. */
export async function onDeliveryReplayed(
  deps: Pick<DeliveryDeps, 'clock'>,
  tx: Tx,
  job: Job<DeliveryJobPayload>,
): Promise<void> {
  const now = deps.clock.now();
  await markDeliveryReplayed(tx, job.payload.deliveryId, job.id, now);
}
