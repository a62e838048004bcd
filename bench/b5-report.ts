import type { BaselineResult } from './b5-baseline.js';
import type { DeliveryCheck, RetryPunctuality } from './b5-db.js';
import {
  type DrainResult,
  ENDPOINTS,
  ERROR_ENDPOINTS,
  FAULT_RETRY_SCHEDULE,
  type LatencyResult,
  type ReceiverTally,
  STALL_ENDPOINTS,
} from './b5-shared.js';
import type { StopOutcome } from './lib/facteur-process.js';
import { type Sync, syncLabel } from './lib/report.js';
import { fmt, fmtInt, fmtMb, fmtMs, fmtSpread, median, ratioSpread, spread, verdict } from './lib/stats.js';

/** B5's figures per round, and the table rows with their targets. */

/** B5's settings, from flags. */
export interface B5Spec {
  events: number;
  concurrency: number;
  warmupEvents: number;
  latencyRate: number;
  latencySeconds: number;
  receiverPorts: 'per-endpoint' | 'single';
  fault: boolean;
  tailSeconds: number;
  /** Events of the one extra full-size round (clean run and baseline only); 0: none. */
  fullSizeEvents: number;
}

/** What one run of Facteur cost: its CPU and memory over the delivery window. */
export interface Cost {
  cpuSeconds: number;
  peakRssBytes: number;
  involuntarySwitches: number;
  /** CPU seconds of the driver (receiver, database polls) over the same window, on core 1. */
  driverCpuSeconds: number;
  /** With --profile: the CPU profile of the window and the SQL statements that took longest. */
  profile?: string;
  sql?: Array<{ sql: string; ms: number; calls: number }>;
}

export type CleanRun = DrainResult & {
  check: DeliveryCheck;
  events: { events: number; withoutOneDelivery: number };
};

export type FaultRun = DrainResult & {
  healthyReceivedAt: number;
  healthyTally: ReceiverTally;
  tailSeconds: number;
  checks: { healthy: DeliveryCheck; stall: DeliveryCheck; error: DeliveryCheck };
  events: { events: number; withoutOneDelivery: number };
  punctuality: RetryPunctuality;
  probe: {
    published: number;
    answered: { ok: number; failed: number };
    check: DeliveryCheck;
    punctuality: RetryPunctuality;
  };
};

/** Everything one round measured. */
export interface B5Round {
  round: number;
  clean: CleanRun;
  cost: Cost;
  latency?: LatencyResult;
  baseline: BaselineResult;
  baselineTally: ReceiverTally;
  fault?: FaultRun;
  faultCost?: Cost;
  /** How stopping each Facteur instance went (a stop that never returned is a finding). */
  stop: StopOutcome;
  faultStop?: StopOutcome;
}

const HEALTHY = [...Array(ENDPOINTS).keys()].filter(
  (i) => !ERROR_ENDPOINTS.includes(i) && !STALL_ENDPOINTS.includes(i),
);
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const pick = (values: number[], indexes: number[]): number[] => indexes.map((i) => values[i] as number);

/** Deliveries recorded final per second, from the resume requests to the first poll showing none open. */
function facteurRate(run: CleanRun): number {
  return run.published / (((run.recordedAt ?? Number.NaN) - run.resumedAt) / 1000);
}

/** Healthy endpoints' deliveries per second until their last one reached the receiver. */
function healthyRate(tally: ReceiverTally, resumedAt: number): number {
  const last = Math.max(...pick(tally.lastArrivalAt, HEALTHY));
  return sum(pick(tally.unique, HEALTHY)) / ((last - resumedAt) / 1000);
}

/** Every delivery succeeded with exactly one attempt row. */
function allRecordedOnce(check: DeliveryCheck): boolean {
  return (
    check.byStatus.succeeded === check.deliveries &&
    check.attemptRows === check.deliveries &&
    check.attemptMismatch === 0
  );
}

function missingAt(tally: ReceiverTally, published: number[], indexes: number[]): number {
  return sum(indexes.map((i) => Math.max(0, (published[i] as number) - (tally.unique[i] as number))));
}

/** Losses of a fault run: events missing a delivery, healthy or stalling deliveries not received or not succeeded, attempts not recorded. */
function faultLosses(f: FaultRun) {
  const delivered = [...HEALTHY, ...STALL_ENDPOINTS];
  const notReceived = missingAt(f.tally, f.publishedPerEndpoint, delivered);
  const notSucceeded =
    f.checks.healthy.deliveries -
    (f.checks.healthy.byStatus.succeeded ?? 0) +
    f.checks.stall.deliveries -
    (f.checks.stall.byStatus.succeeded ?? 0);
  const attempts =
    f.checks.healthy.attemptMismatch +
    f.checks.stall.attemptMismatch +
    f.checks.error.attemptMismatch +
    f.probe.check.attemptMismatch;
  const deliveries =
    f.checks.healthy.deliveries +
    f.checks.stall.deliveries +
    f.checks.error.deliveries +
    f.probe.check.deliveries;
  return {
    notReceived,
    notSucceeded,
    flakyNotFinal:
      f.probe.published - (f.probe.check.byStatus.succeeded ?? 0) - (f.probe.check.byStatus.dead ?? 0),
    attemptMismatch: attempts,
    eventsWithoutOneDelivery: f.events.withoutOneDelivery,
    deliveryRowsMissing: Math.max(0, f.events.events - deliveries),
    duplicates: sum(f.tally.duplicates),
    errorDead: f.checks.error.byStatus.dead ?? 0,
    errorPending: (f.checks.error.byStatus.pending ?? 0) + (f.checks.error.byStatus.held ?? 0),
  };
}

/** Dispatch latency: p50 and p99 per round, summarised as median (min..max). */
function latencyRow(runs: LatencyResult[], spec: B5Spec, mode: string) {
  const p50 = spread(runs.map((r) => r.p50Ms));
  const p99 = spread(runs.map((r) => r.p99Ms));
  const missing = sum(runs.map((r) => r.missing + r.failed));
  const accept = `accept p50 ${fmtMs(median(runs.map((r) => r.acceptP50Ms)))} p99 ${fmtMs(median(runs.map((r) => r.acceptP99Ms)))}`;
  const row = `B5 dispatch latency at ${fmtInt(spec.latencyRate)} events/s (POST sent -> receiver arrival, ${spec.latencySeconds} s per round): p50 ${fmtMs(p50.median)} (${fmt(p50.min)}..${fmt(p50.max)}) target <= 5 ms ${verdict(p50.median <= 5)} | p99 ${fmtMs(p99.median)} (${fmt(p99.min)}..${fmt(p99.max)}) target <= 25 ms ${verdict(p99.median <= 25)} | ${accept} | max ${fmtMs(Math.max(...runs.map((r) => r.maxMs)))}${missing > 0 ? ` | ${missing} failed or never arrived` : ''} | ${mode}`;
  return { row, data: { p50, p99 } };
}

/** Retry punctuality: lateness of each retry's start against the time Facteur scheduled it. */
function punctualityRow(runs: RetryPunctuality[], what: string, mode: string): string {
  const retries = sum(runs.map((p) => p.retries));
  const outside = sum(runs.map((p) => p.outside));
  const deferred = sum(runs.map((p) => p.breakerDeferred));
  const worst = Math.max(...runs.map((p) => p.lateMaxMs));
  const pass = retries > 0 && outside === 0 && deferred === 0 && runs.every((p) => p.offSchedule === 0);
  const deviation = Math.max(...runs.map((p) => p.maxScheduleDeviation));
  const waiting = sum(runs.map((p) => p.stillWaiting));
  const off = sum(runs.map((p) => p.offSchedule));
  const offText =
    off > 0
      ? `, ${off} retries scheduled off the endpoint's schedule (up to ${fmtInt(Math.max(...runs.map((p) => p.offScheduleMaxDelayMs)))} ms)`
      : '';
  return `B5 retry punctuality (${what}; retrySchedule ${FAULT_RETRY_SCHEDULE.join(',')}): ${fmtInt(retries)} retries, start - scheduled p50 ${fmtMs(median(runs.map((p) => p.lateP50Ms)))} p99 ${fmtMs(median(runs.map((p) => p.lateP99Ms)))} worst ${fmtMs(worst)} | outside max(5% of delay, 100 ms) ${outside} target 0 ${verdict(pass)}${retries === 0 ? ' (no retry happened)' : ''} | pushed back by the circuit breaker ${deferred} | scheduled delay vs configured: max deviation ${fmt(deviation * 100, 1)}%${offText} | retries still waiting at the end ${waiting} | ${mode}`;
}

export function summarizeB5(
  rounds: B5Round[],
  spec: B5Spec,
  sync: Sync,
  label: string,
): { rows: string[]; data: unknown } {
  const f = rounds.map((r) => facteurRate(r.clean));
  const b = rounds.map((r) => r.baseline.rate);
  const ratio = ratioSpread(f, b);
  const received = rounds.map((r) => r.clean.published / ((r.clean.receivedAt - r.clean.resumedAt) / 1000));
  const cpuF = median(rounds.map((r) => (r.cost.cpuSeconds / r.clean.published) * 1000));
  const cpuB = median(rounds.map((r) => (r.baseline.cpuSeconds / r.baseline.count) * 1000));
  const rssF = Math.max(...rounds.map((r) => r.cost.peakRssBytes));
  const rssB = Math.max(...rounds.map((r) => r.baseline.peakRssBytes));
  const recorded = rounds.every((r) => allRecordedOnce(r.clean.check) && !r.clean.timedOut);
  const deliveries = sum(rounds.map((r) => r.clean.check.deliveries));
  const attemptRows = sum(rounds.map((r) => r.clean.check.attemptRows));
  const failedAttempts: Record<string, number> = {};
  for (const r of rounds)
    for (const [code, n] of Object.entries(r.clean.check.failedAttempts ?? {}))
      failedAttempts[code] = (failedAttempts[code] ?? 0) + n;
  const retried =
    Object.keys(failedAttempts).length > 0 ? `, failed attempts ${JSON.stringify(failedAttempts)}` : '';
  const cleanMissing = sum(
    rounds.map((r) => missingAt(r.clean.tally, r.clean.publishedPerEndpoint, [...Array(ENDPOINTS).keys()])),
  );
  const baselineMissing = sum(rounds.map((r) => r.baseline.count - sum(r.baselineTally.unique)));
  const mode = syncLabel(sync);
  const what = `${label}, ${fmtInt(spec.events)} events, ${ENDPOINTS} endpoints, c=${spec.concurrency}`;
  const rows = [
    `B5 throughput (${what}): facteur ${fmtInt(median(f))} deliveries/s recorded final (${fmtInt(median(received))}/s received) | baseline ${fmtInt(median(b))}/s (receiver process ${fmt(median(rounds.map((r) => r.baseline.receiverCores ?? Number.NaN)))} cores busy meanwhile) | ratio ${fmtSpread(ratio)} target >= 0.4 ${verdict(ratio.median >= 0.4)} | every attempt recorded ${verdict(recorded)} (${fmtInt(deliveries)} deliveries, ${fmtInt(attemptRows)} attempt rows${retried}, receiver missing ${cleanMissing} vs baseline ${baselineMissing}) | cpu-s/1k ${fmt(cpuF, 3)} vs ${fmt(cpuB, 3)} (CPU-time ratio ${fmt(cpuB / cpuF)}: the throughput ratio if both had a core to themselves) | peak RSS ${fmtMb(rssF)} vs ${fmtMb(rssB)} | ${mode}`,
  ];
  const latencies = rounds.map((r) => r.latency).filter((l): l is LatencyResult => l !== undefined);
  const latency = latencies.length > 0 ? latencyRow(latencies, spec, mode) : undefined;
  if (latency) rows.push(latency.row);
  const faults = rounds.filter(
    (r): r is B5Round & { fault: FaultRun; faultCost: Cost } => r.fault !== undefined,
  );
  let data: Record<string, unknown> = {
    ratio,
    facteurRate: spread(f),
    baselineRate: spread(b),
    cpuPer1k: { facteur: cpuF, baseline: cpuB },
    peakRss: { facteur: rssF, baseline: rssB },
    latency: latency?.data,
  };
  if (faults.length > 0) {
    const clean = faults.map((r) => healthyRate(r.clean.tally, r.clean.resumedAt));
    const during = faults.map((r) => healthyRate(r.fault.healthyTally, r.fault.resumedAt));
    const isolation = ratioSpread(during, clean);
    rows.push(
      `B5 fault isolation (e1,e2 answer 500, e3,e4 stall ${fmtInt(2)} s): ${HEALTHY.length} healthy endpoints ${fmtInt(median(during))} deliveries/s in the fault run vs ${fmtInt(median(clean))}/s clean | ratio ${fmtSpread(isolation)} target >= 0.9 ${verdict(isolation.median >= 0.9)} | cpu-s/1k (all deliveries) ${fmt(median(faults.map((r) => (r.faultCost.cpuSeconds / r.fault.published) * 1000)), 3)} | peak RSS ${fmtMb(Math.max(...faults.map((r) => r.faultCost.peakRssBytes)))} | ${mode}`,
    );
    rows.push(
      punctualityRow(
        faults.map((r) => r.fault.punctuality),
        'the 2 endpoints answering 500',
        mode,
      ),
    );
    rows.push(
      punctualityRow(
        faults.map((r) => r.fault.probe.punctuality),
        'flaky endpoint: 10% of events fail 1-3 times, breaker meant to stay closed',
        mode,
      ),
    );
    const losses = faults.map((r) => faultLosses(r.fault));
    const lost =
      sum(
        losses.map(
          (l) =>
            l.notReceived +
            l.notSucceeded +
            l.attemptMismatch +
            l.eventsWithoutOneDelivery +
            l.deliveryRowsMissing,
        ),
      ) + cleanMissing;
    const pending = sum(losses.map((l) => l.errorPending));
    rows.push(
      `B5 lost (clean and fault runs): ${lost} target 0 ${verdict(lost === 0)} | healthy+stalling not received ${sum(losses.map((l) => l.notReceived))}, not succeeded ${sum(losses.map((l) => l.notSucceeded))}, duplicates ${sum(losses.map((l) => l.duplicates))} | attempt rows mismatched ${sum(losses.map((l) => l.attemptMismatch))} | events without exactly one delivery ${sum(losses.map((l) => l.eventsWithoutOneDelivery))} | 500-endpoint deliveries dead ${fmtInt(sum(losses.map((l) => l.errorDead)))}, still pending after a ${spec.tailSeconds} s tail ${fmtInt(pending)}${pending > 0 ? ' (not final: held back by the circuit breaker, not lost)' : ''} | flaky deliveries not final at the end ${sum(losses.map((l) => l.flakyNotFinal))} | ${mode}`,
    );
    data = {
      ...data,
      isolation,
      healthyRate: { clean: spread(clean), fault: spread(during) },
      punctuality: {
        error: faults.map((r) => r.fault.punctuality),
        flaky: faults.map((r) => r.fault.probe.punctuality),
      },
      losses,
    };
  }
  const held = rounds
    .flatMap((r) => [r.clean.heldAfterResume, r.fault?.heldAfterResume])
    .filter((h) => h !== undefined);
  const heldRuns = held.filter((h) => h.deliveries > 0);
  rows.push(
    `B5 held after resume: ${fmtInt(sum(held.map((h) => h.deliveries)))} deliveries in ${heldRuns.length} of ${held.length} runs target 0 ${verdict(heldRuns.length === 0)}${heldRuns.length > 0 ? ' (deferred 1 h as "endpoint paused" although resumed; the bench resumed those endpoints again so the runs could end)' : ''}`,
  );
  const stops = rounds.flatMap((r) => (r.faultStop ? [r.stop, r.faultStop] : [r.stop]));
  const hung = stops.filter((s) => !s.stopped);
  rows.push(
    `B5 shutdown: ${stops.length - hung.length} of ${stops.length} Facteur instances stopped (longest ${fmt(Math.max(...stops.map((s) => s.seconds ?? 0)), 1)} s)${hung.length > 0 ? `; stop() had not returned after 45 s in ${hung.length} (still open: ${[...new Set(hung.flatMap((s) => s.resources ?? []))].join(', ')})` : ''}`,
  );
  return { rows, data: { ...data, stops, heldAfterResume: held } };
}
