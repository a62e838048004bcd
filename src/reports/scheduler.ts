import type { Clock, Timer } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import { enqueueRun } from './jobs.js';
import { freshStages } from './model.js';
import { ALERTS, type RaiseAlert } from './outcomes.js';
import type { Report, ReportRegistry } from './reports.js';
import { compileSchedule, type Schedule, slotsBetween } from './schedule.js';
import {
  insertSlotRun,
  lateRuns,
  latestSlots,
  markLateAlerted,
  nextDeadline,
  type RunRow,
  updateRun,
} from './store.js';

/**
 * The report scheduler: at each slot of each active report's schedule it creates the slot's
 * run (and its job) in one transaction. The slot is unique per report in the database, so
 * however many instances tick, a slot runs once. Slots that passed while no instance was
 * running are caught up on the next tick: the newest runs if it is still within the report's
 * misfire grace, every other is recorded `missed` (with an alert when none of them ran). Runs
 * not sent by their deadline raise an alert once.
 */

/** Most slots caught up per report in one tick (older ones are left unrecorded). */
const CATCH_UP_LIMIT = 50;
/** Longest wait between ticks: a report created or changed elsewhere is seen at least this often. */
const MAX_WAIT_MS = 60_000;

export interface SchedulerDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  registry: ReportRegistry;
  raiseAlert: RaiseAlert;
}

export class ReportScheduler {
  private timer: Timer | undefined;
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  private running = false;
  private readonly schedules = new Map<string, Schedule>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Starts ticking: at once (catching up on slots passed while stopped), then at each slot. */
  start(): void {
    this.running = true;
    this.unsubscribe = this.deps.store.subscribe(this.deps.registry.kind.channel, () => this.requestTick());
    this.requestTick();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.timer?.cancel();
    this.timer = undefined;
    await this.ticking;
  }

  /** Resolves when the tick in progress (and any requested during it) is done; for tests and the CLI. */
  async settled(): Promise<void> {
    while (this.ticking) await this.ticking;
  }

  /** One tick at a time; a request during a tick runs one more after it, so none is lost. */
  requestTick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    // Started after the current turn: a timer fired while an injected clock is being moved reads
    // the time it was moved to, not each instant it passed on the way.
    this.ticking = Promise.resolve()
      .then(() => this.tick())
      .catch((error) =>
        this.deps.logger.warn({ event: 'report.tick_failed', err: error }, 'report scheduler tick failed'),
      )
      .finally(() => {
        this.ticking = undefined;
        if (this.tickAgain) {
          this.tickAgain = false;
          this.requestTick();
        }
      });
  }

  private scheduleOf(report: Report): Schedule | null {
    const s = report.settings.schedule;
    if (!s) return null;
    const key = `${s.cron}\u0000${s.timezone}`;
    let schedule = this.schedules.get(key);
    if (!schedule) {
      schedule = compileSchedule(s.cron, s.timezone);
      this.schedules.set(key, schedule);
    }
    return schedule;
  }

  private async tick(): Promise<void> {
    const { store, clock, registry } = this.deps;
    const now = clock.now();
    const reports = [...(await registry.all()).values()].filter(
      (r) => r.status === 'active' && r.settings.schedule !== null,
    );
    const latest = reports.length > 0 ? await latestSlots(store.db) : new Map<string, number>();
    let wakeAt = now + MAX_WAIT_MS;
    for (const report of reports) {
      const schedule = this.scheduleOf(report);
      if (!schedule) continue;
      // Slots before the schedule was set, or while the report was paused, were never due.
      const since = Math.max(
        latest.get(report.id) ?? Number.NEGATIVE_INFINITY,
        report.settings.scheduleSince ?? report.createdAt,
        report.resumedAt ?? Number.NEGATIVE_INFINITY,
      );
      const due = slotsBetween(schedule, since, now, CATCH_UP_LIMIT);
      if (due.length > 0) await this.runSlots(report, due, now);
      const next = schedule.next(now);
      if (next !== null) wakeAt = Math.min(wakeAt, next);
    }
    await this.alertLateRuns(now);
    const deadline = await nextDeadline(store.db);
    if (deadline !== null) wakeAt = Math.min(wakeAt, Math.max(deadline, now + 1000));
    if (!this.running) return;
    this.timer?.cancel();
    this.timer = clock.setTimer(Math.max(0, wakeAt - clock.now()), () => this.requestTick());
  }

  /** Records the due slots of one report: the newest runs when within grace, the others are missed. */
  private async runSlots(report: Report, due: number[], now: number): Promise<void> {
    const schedule = report.settings.schedule;
    if (!schedule) return;
    const newest = due[due.length - 1] as number;
    const runsNewest = now - newest <= schedule.misfireGraceMs;
    await this.deps.store.transaction(async (tx) => {
      const missed: number[] = [];
      for (const slot of due) {
        const runs = slot === newest && runsNewest;
        const row = slotRow(report, slot, now, runs);
        if (!runs) {
          row.note = runsNewest
            ? `no instance was running at this time; the later slot ${new Date(newest).toISOString()} ran instead`
            : `no instance was running at this time and the misfire grace (${Math.round(schedule.misfireGraceMs / 60_000)} min) had passed when one started`;
        }
        const created = await insertSlotRun(tx, row);
        if (!created) continue;
        if (runs) {
          const job = await enqueueRun(tx, { id: row.id, reportId: report.id }, report, now);
          await updateRun(tx, row.id, { job_id: job.id }, now);
          this.deps.logger.info(
            {
              event: 'report.scheduled',
              reportId: report.id,
              runId: row.id,
              slot: new Date(slot).toISOString(),
              lateMs: now - slot,
            },
            'report run started for its slot',
          );
        } else missed.push(slot);
      }
      if (missed.length > 0 && !runsNewest) await this.alertMissed(tx, report, missed, now);
    });
  }

  private async alertMissed(tx: Tx, report: Report, slots: number[], now: number): Promise<void> {
    const data = {
      reportId: report.id,
      reportName: report.name,
      missed: slots.map((s) => new Date(s).toISOString()),
      misfireGrace: `${Math.round((report.settings.schedule?.misfireGraceMs ?? 0) / 60_000)} min`,
    };
    this.deps.logger.warn({ event: 'report.missed', ...data }, 'report runs missed');
    await this.deps.raiseAlert(
      tx,
      ALERTS.missed,
      data,
      now,
      `Report ${report.name} did not run at its scheduled time`,
    );
  }

  private async alertLateRuns(now: number): Promise<void> {
    const late = await lateRuns(this.deps.store.db, now);
    for (const run of late) {
      await this.deps.store.transaction(async (tx) => {
        if (!(await markLateAlerted(tx, run.id, now))) return;
        const report = this.deps.registry.peek(run.report_id);
        const data = {
          reportId: run.report_id,
          reportName: report?.name ?? null,
          runId: run.id,
          status: run.status,
          scheduledFor: run.slot_at === null ? null : new Date(Number(run.slot_at)).toISOString(),
          deadline: new Date(Number(run.deadline_at)).toISOString(),
        };
        this.deps.logger.warn({ event: 'report.late', ...data }, 'report run not sent by its deadline');
        await this.deps.raiseAlert(
          tx,
          ALERTS.late,
          data,
          now,
          `Report ${report?.name ?? run.report_id} was not sent by its deadline`,
        );
      });
    }
  }
}

function slotRow(report: Report, slot: number, now: number, runs: boolean): RunRow {
  const deadlineMs = report.settings.schedule?.deadlineMs ?? null;
  return {
    id: uuidv7(),
    report_id: report.id,
    trigger: 'schedule',
    slot_at: slot,
    idempotency_scope: `report:${report.id}`,
    idempotency_key: null,
    status: runs ? 'queued' : 'missed',
    stages: JSON.stringify(runs ? freshStages() : freshStages().map((s) => ({ ...s, outcome: 'skipped' }))),
    data: null,
    message_id: null,
    smtp_response: null,
    error_code: runs ? null : 'REPORT_MISSED',
    error_message: null,
    note: null,
    deadline_at: runs && deadlineMs !== null ? slot + deadlineMs : null,
    late_alerted_at: null,
    job_id: null,
    created_at: now,
    started_at: null,
    finished_at: runs ? null : now,
    updated_at: now,
  };
}
