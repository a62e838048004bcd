import { createHash } from 'node:crypto';
import type { Clock, Timer } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import type { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import { recordMessage } from '../mail/index.js';
import { ENDPOINTS_CHANNEL, type Endpoint, type EndpointRegistry } from './endpoints.js';
import { type DeliveryJobPayload, publishIn } from './events.js';
import { formatDuration } from './model.js';
import { redactUrl } from './request.js';
import { clearEndpointFailing, markEndpointFailing, markEndpointWarned } from './store.js';

/**
 * Alerts: a delivery that ran out of retries, an endpoint failing for half its `disableAfter`,
 * an endpoint disabled. Each is an event of type `facteur.alert.*` (delivered to the endpoints
 * that subscribe to it by name) and, when FACTEUR_ALERT_EMAIL is set, an email through the
 * outbox, written in the same transaction as the change it reports.
 */

export const ALERT_TYPES = {
  deliveryDead: 'facteur.alert.delivery_dead',
  endpointFailing: 'facteur.alert.endpoint_failing',
  endpointDisabled: 'facteur.alert.endpoint_disabled',
} as const;

/** How often endpoints that keep failing are checked against their `disableAfter`. */
const CHECK_EVERY_MS = 60_000;

export interface AlertDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  endpoints: EndpointRegistry;
  emailTo: readonly string[];
  mail: { defaultFrom: string; retryScheduleMs: readonly number[] };
}

export class Alerts {
  private timer: Timer | undefined;
  private checking: Promise<void> | undefined;
  private checkAgain = false;

  constructor(private readonly deps: AlertDeps) {}

  /** Starts the periodic check of failing endpoints. */
  start(): void {
    const tick = (): void => {
      this.requestCheck();
      this.timer = this.deps.clock.setTimer(CHECK_EVERY_MS, tick);
    };
    this.timer = this.deps.clock.setTimer(CHECK_EVERY_MS, tick);
  }

  /**
   * One check at a time: a clock that jumps hours ahead must not start one per minute skipped.
   * A tick during a check runs one more check after it, so no tick is lost.
   */
  private requestCheck(): void {
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = this.checkFailingEndpoints()
      .catch((error) =>
        this.deps.logger.warn(
          { event: 'endpoint.check_failed', err: error },
          'cannot check failing endpoints',
        ),
      )
      .finally(() => {
        this.checking = undefined;
        if (this.checkAgain && this.timer) {
          this.checkAgain = false;
          this.requestCheck();
        }
      });
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    await this.checking;
  }

  /** A success ends the endpoint's run of failures (written only when one was recorded). */
  async noteSuccess(tx: Tx, endpointId: string): Promise<void> {
    const cached = this.deps.endpoints.peek(endpointId);
    if (cached && cached.failingSince === null) return;
    await clearEndpointFailing(tx, endpointId);
    if (cached) cached.failingSince = null;
    tx.notify(ENDPOINTS_CHANNEL, endpointId);
  }

  /** A failed attempt starts the endpoint's run of failures if none is running. */
  async noteFailure(tx: Tx, endpointId: string, now: number): Promise<void> {
    const cached = this.deps.endpoints.peek(endpointId);
    if (cached && cached.failingSince !== null) return;
    await markEndpointFailing(tx, endpointId, now);
    if (cached) cached.failingSince = now;
    tx.notify(ENDPOINTS_CHANNEL, endpointId);
  }

  /** Retries ran out. Alerts about alert deliveries are only logged: no alert loops. */
  async deliveryDead(tx: Tx, job: DeliveryJobPayload, error: AppError, now: number): Promise<void> {
    const endpoint = this.deps.endpoints.peek(job.endpointId);
    const data = {
      deliveryId: job.deliveryId,
      endpointId: job.endpointId,
      endpointName: endpoint?.settings.name ?? null,
      eventType: job.eventType,
      error: { code: error.code, message: error.message },
    };
    this.deps.logger.warn({ event: 'webhook.dead', ...data }, 'webhook delivery ran out of retries');
    if (job.eventType.startsWith('facteur.alert.')) return;
    await this.raise(
      tx,
      ALERT_TYPES.deliveryDead,
      data,
      now,
      `Webhook delivery to ${data.endpointName ?? job.endpointId} failed for good`,
    );
  }

  /** Disables an endpoint (410 Gone, failing too long) in its own transaction, with the alert. */
  async disableEndpoint(endpoint: Endpoint, reason: string, now = this.deps.clock.now()): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      if (await this.deps.endpoints.disableIn(tx, endpoint.id, reason, now)) {
        await this.raiseDisabled(tx, endpoint, reason, now);
      }
    });
  }

  /** Warns at half of `disableAfter`, disables at `disableAfter`. Conditional writes: one alert even with several processes. */
  async checkFailingEndpoints(): Promise<void> {
    const now = this.deps.clock.now();
    for (const endpoint of await this.deps.endpoints.list()) {
      if (endpoint.status !== 'active' || endpoint.failingSince === null) continue;
      const failingFor = now - endpoint.failingSince;
      const limit = endpoint.settings.disableAfterMs;
      if (failingFor >= limit) {
        const reason = `it failed continuously for ${formatDuration(failingFor - (failingFor % 60_000) || failingFor)}`;
        await this.disableEndpoint(endpoint, reason, now);
      } else if (failingFor >= limit / 2 && endpoint.failureWarnedAt === null) {
        await this.deps.store.transaction(async (tx) => {
          if (!(await markEndpointWarned(tx, endpoint.id, now))) return;
          const data = {
            ...endpointFacts(endpoint),
            failingSince: new Date(endpoint.failingSince as number).toISOString(),
            disableAt: new Date((endpoint.failingSince as number) + limit).toISOString(),
          };
          this.deps.logger.warn({ event: 'endpoint.failing', ...data }, 'webhook endpoint keeps failing');
          await this.raise(
            tx,
            ALERT_TYPES.endpointFailing,
            data,
            now,
            `Webhook endpoint ${endpoint.settings.name} keeps failing`,
          );
        });
      }
    }
  }

  private async raiseDisabled(tx: Tx, endpoint: Endpoint, reason: string, now: number): Promise<void> {
    const data = { ...endpointFacts(endpoint), reason };
    this.deps.logger.warn({ event: 'endpoint.disabled', ...data }, 'webhook endpoint disabled');
    await this.raise(
      tx,
      ALERT_TYPES.endpointDisabled,
      data,
      now,
      `Webhook endpoint ${endpoint.settings.name} was disabled`,
    );
  }

  /**
   * Publishes a Facteur event (`facteur.*`) to the endpoints subscribed to `type`, in the
   * caller's transaction, without the alert email (a campaign's end, for instance). Returns the
   * payload's hash.
   */
  async publish(tx: Tx, type: string, data: Record<string, unknown>, now: number): Promise<string> {
    const subscribers = await this.deps.endpoints.subscribersOf(type, tx.db);
    const hash = createHash('sha256')
      .update(JSON.stringify([type, data]))
      .digest('hex');
    await publishIn(tx, now, subscribers, { type, payload: data, hash, source: 'alert', scope: 'alert' });
    return hash;
  }

  /**
   * Raises an alert in the caller's transaction: an event to the endpoints subscribed to `type`
   * and, when FACTEUR_ALERT_EMAIL is set, an email through the outbox. Every feature's alerts
   * (reports, dependencies) go through here.
   */
  async raise(
    tx: Tx,
    type: string,
    data: Record<string, unknown>,
    now: number,
    subject: string,
  ): Promise<void> {
    const hash = await this.publish(tx, type, data, now);
    if (this.deps.emailTo.length === 0) return;
    const text = `${subject}.\n\n${Object.entries(data)
      .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
      .join('\n')}\n\nSee GET /api/endpoints and GET /api/deliveries for details.\n`;
    await recordMessage(tx, this.deps.mail, {
      id: uuidv7(),
      input: { to: [...this.deps.emailTo], subject: `[Facteur] ${subject}`, text },
      from: this.deps.mail.defaultFrom,
      hash,
      origin: { source: 'alert' },
      now,
    });
  }
}

function endpointFacts(endpoint: Endpoint): Record<string, unknown> {
  return {
    endpointId: endpoint.id,
    endpointName: endpoint.settings.name,
    url: redactUrl(endpoint.settings.url),
  };
}
