import { Agent, buildConnector } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Tx } from '../core/db/index.js';
import { findByIdempotencyKey, isUniqueViolation, type Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { type Job, oneByOne, type QueueDefinition, type Settlement } from '../core/jobs/index.js';
import { guardConnector, type TargetGuard } from '../core/net/ssrf.js';
import type { ObserveDependency } from '../core/observability/dependencies.js';
import type { ComponentHealth, Logger } from '../core/observability/index.js';
import { enqueueRun, type ReportJobDeps, runQueue } from './jobs.js';
import { freshStages } from './model.js';
import { followSend, type RaiseAlert } from './outcomes.js';
import { pingQueue } from './pings.js';
import { renderContext, renderReport } from './render.js';
import { type Report, ReportRegistry } from './reports.js';
import { compileSchedule, slotsBetween } from './schedule.js';
import { ReportScheduler } from './scheduler.js';
import { fetchData } from './sources.js';
import {
  getRunRow,
  getSlotRun,
  insertManualRun,
  insertSlotRun,
  latestPushedData,
  latestRuns,
  listRunRows,
  type Run,
  type RunRow,
  runFromRow,
} from './store.js';

/**
 * Reports: the registry of definitions, the scheduler, the run and ping jobs, triggers and
 * previews, and the health of each scheduled report for /readyz.
 */

export interface ReportsDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  secretKey: Buffer;
  guard: TargetGuard;
  /** FACTEUR_REPORT_SQLITE_DIR. */
  sqliteDir: string | undefined;
  mail: { defaultFrom: string; retryScheduleMs: readonly number[] };
  raiseAlert: RaiseAlert;
  observe?: ObserveDependency;
}

/** A trigger: data for a `push` source, the scheduled slot it stands for, an idempotency key. */
export interface TriggerInput {
  data?: Record<string, unknown>;
  slot?: string;
  idempotencyKey?: string;
}

export class Reports {
  readonly registry: ReportRegistry;
  readonly scheduler: ReportScheduler;
  private readonly agent: Agent;
  private readonly jobDeps: ReportJobDeps;

  constructor(private readonly deps: ReportsDeps) {
    this.registry = new ReportRegistry({ ...deps, sqliteDir: deps.sqliteDir });
    this.agent = new Agent({
      connect: guardConnector(deps.guard, buildConnector({ lookup: deps.guard.lookup() })),
      keepAliveTimeout: 10_000,
    });
    this.jobDeps = { ...deps, registry: this.registry, agent: this.agent };
    this.scheduler = new ReportScheduler({ ...deps, registry: this.registry });
  }

  /** The report queues, for the engine. */
  queues(): QueueDefinition<never>[] {
    return [runQueue(this.jobDeps), pingQueue(this.jobDeps)] as unknown as QueueDefinition<never>[];
  }

  /** Follows report messages through the mail send queue (register with `engine.follow`). */
  followSend = oneByOne(
    (tx: Tx, job: Job<{ messageId: string; source?: string }>, settlement: Settlement): Promise<void> =>
      followSend(this.jobDeps, tx, job, settlement),
  );

  start(): void {
    this.scheduler.start();
  }

  private stopped: Promise<void> | undefined;

  /** Stops the scheduler and closes connections; safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.scheduler.stop();
      this.registry.close();
      await this.agent.close();
    })();
    return this.stopped;
  }

  /** The report named or identified by `nameOrId`, or NOT_FOUND. */
  async require(nameOrId: string): Promise<Report> {
    const report = await this.registry.find(nameOrId);
    if (!report) throw new AppError('NOT_FOUND', `no report has the id or name ${nameOrId}`);
    return report;
  }

  /**
   * Starts a run now: the run and its job in one group commit, answered at once (202). With
   * `slot`, the run stands for that scheduled slot: if the scheduler (or another trigger) ran it
   * already, that run is the answer and nothing is sent again. With `idempotencyKey`, a repeat
   * answers the first run.
   */
  async trigger(report: Report, input: TriggerInput): Promise<{ run: Run; created: boolean }> {
    const { clock, store } = this.deps;
    const now = clock.now();
    if (input.data === undefined && report.settings.data.type === 'push')
      throw new AppError(
        'REPORT_DATA_MISSING',
        'this report takes its data in the trigger request: send `data`',
        {
          details: [{ in: 'body', field: 'data', message: 'is required: the report has a push data source' }],
        },
      );
    const slotAt = input.slot === undefined ? null : this.slotOf(report, input.slot, now);
    const scope = `report:${report.id}`;
    if (input.idempotencyKey !== undefined) {
      const existing = await findByIdempotencyKey(store.db, 'report_runs', scope, input.idempotencyKey);
      if (existing) return { run: sameRequest(runFromRow(existing), input), created: false };
    }
    if (slotAt !== null) {
      const existing = await getSlotRun(store.db, report.id, slotAt);
      if (existing) return { run: runFromRow(existing), created: false };
    }
    const row = newRunRow(report, { slotAt, now, scope, input });
    let created = true;
    try {
      // Group commit, as a send: the job first (its id goes on the row), then the run; a slot or
      // key taken meanwhile rolls this caller's part back, job included.
      await store.groupTransaction(async (tx) => {
        row.job_id = (await enqueueRun(tx, { id: row.id, reportId: report.id }, report, now)).id;
        const inserted =
          slotAt !== null ? await insertSlotRun(tx, row) : (await insertManualRun(tx, row)).created;
        if (!inserted) throw new TriggerRace();
      });
    } catch (error) {
      if (!(error instanceof TriggerRace) && !isUniqueViolation(error)) throw error;
      created = false;
    }
    if (created) return { run: runFromRow(row), created };
    // Another trigger or the scheduler took the slot or the key meanwhile: answer its run.
    const winner =
      (slotAt !== null ? await getSlotRun(store.db, report.id, slotAt) : undefined) ??
      (input.idempotencyKey !== undefined
        ? await findByIdempotencyKey(store.db, 'report_runs', scope, input.idempotencyKey)
        : undefined);
    if (!winner) throw new AppError('INTERNAL', 'the run was neither created nor found');
    return { run: runFromRow(winner), created: false };
  }

  /** The slot `slot` names: `latest` (the newest slot up to now) or an instant the schedule fires at. */
  private slotOf(report: Report, slot: string, now: number): number {
    const s = report.settings.schedule;
    const invalid = (message: string) =>
      new AppError('REPORT_SLOT_INVALID', `slot: ${message}`, {
        details: [{ in: 'body', field: 'slot', message }],
      });
    if (!s) throw invalid('the report has no schedule, so it has no slots');
    const schedule = compileSchedule(s.cron, s.timezone);
    if (slot === 'latest') {
      const last = slotsBetween(schedule, now - 8 * 86_400_000, now, 1)[0];
      if (last === undefined) throw invalid('the schedule had no slot in the last 8 days');
      return last;
    }
    const at = Date.parse(slot);
    if (Number.isNaN(at)) throw invalid('must be `latest` or an ISO-8601 instant');
    if (schedule.next(at - 1) !== at)
      throw invalid(`${new Date(at).toISOString()} is not a slot of "${s.cron}" in ${s.timezone}`);
    if (at > now) throw invalid('is in the future');
    return at;
  }

  /** The next scheduled slot of an active report, or null. */
  nextRunAt(report: Report): number | null {
    const s = report.settings.schedule;
    if (!s || report.status !== 'active') return null;
    return compileSchedule(s.cron, s.timezone).next(this.deps.clock.now());
  }

  /** Renders the report with `data` (or its source's data) and sends nothing. */
  async preview(report: Report, data: Record<string, unknown> | undefined) {
    const controller = new AbortController();
    const fetched = await fetchData(
      { guard: this.deps.guard, agent: this.agent, sqliteDir: this.deps.sqliteDir },
      data !== undefined ? { ...report.settings, data: { type: 'push' } } : report.settings,
      report.secrets,
      data ?? null,
      controller.signal,
    );
    const now = this.deps.clock.now();
    const rendered = await renderReport(
      report.settings,
      renderContext(report.settings, fetched.data, { id: 'preview', trigger: 'preview', slotAt: null }, now),
    );
    return { ...rendered, data: fetched.data, fetch: fetched.detail };
  }

  /**
   * The preview behind `GET /api/reports/{id}/preview.html`: with `data` when given; else a
   * `push` report renders the data pushed with its newest run that had some (none yet:
   * REPORT_DATA_MISSING), and other sources fetch as the POST preview does.
   */
  async previewPage(report: Report, data: Record<string, unknown> | undefined) {
    if (data !== undefined || report.settings.data.type !== 'push') return this.preview(report, data);
    const pushed = await latestPushedData(this.deps.store.db, report.id);
    if (pushed === null)
      throw new AppError(
        'REPORT_DATA_MISSING',
        'this push report has no run with data yet: run it with data first, or use POST /api/reports/{id}/preview with data',
        { details: [{ in: 'querystring', field: 'data', message: 'required until a run has pushed data' }] },
      );
    return this.preview(report, pushed);
  }

  async getRun(id: string): Promise<Run> {
    const row = await getRunRow(this.deps.store.db, id);
    if (!row) throw new AppError('NOT_FOUND', `no report run has the id ${id}`);
    return runFromRow(row);
  }

  async listRuns(
    report: Report,
    options: { limit: number; before?: string; status?: string },
  ): Promise<Run[]> {
    return (await listRunRows(this.deps.store.db, report.id, options)).map(runFromRow);
  }

  /**
   * /readyz: a scheduled report whose latest run failed, was missed or is past its deadline is
   * down (red); one whose send is being retried is degraded. Not critical: a failed report does
   * not take the instance out of service.
   */
  async health(): Promise<ComponentHealth> {
    const now = this.deps.clock.now();
    const reports = [...(await this.registry.all()).values()].filter((r) => r.status === 'active');
    const latest = reports.length > 0 ? await latestRuns(this.deps.store.db) : new Map<string, RunRow>();
    const states: Record<string, unknown> = {};
    let worst: ComponentHealth['status'] = 'ok';
    const problems: string[] = [];
    for (const report of reports) {
      const row = latest.get(report.id);
      const run = row ? runFromRow(row) : undefined;
      let status: ComponentHealth['status'] = 'ok';
      let reason: string | undefined;
      if (run?.status === 'failed' || run?.status === 'missed') {
        status = report.settings.schedule ? 'down' : 'degraded';
        reason =
          run.status === 'missed'
            ? 'its last scheduled run was missed'
            : `its last run failed (${run.errorCode})`;
      } else if (run && run.deadlineAt !== null && run.finishedAt === null && run.deadlineAt <= now) {
        status = 'down';
        reason = 'its run is past its deadline';
      } else if (run?.stages.some((s) => s.outcome === 'retrying')) {
        status = 'degraded';
        reason = 'its run is being retried';
      }
      if (status === 'down' || (status === 'degraded' && worst === 'ok')) worst = status;
      if (reason) problems.push(`${report.name}: ${reason}`);
      states[report.name] = {
        status,
        ...(reason ? { reason } : {}),
        schedule: report.settings.schedule
          ? `${report.settings.schedule.cron} (${report.settings.schedule.timezone})`
          : null,
        lastRun: run
          ? {
              id: run.id,
              status: run.status,
              scheduledFor: run.slotAt === null ? null : new Date(run.slotAt).toISOString(),
              errorCode: run.errorCode,
            }
          : null,
      };
    }
    return {
      status: worst,
      ...(problems.length > 0 ? { message: problems.join('; ') } : {}),
      detail: { reports: states },
    };
  }
}

/** Rolls back a trigger whose slot or idempotency key another took meanwhile. */
class TriggerRace extends Error {
  constructor() {
    super('slot or idempotency key taken');
  }
}

/** A repeated idempotency key must carry the same data. */
function sameRequest(run: Run, input: TriggerInput): Run {
  if (JSON.stringify(run.data ?? null) !== JSON.stringify(input.data ?? null)) {
    throw new AppError(
      'IDEMPOTENCY_CONFLICT',
      `the idempotency key was already used for run ${run.id} with other data`,
      {
        details: { runId: run.id },
      },
    );
  }
  return run;
}

function newRunRow(
  report: Report,
  options: { slotAt: number | null; now: number; scope: string; input: TriggerInput },
): RunRow {
  const { slotAt, now, scope, input } = options;
  const deadlineMs = report.settings.schedule?.deadlineMs ?? null;
  return {
    id: uuidv7(),
    report_id: report.id,
    trigger: 'manual',
    slot_at: slotAt,
    idempotency_scope: scope,
    idempotency_key: input.idempotencyKey ?? null,
    status: 'queued',
    stages: JSON.stringify(freshStages()),
    data: input.data === undefined ? null : JSON.stringify(input.data),
    message_id: null,
    smtp_response: null,
    error_code: null,
    error_message: null,
    note: null,
    deadline_at: deadlineMs === null ? null : (slotAt ?? now) + deadlineMs,
    late_alerted_at: null,
    job_id: null,
    created_at: now,
    started_at: null,
    finished_at: null,
    updated_at: now,
  };
}
