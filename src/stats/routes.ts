import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { ACTIVITY_WINDOWS, type ActivityFigures, LATENCY_BOUNDS_MS } from './model.js';
import { activity, type StatsDeps } from './service.js';

/** `GET /api/stats/activity`: the series the dashboard's overview charts (viewer role). */

const activityQuery = z.strictObject({
  window: z
    .enum(ACTIVITY_WINDOWS)
    .default('1h')
    .describe('The window: `1h` (60 buckets of 1 min) or `24h` (96 buckets of 15 min). Default `1h`.'),
});

const percentile = (which: string, what: string) =>
  z
    .number()
    .nullable()
    .describe(
      `${which} of ${what}, in ms: the upper bound of the latency class holding it (classes: ${LATENCY_BOUNDS_MS.join(', ')} ms, then more; above the last, the last). Null without samples.`,
    );

const figuresSchema = z.object({
  mail: z.object({
    sent: z.number().int().describe('Messages sent (by `sent_at`).'),
    failed: z
      .number()
      .int()
      .describe('Messages that failed for good (status `failed`, by their last update).'),
    p50Ms: percentile('Median', 'delivery latency (sent minus accepted)'),
    p95Ms: percentile('95th percentile', 'delivery latency (sent minus accepted)'),
  }),
  webhooks: z.object({
    succeeded: z.number().int().describe('Webhook attempts that succeeded (by when they finished).'),
    failed: z
      .number()
      .int()
      .describe('Webhook attempts that did not succeed (failed, or interrupted by a stop).'),
    p50Ms: percentile('Median', 'webhook attempt latency'),
    p95Ms: percentile('95th percentile', 'webhook attempt latency'),
  }),
  inbound: z.object({
    received: z.number().int().describe('Inbound messages recorded (by `received_at`), duplicates included.'),
  }),
});

const activitySchema = z.object({
  window: z.enum(ACTIVITY_WINDOWS),
  bucketMs: z.number().int().describe('The width of one bucket, in ms.'),
  from: z.string().describe('Start of the first bucket (ISO 8601, UTC; a bucket boundary).'),
  to: z.string().describe('End of the last bucket (exclusive): the bucket holding now ends there.'),
  buckets: z
    .array(figuresSchema.extend({ at: z.string().describe('Start of the bucket (ISO 8601, UTC).') }))
    .describe(
      'Every bucket of the window, oldest first, empty ones included (zero counts, null percentiles).',
    ),
  totals: figuresSchema.describe('The whole window (percentiles over all its samples).'),
});

const iso = (ms: number) => new Date(ms).toISOString();

/** Registers `GET /api/stats/activity`. */
export function registerStatsRoutes(app: HttpApp, deps: StatsDeps): void {
  app.get(
    '/stats/activity',
    {
      schema: {
        summary:
          'Activity over the last hour or day, from the database (every instance): mail sent and failed, webhook attempts, inbound messages, latency percentiles.',
        tags: ['stats'],
        querystring: activityQuery,
        response: { 200: activitySchema },
      },
    },
    async (request) => {
      const result = await activity(deps, request.query.window);
      return {
        ...result,
        from: iso(result.from),
        to: iso(result.to),
        buckets: result.buckets.map((bucket) => ({ ...(bucket as ActivityFigures), at: iso(bucket.at) })),
      };
    },
  );
}
