import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { enqueueJob } from '../core/jobs/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type {
  ComponentHealth,
  DependencyProbe,
  Logger,
  ObserveDependency,
} from '../core/observability/index.js';
import { Alerts } from './alerts.js';
import type { DeliveryDeps } from './delivery.js';
import { type Endpoint, EndpointRegistry, maskedHeaders } from './endpoints.js';
import {
  DELIVERY_QUEUE,
  type DeliveryJobPayload,
  type EventInput,
  publishEvent,
  publishIn,
} from './events.js';
import { EndpointGuards } from './guards.js';
import { WebhookHttpClient } from './http-client.js';
import { DEFAULT_SCHEDULE_MS } from './jobs.js';
import { endpointProbes } from './probes.js';
import { type BuiltRequest, buildRequest, httpRequestFor } from './request.js';
import { judgeAnswer } from './response.js';
import {
  bringEndpointJobsForward,
  type DeliveryRow,
  getDeliveryRow,
  getEventRow,
  listReplayableDeliveries,
  updateDelivery,
} from './store.js';

/**
 * The webhook module's front: publishing, replays, test sends, the delivery queue and the
 * parts it is built from. The composition root makes one; routes and other modules use it.
 */

export interface WebhookOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  secretKey: Buffer;
  metrics?: Registry;
  /** Deliveries in flight at once in this process, all endpoints together. */
  concurrency: number;
  alertEmailTo: readonly string[];
  mail: { defaultFrom: string; retryScheduleMs: readonly number[] };
  /** The SSRF guard for endpoint URLs, on save and on every connection. */
  guard: TargetGuard;
  /** Gets one sample per delivery attempt (dependency watching). */
  observe?: ObserveDependency;
}

export class Webhooks {
  readonly endpoints: EndpointRegistry;
  readonly guards: EndpointGuards;
  readonly client: WebhookHttpClient;
  readonly alerts: Alerts;
  /** What the `webhook.deliver` queue (`deliveryQueue` in jobs.ts) is built from. */
  readonly deliveryDeps: DeliveryDeps & { concurrency: number };

  get store(): Store {
    return this.options.store;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  constructor(private readonly options: WebhookOptions) {
    const { store, clock, logger } = options;
    this.endpoints = new EndpointRegistry({
      store,
      clock,
      logger,
      secretKey: options.secretKey,
      guard: options.guard,
    });
    this.guards = new EndpointGuards({
      clock,
      store,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      onBreakerClosed: (endpointId) => void this.resumeDeferred(endpointId, ['WEBHOOK_UNAVAILABLE']),
    });
    this.client = new WebhookHttpClient({ guard: options.guard });
    this.alerts = new Alerts({
      store,
      clock,
      logger,
      endpoints: this.endpoints,
      emailTo: options.alertEmailTo,
      mail: options.mail,
    });
    this.deliveryDeps = {
      store,
      clock,
      logger,
      endpoints: this.endpoints,
      guards: this.guards,
      client: this.client,
      alerts: this.alerts,
      onSucceeded: [],
      concurrency: options.concurrency,
      ...(options.observe ? { observe: options.observe } : {}),
    };
  }

  /** Runs `listener` in the settlement transaction of every delivery that succeeds. */
  onDeliverySucceeded(listener: (tx: Tx, deliveryId: string, now: number) => Promise<void>): void {
    this.deliveryDeps.onSucceeded.push(listener);
  }

  /** Loads the endpoints (so the first claims use their concurrency) and starts the checks. */
  async start(): Promise<void> {
    await this.endpoints.all();
    this.alerts.start();
  }

  async stop(): Promise<void> {
    await this.alerts.stop();
    this.endpoints.close();
    await this.client.close();
  }

  /** Publishes an event to `endpoints` inside `tx` (inbound routing writes it with its ledger row). */
  publishIn(tx: Tx, now: number, endpoints: readonly Endpoint[], event: Parameters<typeof publishIn>[3]) {
    return publishIn(tx, now, endpoints, event);
  }

  publish(input: EventInput, origin: { source: string; scope: string }) {
    return publishEvent({ ...this.options, endpoints: this.endpoints }, input, origin);
  }

  /** Sends a finished delivery again, with a new job; its attempts so far are kept. */
  async replayDelivery(id: string): Promise<DeliveryRow> {
    const row = await getDeliveryRow(this.options.store.db, id);
    if (!row) throw new AppError('NOT_FOUND', `no delivery has the id ${id}`);
    if (!['succeeded', 'failed', 'dead'].includes(row.status)) {
      throw new AppError(
        'DELIVERY_NOT_REPLAYABLE',
        `delivery ${id} is ${row.job_status === 'running' ? 'delivering' : row.status}; it will be sent without a replay`,
        {
          details: { status: row.status },
        },
      );
    }
    const [replayed] = await this.requeue([row]);
    return replayed as DeliveryRow;
  }

  /** Replays every failed or dead delivery of an endpoint created since `since`. */
  async replayEndpoint(endpointId: string, since: number): Promise<DeliveryRow[]> {
    await this.endpoints.load(endpointId);
    const rows = await listReplayableDeliveries(this.options.store.db, endpointId, since, ['failed', 'dead']);
    return this.requeue(rows);
  }

  private async requeue(rows: DeliveryRow[]): Promise<DeliveryRow[]> {
    const { store, clock, logger } = this.options;
    const now = clock.now();
    const replayed = await store.transaction(async (tx) => {
      const out: DeliveryRow[] = [];
      const endpoints = await this.endpoints.all(tx.db);
      for (const row of rows) {
        const endpoint = endpoints.get(row.endpoint_id);
        const event = await getEventRow(tx.db, row.event_id);
        if (!event)
          throw new AppError('NOT_FOUND', `the event ${row.event_id} of delivery ${row.id} no longer exists`);
        const { job } = await enqueueJob<DeliveryJobPayload>(
          tx,
          {
            queue: DELIVERY_QUEUE,
            payload: { deliveryId: row.id, endpointId: row.endpoint_id, eventType: event.type },
            concurrencyKey: row.endpoint_id,
            maxAttempts: (endpoint?.settings.retryScheduleMs.length ?? DEFAULT_SCHEDULE_MS.length) + 1,
          },
          now,
        );
        const values = {
          status: 'pending',
          job_id: job.id,
          next_attempt_at: now,
          finished_at: null,
          updated_at: now,
        };
        await updateDelivery(tx, row.id, values);
        out.push({ ...row, ...values });
      }
      return out;
    });
    if (replayed.length > 0)
      logger.info({ event: 'webhook.replayed', count: replayed.length }, 'deliveries replayed');
    return replayed;
  }

  /**
   * A test call to an endpoint: with `dryRun`, the exact request it would get (signature
   * included), sent nowhere; otherwise one real attempt, whatever its window or breaker says.
   */
  async testEndpoint(
    endpointId: string,
    input: { type: string; payload: Record<string, unknown>; dryRun: boolean },
  ): Promise<{ request: BuiltRequest; response?: TestResponse }> {
    const endpoint = await this.endpoints.load(endpointId);
    const now = this.options.clock.now();
    const event = { id: uuidv7(), type: input.type, payload: input.payload, createdAt: now };
    const request = buildRequest(
      endpoint,
      this.endpoints.signingSecrets(endpoint, now),
      event,
      endpoint.settings.format,
      now,
    );
    // The endpoint's own header values are secrets (tokens): shown masked, like everywhere else.
    const shown = { ...request, headers: { ...request.headers, ...maskedHeaders(endpoint.secrets.headers) } };
    if (input.dryRun) return { request: shown };
    return { request: shown, response: await this.sendTest(endpoint, request) };
  }

  private async sendTest(endpoint: Endpoint, request: BuiltRequest): Promise<TestResponse> {
    try {
      const response = await this.client.send(httpRequestFor(endpoint, request));
      const verdict = judgeAnswer(response, endpoint.settings, this.options.clock.now());
      return {
        ok: verdict.ok,
        statusCode: response.statusCode,
        latencyMs: Math.round(response.latencyMs),
        headers: response.headers,
        body: response.body.slice(0, 1024),
        error: verdict.ok ? null : { code: verdict.error.code, message: verdict.error.message },
      };
    } catch (error) {
      const app = error instanceof AppError ? error : new AppError('WEBHOOK_CONNECT_FAILED', String(error));
      return {
        ok: false,
        statusCode: null,
        latencyMs: null,
        headers: null,
        body: null,
        error: { code: app.code, message: app.message },
      };
    }
  }

  /** Deferred deliveries of an endpoint go now (breaker closed). */
  private async resumeDeferred(endpointId: string, codes: string[]): Promise<void> {
    const { store, clock, logger } = this.options;
    await store
      .transaction((tx) => bringEndpointJobsForward(tx, endpointId, clock.now(), codes, false))
      .catch((error) =>
        logger.warn(
          { event: 'webhook.resume_failed', endpointId, err: error },
          'cannot bring deferred deliveries forward',
        ),
      );
  }

  /** Raises an alert of another module (dependency watching) in a transaction of its own. */
  raiseAlert(alert: { type: string; data: Record<string, unknown>; subject: string }): Promise<void> {
    const { store, clock } = this.options;
    return store.transaction((tx) =>
      this.alerts.raise(tx, alert.type, alert.data, clock.now(), alert.subject),
    );
  }

  /** A dependency probe per active endpoint (a HEAD of its origin; see probes.ts). */
  async probes(): Promise<DependencyProbe[]> {
    return endpointProbes((await this.endpoints.all()).values(), this.client);
  }

  /** The `/readyz` entry: breakers and last errors per endpoint. */
  async health(): Promise<ComponentHealth> {
    const names = new Map([...(await this.endpoints.all()).values()].map((e) => [e.id, e.settings.name]));
    return this.guards.health(names);
  }
}

/** What a test send answers. */
export interface TestResponse {
  ok: boolean;
  statusCode: number | null;
  latencyMs: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  error: { code: string; message: string } | null;
}
