import type { Agent } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import {
  enqueueJob,
  type Job,
  type JobContext,
  oneByOne,
  type QueueDefinition,
  type Settlement,
} from '../core/jobs/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { ObserveDependency } from '../core/observability/dependencies.js';
import type { Logger } from '../core/observability/index.js';
import { recordMessage } from '../mail/index.js';
import { FINAL_RUN_STATUSES, type StageName } from './model.js';
import { finishRun, type RaiseAlert } from './outcomes.js';
import { enqueuePing } from './pings.js';
import { renderContext, renderReport } from './render.js';
import type { Report, ReportRegistry } from './reports.js';
import { fetchData } from './sources.js';
import { failedStage, okStage, setStage } from './stages.js';
import { getRunRow, lockRun, runFromRow, updateRun } from './store.js';

/**
 * The run job of reports. `report.run` fetches the data, renders the message and records it in
 * the outbox (`fetch`, `render`, `queue`); the `send` stage follows the message's own send job
 * (`followSend` in outcomes.ts, in that job's settlement transaction), and pings are their own
 * jobs (pings.ts). Each stage's outcome, error code and hint is written on the run as it
 * happens, so `GET /api/report-runs/:id` shows where a run stands.
 */

export const RUN_QUEUE = 'report.run';

/** Delays between tries of a run whose fetch failed. */
export const RUN_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 300_000, 600_000];

export interface RunJobPayload {
  runId: string;
}

/** What the report jobs need. */
export interface ReportJobDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  registry: ReportRegistry;
  guard: TargetGuard;
  agent: Agent;
  sqliteDir: string | undefined;
  mail: { defaultFrom: string; retryScheduleMs: readonly number[] };
  raiseAlert: RaiseAlert;
  observe?: ObserveDependency;
}

/** Attempts a run gets: the data source's retries, and at least one more after an interruption. */
export function runAttempts(report: Report): number {
  const { data } = report.settings;
  const retries = data.type === 'http' || data.type === 'sql' ? data.retries : 0;
  return Math.min(RUN_RETRY_DELAYS_MS.length, Math.max(retries, 1)) + 1;
}

/** Enqueues the run job of a new run, in its transaction. */
export async function enqueueRun(tx: Tx, run: { id: string; reportId: string }, report: Report, now: number) {
  const { job } = await enqueueJob<RunJobPayload>(
    tx,
    {
      queue: RUN_QUEUE,
      payload: { runId: run.id },
      maxAttempts: runAttempts(report),
      concurrencyKey: run.reportId,
    },
    now,
  );
  return job;
}

/** What a run job did before it failed, for its settlement: the stage and when it started. */
const failures = new WeakMap<Job, { stage: StageName; startedAt: number; error: AppError }>();

/** The `report.run` queue. */
export function runQueue(deps: ReportJobDeps): QueueDefinition<RunJobPayload> {
  return {
    name: RUN_QUEUE,
    concurrency: 2,
    keyConcurrency: 1,
    retry: { kind: 'schedule', delaysMs: RUN_RETRY_DELAYS_MS, jitter: 0.1 },
    handle: (job, context) => performRun(deps, job, context),
    onSettled: oneByOne((tx, job, settlement) => onRunSettled(deps, tx, job, settlement)),
  };
}

async function performRun(
  deps: ReportJobDeps,
  job: Job<RunJobPayload>,
  context: JobContext,
): Promise<unknown> {
  const { store, clock } = deps;
  const row = await getRunRow(store.db, job.payload.runId);
  if (!row)
    throw new AppError('NOT_FOUND', `report run ${job.payload.runId} no longer exists`, { retryable: false });
  let run = runFromRow(row);
  // Queued already (a retry after a crash between the queue commit and the job's settlement).
  if (run.status === 'sending' || FINAL_RUN_STATUSES.has(run.status)) return { already: run.status };
  const report = await deps.registry.get(run.reportId);
  if (!report)
    throw new AppError('NOT_FOUND', `report ${run.reportId} no longer exists`, { retryable: false });

  // fetch
  let startedAt = clock.now();
  await store.transaction(async (tx) => {
    await updateRun(
      tx,
      run.id,
      {
        status: 'running',
        started_at: run.startedAt ?? startedAt,
        stages: setStage(run.stages, 'fetch', { outcome: 'running', startedAt, attempts: job.attempts }),
      },
      startedAt,
    );
    if (job.attempts === 1 && report.settings.ping) await enqueuePing(tx, run, 'start', startedAt);
  });
  let fetched: Awaited<ReturnType<typeof fetchData>>;
  const measuredFrom = performance.now();
  try {
    fetched = await fetchData(deps, report.settings, report.secrets, run.data, context.signal);
    observe(deps, report, 'ok', measuredFrom);
  } catch (thrown) {
    if (context.signal.aborted) throw thrown;
    const error =
      thrown instanceof AppError ? thrown : new AppError('REPORT_DATA_UNREACHABLE', String(thrown));
    if (report.settings.data.type === 'http' || report.settings.data.type === 'sql')
      observe(deps, report, error.code, measuredFrom);
    failures.set(job, { stage: 'fetch', startedAt, error });
    throw error;
  }
  let now = clock.now();
  run = {
    ...run,
    stages: okStage(run.stages, 'fetch', { startedAt, now, attempts: job.attempts }, fetched.detail),
  };

  // render
  startedAt = now;
  let rendered: Awaited<ReturnType<typeof renderReport>>;
  try {
    rendered = await renderReport(
      report.settings,
      renderContext(report.settings, fetched.data, run, run.slotAt ?? run.createdAt),
    );
  } catch (thrown) {
    const error =
      thrown instanceof AppError
        ? thrown
        : new AppError('REPORT_RENDER_FAILED', String(thrown), { retryable: false });
    failures.set(job, { stage: 'render', startedAt, error });
    await store.transaction((tx) => updateRun(tx, run.id, { stages: run.stages }, clock.now()));
    throw error;
  }
  now = clock.now();
  run.stages = okStage(
    run.stages,
    'render',
    { startedAt, now, attempts: 1 },
    {
      subject: rendered.subject,
      htmlBytes: rendered.html === undefined ? null : Buffer.byteLength(rendered.html),
      textBytes: rendered.text === undefined ? null : Buffer.byteLength(rendered.text),
      ...(rendered.attachment ? { attachment: rendered.attachment.filename } : {}),
    },
  );

  // queue: the message and the run's new state in one transaction (the outbox)
  startedAt = now;
  const messageId = uuidv7();
  const { settings } = report;
  await store.transaction(async (tx) => {
    const recorded = await recordMessage(tx, deps.mail, {
      id: messageId,
      input: {
        to: settings.to,
        ...(settings.cc.length > 0 ? { cc: settings.cc } : {}),
        ...(settings.bcc.length > 0 ? { bcc: settings.bcc } : {}),
        ...(settings.replyTo ? { replyTo: settings.replyTo } : {}),
        subject: rendered.subject,
        ...(rendered.html !== undefined ? { html: rendered.html } : {}),
        ...(rendered.text !== undefined ? { text: rendered.text } : {}),
        headers: { 'X-Facteur-Report': settings.name, 'X-Facteur-Report-Run': run.id },
      },
      ...(rendered.attachment
        ? {
            attachments: [
              {
                filename: rendered.attachment.filename,
                contentType: rendered.attachment.contentType,
                content: Buffer.from(rendered.attachment.content, 'utf8').toString('base64'),
              },
            ],
          }
        : {}),
      from: settings.from ?? deps.mail.defaultFrom,
      hash: run.id,
      origin: { source: 'report' },
      now: startedAt,
    });
    const at = clock.now();
    run.stages = okStage(
      run.stages,
      'queue',
      { startedAt, now: at, attempts: 1 },
      { messageId: recorded.row.id },
    );
    run.stages = setStage(run.stages, 'send', { outcome: 'running', startedAt: at });
    await updateRun(tx, run.id, { status: 'sending', message_id: recorded.row.id, stages: run.stages }, at, {
      unlessFinal: true,
    });
  });
  context.logger.info(
    { event: 'report.queued', reportId: report.id, runId: run.id, messageId },
    'report queued for sending',
  );
  return { messageId };
}

function observe(deps: ReportJobDeps, report: Report, outcome: string, measuredFrom: number): void {
  deps.observe?.({ kind: 'data_source', name: report.name, outcome, ms: performance.now() - measuredFrom });
}

/** Writes a failed try of the run: `retrying` with its next time, or failed for good (alert, ping). */
async function onRunSettled(
  deps: ReportJobDeps,
  tx: Tx,
  job: Job<RunJobPayload>,
  settlement: Settlement,
): Promise<void> {
  if (settlement.status === 'succeeded') return;
  const now = deps.clock.now();
  const row = await lockRun(tx, job.payload.runId);
  if (!row) return;
  const run = runFromRow(row);
  if (run.status === 'sending' || FINAL_RUN_STATUSES.has(run.status)) return;
  // Read, never taken: a batch that fails is applied again item by item.
  const failure = failures.get(job);
  const error =
    failure?.error ??
    ('error' in settlement && settlement.error
      ? settlement.error
      : new AppError('JOB_INTERRUPTED', 'the run stopped'));
  const stage = failure?.stage ?? run.stages.find((s) => s.outcome === 'running')?.stage ?? 'fetch';
  const startedAt = failure?.startedAt ?? run.startedAt ?? now;
  let stages = failedStage(run.stages, stage, error, startedAt, now, job.attempts);
  if (settlement.status === 'queued') {
    stages = setStage(stages, stage, { outcome: 'retrying', retryAt: settlement.runAt });
    await updateRun(
      tx,
      run.id,
      { status: 'queued', stages, error_code: error.code, error_message: error.message },
      now,
    );
    return;
  }
  stages = stages.map((s) => (s.outcome === 'pending' ? { ...s, outcome: 'skipped' } : s));
  await finishRun(deps, tx, run, { status: 'failed', stages, error }, now);
}
