import { z } from 'zod';
import { AppError } from '../errors.js';
import type { HttpApp } from '../http/server.js';
import type { JobEngine } from './engine.js';
import type { Job } from './model.js';
import { getJob } from './store.js';

/** A job as the API shows it. */
export const jobViewSchema = z.object({
  id: z.string(),
  queue: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled']),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  runAt: z.string().describe('When the job is (or was) due.'),
  concurrencyKey: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  payload: z.unknown(),
  result: z.unknown(),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
  leaseExpiresAt: z.string().nullable(),
  replays: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Converts a job to its API form. */
export function jobView(job: Job): z.infer<typeof jobViewSchema> {
  return {
    id: job.id,
    queue: job.queue,
    status: job.status,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    runAt: new Date(job.runAt).toISOString(),
    concurrencyKey: job.concurrencyKey,
    idempotencyKey: job.idempotencyKey,
    payload: job.payload,
    result: job.result,
    lastError: job.lastError,
    leaseExpiresAt: iso(job.leaseExpiresAt),
    replays: job.replays,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
  };
}

const idParams = z.object({ id: z.string().min(1).max(64) });

/** `GET /api/jobs/:id` and `POST /api/jobs/:id/replay`. */
export function registerJobRoutes(app: HttpApp, engine: JobEngine): void {
  app.get(
    '/jobs/:id',
    {
      schema: {
        summary: 'One job: its state, attempts, last error and result.',
        tags: ['jobs'],
        params: idParams,
        response: { 200: jobViewSchema },
      },
    },
    async (request) => {
      const job = await getJob(engine.store.db, request.params.id);
      if (!job) throw new AppError('NOT_FOUND', `no job has the id ${request.params.id}`);
      return jobView(job);
    },
  );

  app.post(
    '/jobs/:id/replay',
    {
      schema: {
        summary: 'Puts a dead or failed job back in the queue with fresh attempts.',
        tags: ['jobs'],
        params: idParams,
        response: { 200: jobViewSchema },
      },
    },
    async (request) => jobView(await engine.replay(request.params.id)),
  );
}
