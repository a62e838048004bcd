import { z } from 'zod';
import { maskSecret } from '../core/crypto/index.js';
import { AppError } from '../core/errors.js';
import { optionalBody } from '../core/http/input.js';
import type { HttpApp } from '../core/http/server.js';
import { registerSettingsRoutes } from '../core/settings/index.js';
import { registerDeliveryStream } from './delivery-stream.js';
import { type Endpoint, maskedHeaders } from './endpoints.js';
import { eventInputSchema } from './events.js';
import { DELIVERY_STATUSES, durationSchema, endpointCreateSchema, inputFromSettings } from './model.js';
import type { Webhooks } from './service.js';
import { deliveryView, deliveryWithAttempts, listDeliveries } from './views.js';

const idParams = z.object({ id: z.string().min(1).max(64) });
const isoTime = z.iso.datetime({ offset: true }).describe('An ISO 8601 time, e.g. 2026-11-21T09:00:00Z.');

const endpointSchema = z.object({
  id: z.string(),
  status: z.enum(['active', 'paused', 'disabled']),
  name: z.string(),
  description: z.string().optional().describe('What the endpoint is for; absent when empty.'),
  url: z.string(),
  eventTypes: z.array(z.string()),
  format: z.enum(['json', 'form']),
  payloadShape: z.enum(['envelope', 'data']),
  retryOtherFormatOn415: z.boolean(),
  headers: z.record(z.string(), z.string()).describe('Header values are masked.'),
  successRule: z.enum(['any-2xx', 'json-success']),
  connectTimeout: z.string(),
  timeout: z.string(),
  retrySchedule: z.array(z.string()),
  retryOn4xx: z.boolean(),
  concurrency: z.number().int(),
  rateLimit: z.object({ max: z.number().int(), per: z.string() }).nullable(),
  timeWindow: z.object({ start: z.string(), end: z.string() }).nullable(),
  absenceWeekdays: z.array(z.string()),
  timeZone: z.string(),
  disableAfter: z.string(),
  secret: z
    .string()
    .describe('The signing secret, masked. It is shown in full only when created or rotated.'),
  previousSecretsExpireAt: z
    .string()
    .nullable()
    .describe('While a rotation overlaps, when the older secrets stop signing.'),
  failingSince: z.string().nullable(),
  disabledAt: z.string().nullable(),
  disabledReason: z.string().nullable(),
  version: z
    .number()
    .int()
    .describe('Raised by every change; send it back as `If-Match` to change this version only.'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function endpointView(endpoint: Endpoint, now: number): z.infer<typeof endpointSchema> {
  const written = inputFromSettings(endpoint.settings, maskedHeaders(endpoint.secrets.headers));
  const older = endpoint.secrets.signing.slice(1).filter((s) => s.expiresAt !== null && s.expiresAt > now);
  return {
    id: endpoint.id,
    status: endpoint.status,
    ...(written as Omit<z.infer<typeof endpointSchema>, 'id' | 'status'>),
    secret: maskSecret(endpoint.secrets.signing[0]?.secret ?? '', 10),
    previousSecretsExpireAt:
      older.length > 0 ? iso(Math.max(...older.map((s) => s.expiresAt as number))) : null,
    failingSince: iso(endpoint.failingSince),
    disabledAt: iso(endpoint.disabledAt),
    disabledReason: endpoint.disabledReason,
    version: endpoint.version,
    createdAt: iso(endpoint.createdAt) as string,
    updatedAt: iso(endpoint.updatedAt) as string,
  };
}

/**
 * `/api/endpoints`, `/api/events`, `/api/deliveries`; `isShuttingDown` ends the delivery streams
 * at shutdown (default: never).
 */
export function registerWebhookRoutes(
  app: HttpApp,
  webhooks: Webhooks,
  isShuttingDown: () => boolean = () => false,
): void {
  const now = () => webhooks.clock.now();
  const tags = ['webhooks'];

  registerSettingsRoutes(app, {
    path: '/endpoints',
    listKey: 'endpoints',
    tags,
    collection: webhooks.endpoints,
    view: (endpoint) => endpointView(endpoint, now()),
    viewSchema: endpointSchema,
    created: {
      schema: endpointSchema.extend({ secret: z.string().describe('The full signing secret (whsec_...).') }),
      body: (endpoint) => ({ ...endpointView(endpoint, now()), secret: endpoint.secrets.signing[0]?.secret }),
    },
    summaries: {
      create: 'Creates a webhook endpoint. The answer holds its signing secret, shown this once.',
      list: 'Every endpoint.',
      get: 'One endpoint.',
      patch:
        'Changes some settings of an endpoint; the others stay. Waiting deliveries follow the new settings.',
      delete:
        'Deletes an endpoint with its deliveries and their attempts; its waiting deliveries are cancelled.',
      pause: 'Pauses an endpoint: its deliveries are held (not dropped) until it is resumed.',
      resume: 'Resumes a paused or disabled endpoint: held deliveries go out now.',
    },
  });

  app.post(
    '/endpoints/:id/rotate-secret',
    {
      schema: {
        summary:
          'Replaces the signing secret; the old one keeps signing alongside the new one for `overlap`.',
        tags,
        params: idParams,
        body: optionalBody(
          z.strictObject({
            overlap: durationSchema(0, 7 * 86_400_000)
              .prefault('24h')
              .describe('How long the previous secret keeps signing (default 24h, at most 7d).'),
            secret: endpointCreateSchema.shape.secret,
          }),
        ),
        response: { 200: z.object({ secret: z.string(), previousSecretExpiresAt: z.string() }) },
      },
    },
    async (request) => {
      const { overlap, secret } = request.body;
      const rotated = await webhooks.endpoints.rotateSecret(request.params.id, overlap, secret);
      return {
        secret: rotated.secret,
        previousSecretExpiresAt: new Date(rotated.previousExpiresAt).toISOString(),
      };
    },
  );

  app.post(
    '/endpoints/:id/test',
    {
      schema: {
        summary:
          'Sends a test event to the endpoint now, or with dryRun returns the exact request without sending it.',
        tags,
        params: idParams,
        body: optionalBody(
          z.strictObject({
            type: eventInputSchema.shape.type.default('facteur.test'),
            payload: eventInputSchema.shape.payload.default({ message: 'Test event from Facteur' }),
            dryRun: z.boolean().default(false),
          }),
        ),
        response: {
          200: z.object({
            request: z.object({
              method: z.literal('POST'),
              url: z.string(),
              format: z.enum(['json', 'form']),
              headers: z.record(z.string(), z.string()),
              body: z.string(),
            }),
            response: z
              .object({
                ok: z.boolean(),
                statusCode: z.number().int().nullable(),
                latencyMs: z.number().nullable(),
                headers: z.record(z.string(), z.string()).nullable(),
                body: z.string().nullable(),
                error: z.object({ code: z.string(), message: z.string() }).nullable(),
              })
              .optional(),
          }),
        },
      },
    },
    async (request) => webhooks.testEndpoint(request.params.id, request.body),
  );

  app.post(
    '/endpoints/:id/replay',
    {
      schema: {
        summary: 'Replays every failed or dead delivery of the endpoint created since a time.',
        tags,
        params: idParams,
        body: z.strictObject({ since: isoTime }),
        response: { 202: z.object({ replayed: z.number().int(), deliveries: z.array(z.string()) }) },
      },
    },
    async (request, reply) => {
      const rows = await webhooks.replayEndpoint(request.params.id, Date.parse(request.body.since));
      return reply.status(202).send({ replayed: rows.length, deliveries: rows.map((r) => r.id) });
    },
  );

  app.post(
    '/events',
    {
      config: { workLedger: true },
      schema: {
        summary: 'Publishes an event: one delivery per subscribed endpoint, recorded before the answer.',
        tags,
        body: eventInputSchema,
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        response: {
          202: z.object({
            id: z.string(),
            type: z.string(),
            deliveries: z.array(
              z.object({ id: z.string(), endpointId: z.string(), status: z.enum(DELIVERY_STATUSES) }),
            ),
          }),
        },
      },
    },
    async (request, reply) => {
      const headerKey = request.headers['idempotency-key'];
      const bodyKey = request.body.idempotencyKey;
      if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
        throw new AppError(
          'VALIDATION_FAILED',
          'the Idempotency-Key header and the idempotencyKey field differ',
          {
            details: [
              { in: 'body', field: 'idempotencyKey', message: 'differs from the Idempotency-Key header' },
            ],
          },
        );
      }
      const key = headerKey ?? bodyKey;
      const published = await webhooks.publish(
        { ...request.body, ...(key !== undefined ? { idempotencyKey: key } : {}) },
        { source: 'api', scope: request.principal?.id ?? 'api' },
      );
      if (!published.created) reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({
        id: published.event.id,
        type: published.event.type,
        deliveries: published.deliveries.map((d) => ({
          id: d.id,
          endpointId: d.endpoint_id,
          status: d.status as 'pending',
        })),
      });
    },
  );

  registerDeliveryRoutes(app, webhooks);
  registerDeliveryStream(app, webhooks, isShuttingDown);
}

function registerDeliveryRoutes(app: HttpApp, webhooks: Webhooks): void {
  const tags = ['webhooks'];
  app.get(
    '/deliveries',
    {
      schema: {
        summary: 'Deliveries, newest first, filtered by endpoint, status and creation time.',
        tags,
        querystring: z.object({
          endpoint: z.string().max(64).optional(),
          status: z.enum(DELIVERY_STATUSES).optional(),
          since: isoTime.optional(),
          before: z.string().max(64).optional().describe('Cursor: the `nextBefore` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: {
          200: z.object({ deliveries: z.array(deliveryView.schema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => listDeliveries(webhooks.store.db, request.query),
  );

  app.get(
    '/deliveries/:id',
    {
      schema: {
        summary:
          'One delivery with every attempt: status code, latency, error, response headers and body (first 1 KB).',
        tags,
        params: idParams,
        response: { 200: deliveryWithAttempts.schema },
      },
    },
    async (request) => deliveryWithAttempts.load(webhooks.store.db, request.params.id),
  );

  app.post(
    '/deliveries/:id/replay',
    {
      schema: {
        summary:
          'Sends a succeeded, failed or dead delivery again (same webhook-id, so receivers can drop repeats).',
        tags,
        params: idParams,
        response: { 202: deliveryWithAttempts.schema },
      },
    },
    async (request, reply) => {
      await webhooks.replayDelivery(request.params.id);
      return reply.status(202).send(await deliveryWithAttempts.load(webhooks.store.db, request.params.id));
    },
  );
}
