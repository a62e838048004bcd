import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import type { StartOptions } from '../../src/main.js';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { type HttpReceiver, startHttpReceiver } from './http-receiver.js';

/**
 * Helpers for webhook tests: a Standard Webhooks verifier written from the specification
 * (independent of src/), and short API calls for endpoints, events and deliveries.
 */

/** True when one `v1,` entry of `webhook-signature` is the HMAC-SHA256 of `id.timestamp.body` under `secret`. */
export function verifySignature(secret: string, headers: Record<string, unknown>, body: string): boolean {
  const id = String(headers['webhook-id']);
  const timestamp = String(headers['webhook-timestamp']);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((entry) => {
      const [version, signature] = entry.split(',');
      if (version !== 'v1' || !signature) return false;
      const given = Buffer.from(signature, 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

// biome-ignore lint/suspicious/noExplicitAny: API answers are checked field by field in the tests
export type Json = Record<string, any>;

/** API shortcuts bound to one instance and receiver. */
export function webhookApi(app: TestFacteur, receiver: HttpReceiver) {
  return {
    async createEndpoint(settings: Json = {}): Promise<Json> {
      const created = await app.request<Json>('POST', '/api/endpoints', {
        body: { name: 'receiver', url: `${receiver.url}/hook`, ...settings },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body;
    },
    async publish(type: string, payload: Json = { n: 1 }): Promise<Json> {
      const published = await app.request<Json>('POST', '/api/events', { body: { type, payload } });
      expect(published.status, JSON.stringify(published.body)).toBe(202);
      return published.body;
    },
    async delivery(id: string): Promise<Json> {
      const answer = await app.request<Json>('GET', `/api/deliveries/${id}`);
      expect(answer.status).toBe(200);
      return answer.body;
    },
    /** Waits until the delivery satisfies `check` (an expect-based assertion). */
    async waitForDelivery(id: string, check: (d: Json) => void, timeout = 15_000): Promise<Json> {
      return vi.waitFor(
        async () => {
          const d = await this.delivery(id);
          try {
            check(d);
          } catch (error) {
            // Say what the delivery looked like, attempts included, when the wait gives up.
            (error as Error).message += `\ndelivery: ${JSON.stringify(d)}`;
            throw error;
          }
          return d;
        },
        { timeout, interval: 20 },
      );
    },
  };
}

/** Moves the manual clock to `iso` time (a delivery's nextAttemptAt). */
export function advanceTo(clock: ManualClock, iso: string): void {
  clock.set(Date.parse(iso));
}

/** What a webhook test suite works with; filled in by the suite's beforeAll. */
export interface WebhookSuite {
  app: TestFacteur;
  receiver: HttpReceiver;
  api: ReturnType<typeof webhookApi>;
}

/**
 * Registers the hooks every webhook suite needs: a receiver and an instance before the suite
 * (with the given environment, clock and DNS lookup), the receiver reset after each test, both
 * closed after the suite.
 */
export function useWebhookSuite(
  env: Record<string, string> = {},
  options: { clock?: ManualClock; lookup?: StartOptions['lookup']; logLines?: string[] } = {},
): WebhookSuite {
  const suite = {} as WebhookSuite;
  beforeAll(async () => {
    suite.receiver = await startHttpReceiver();
    suite.app = await startTestFacteur(env, options);
    suite.api = webhookApi(suite.app, suite.receiver);
  });
  afterEach(() => suite.receiver?.reset());
  afterAll(async () => {
    await suite.app?.close();
    await suite.receiver?.close();
  });
  return suite;
}
