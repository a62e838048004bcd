import type { Clock } from '../core/clock.js';
import type { Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { Job, Settlement } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import type { SendJobResult } from '../mail/index.js';
import { hintFor } from './hints.js';
import { FINAL_RUN_STATUSES, type Stage } from './model.js';
import { enqueuePing } from './pings.js';
import type { ReportRegistry } from './reports.js';
import { failedStage, okStage, setStage } from './stages.js';
import { getRunByMessage, type Run, runFromRow, updateRun } from './store.js';

/**
 * How runs end: sent (the message's send job succeeded) or failed (a stage failed for good),
 * each with its ping and, for a failure, an alert through the alert channel. Written in the
 * transaction that settles the job concerned.
 */

export const ALERTS = {
  failed: 'facteur.alert.report_failed',
  missed: 'facteur.alert.report_missed',
  late: 'facteur.alert.report_late',
} as const;

/** Raises an alert through the alert channel, in the caller's transaction. */
export type RaiseAlert = (
  tx: Tx,
  type: string,
  data: Record<string, unknown>,
  now: number,
  subject: string,
) => Promise<void>;

/** What ending a run needs. */
export interface OutcomeDeps {
  registry: ReportRegistry;
  raiseAlert: RaiseAlert;
  logger: Logger;
}

/** Ends a run as failed or sent, with its alert and ping. */
export async function finishRun(
  deps: OutcomeDeps,
  tx: Tx,
  run: Run,
  outcome: { status: 'sent' | 'failed'; stages: Stage[]; error?: AppError; smtpResponse?: string | null },
  now: number,
): Promise<void> {
  const { status, stages, error } = outcome;
  const written = await updateRun(
    tx,
    run.id,
    {
      status,
      stages,
      finished_at: now,
      error_code: error?.code ?? null,
      error_message: error?.message ?? null,
      ...(outcome.smtpResponse !== undefined ? { smtp_response: outcome.smtpResponse } : {}),
    },
    now,
    { unlessFinal: true },
  );
  if (!written) return;
  const report = deps.registry.peek(run.reportId) ?? (await deps.registry.readIn(tx, run.reportId));
  if (!report) return;
  if (report.settings.ping) {
    await enqueuePing(
      tx,
      run,
      status === 'sent' ? 'success' : 'fail',
      now,
      error ? `${error.code}: ${error.message}` : undefined,
    );
  }
  if (status === 'failed' && error) {
    const stage = stages.find((s) => s.outcome === 'failed')?.stage ?? null;
    deps.logger.warn(
      { event: 'report.failed', reportId: run.reportId, runId: run.id, stage, code: error.code },
      'report run failed',
    );
    await deps.raiseAlert(
      tx,
      ALERTS.failed,
      {
        reportId: run.reportId,
        reportName: report.name,
        runId: run.id,
        stage,
        error: { code: error.code, message: error.message },
        hint: hintFor(error.code, { stage: stage ?? 'send' }),
        scheduledFor: run.slotAt === null ? null : new Date(run.slotAt).toISOString(),
      },
      now,
      `Report ${report.name} failed at the ${stage ?? 'send'} stage`,
    );
  }
}

/**
 * Follows a report's message through its send job (in that job's settlement transaction): the
 * `send` stage shows each attempt's outcome, and the run ends when the message is sent or
 * failed for good. Other messages cost nothing: the job says where its message came from.
 */
export async function followSend(
  deps: OutcomeDeps & { clock: Clock },
  tx: Tx,
  job: Job<{ messageId: string; source?: string }>,
  settlement: Settlement,
): Promise<void> {
  if (job.payload.source !== 'report') return;
  const row = await getRunByMessage(tx.db, job.payload.messageId);
  if (!row) return;
  const run = runFromRow(row);
  if (FINAL_RUN_STATUSES.has(run.status)) return;
  const now = deps.clock.now();
  const send = run.stages.find((s) => s.stage === 'send');
  const startedAt = send?.startedAt ?? now;
  if (settlement.status === 'succeeded') {
    const result = (settlement.result ?? {}) as SendJobResult;
    const stages = okStage(
      run.stages,
      'send',
      { startedAt, now, attempts: job.attempts },
      {
        smtpCode: result.smtpCode ?? null,
        smtpResponse: result.smtpResponse ?? null,
        ...(result.transport ? { transport: result.transport } : {}),
        ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
      },
    );
    await finishRun(
      deps,
      tx,
      run,
      { status: 'sent', stages, smtpResponse: result.smtpResponse ?? null },
      now,
    );
    return;
  }
  const error = settlement.error ?? new AppError('SMTP_PROTOCOL', 'the send failed');
  const details = (error.details ?? {}) as { smtpCode?: number | null; smtpResponse?: string | null };
  let stages = failedStage(run.stages, 'send', error, startedAt, now, job.attempts);
  stages = setStage(stages, 'send', {
    detail: { smtpCode: details.smtpCode ?? null, smtpResponse: details.smtpResponse ?? null },
  });
  if (settlement.status === 'queued') {
    stages = setStage(stages, 'send', { outcome: 'retrying', retryAt: settlement.runAt });
    await updateRun(tx, run.id, { stages, error_code: error.code, error_message: error.message }, now);
    return;
  }
  await finishRun(
    deps,
    tx,
    run,
    { status: 'failed', stages, error, smtpResponse: details.smtpResponse ?? null },
    now,
  );
}
