import type { Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { enqueueJob, type QueueDefinition } from '../core/jobs/index.js';
import type { ReportJobDeps } from './jobs.js';
import type { Run } from './store.js';

/**
 * The dead-man's switch: `report.ping` jobs tell a Healthchecks-style URL that a run started
 * (`/start`), succeeded (the URL) or failed (`/fail`, the error as the body). Enqueued in the
 * transaction that changes the run, so a ping is never lost and never holds a run up.
 */

export const PING_QUEUE = 'report.ping';
const PING_RETRY_DELAYS_MS = [5_000, 30_000, 120_000];
const PING_TIMEOUT_MS = 10_000;

export interface PingJobPayload {
  runId: string;
  reportId: string;
  signal: 'start' | 'success' | 'fail';
  /** For `fail`: what went wrong, sent as the ping's body. */
  body?: string;
}

/** Enqueues a ping of `run`'s report in `tx`. */
export async function enqueuePing(
  tx: Tx,
  run: Run,
  signal: PingJobPayload['signal'],
  now: number,
  body?: string,
) {
  await enqueueJob<PingJobPayload>(
    tx,
    {
      queue: PING_QUEUE,
      payload: {
        runId: run.id,
        reportId: run.reportId,
        signal,
        ...(body ? { body: body.slice(0, 10_000) } : {}),
      },
      maxAttempts: PING_RETRY_DELAYS_MS.length + 1,
      concurrencyKey: run.reportId,
    },
    now,
  );
}

/** The URL a ping goes to: Healthchecks' convention, `/start` and `/fail` after the check URL. */
export function pingTarget(url: string, signal: PingJobPayload['signal']): string {
  if (signal === 'success') return url;
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/${signal}`;
  return parsed.toString();
}

/** The `report.ping` queue: one POST per ping, retried a few times, through the SSRF guard. */
export function pingQueue(deps: ReportJobDeps): QueueDefinition<PingJobPayload> {
  return {
    name: PING_QUEUE,
    concurrency: 4,
    keyConcurrency: 1,
    retry: { kind: 'schedule', delaysMs: PING_RETRY_DELAYS_MS, jitter: 0.1 },
    handle: async (job, context) => {
      const report = await deps.registry.get(job.payload.reportId);
      const url = report?.secrets.pingUrl;
      if (!url) return { skipped: 'no ping URL' };
      const target = new URL(pingTarget(url, job.payload.signal));
      const measuredFrom = performance.now();
      try {
        const response = await deps.agent.request({
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'Facteur' },
          body: job.payload.body ?? `run ${job.payload.runId}`,
          signal: AbortSignal.any([context.signal, AbortSignal.timeout(PING_TIMEOUT_MS)]),
          headersTimeout: PING_TIMEOUT_MS,
          bodyTimeout: PING_TIMEOUT_MS,
        });
        await response.body.dump();
        if (response.statusCode >= 400) {
          throw new AppError('REPORT_PING_FAILED', `the ping URL answered HTTP ${response.statusCode}`, {
            retryable: response.statusCode === 429 || response.statusCode >= 500,
          });
        }
        return { status: response.statusCode, ms: Math.round(performance.now() - measuredFrom) };
      } catch (error) {
        if (error instanceof AppError) throw error;
        const cause = (error as { cause?: unknown }).cause;
        if (cause instanceof AppError) throw cause;
        throw new AppError('REPORT_PING_FAILED', `cannot reach the ping URL: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
  };
}
