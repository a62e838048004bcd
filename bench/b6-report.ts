import type { FacteurUsage } from './b6-facteur.js';
import type { ReconnectResult, StageBreakdown, SustainResult } from './b6-shared.js';
import { type Sync, syncLabel } from './lib/report.js';
import type { Spread } from './lib/stats.js';
import { fmt, fmtInt, fmtMb, fmtMs, fmtSpread, median, percentile, spread, verdict } from './lib/stats.js';

/** B6's figures per round, and the table rows with their targets. */

export interface B6Spec {
  latencyMessages: number;
  /** Messages per second in the latency phases. */
  latencyRate: number;
  warmupMessages: number;
  sustainRate: number;
  sustainSeconds: number;
  sampleMs: number;
  restart: boolean;
  workers: number;
  /** The mailbox's afterHandled.markSeen (Facteur's default: true). */
  markSeen: boolean;
}

export interface Percentiles {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
  missing: number;
}

export interface B6Round {
  round: number;
  e2e: Percentiles;
  floor: Percentiles;
  overheadP50Ms: number;
  overheadP99Ms: number;
  facteur: {
    cpuSeconds: number;
    peakRssBytes: number;
    involuntarySwitches: number;
    eventLoopMaxStallMs: number;
  };
  late: { facteur: number; baseline: number };
  /** Estimated offsets (child clock - orchestrator clock) used to bring notice times onto the driver's clock. */
  clock: { driverOffsetMs: number; baselineOffsetMs: number; rttMs: number };
  reconnect?: ReconnectResult;
  stages?: StageBreakdown;
  samples: { e2e: number[]; floor: number[] };
  profile?: string;
  sql?: FacteurUsage['sql'];
}

/** The sustained-load phase as the orchestrator saw it: the driver's result and the costs. */
export interface SustainPhase {
  result: SustainResult;
  usage: FacteurUsage;
  driverCpuSeconds: number;
  dovecotCpuSeconds: number;
}

export function percentiles(values: Array<number | null>): Percentiles {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const sorted = Float64Array.from(present).sort();
  return {
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    count: present.length,
    missing: values.length - present.length,
  };
}

export function summarize(
  sync: Sync,
  spec: B6Spec,
  rounds: B6Round[],
  sustain: SustainPhase | undefined,
): { rows: string[]; data: unknown } {
  const mode = syncLabel(sync);
  const s = (pick: (r: B6Round) => number): Spread => spread(rounds.map(pick));
  const e2eP50 = s((r) => r.e2e.p50Ms);
  const e2eP99 = s((r) => r.e2e.p99Ms);
  const floorP50 = s((r) => r.floor.p50Ms);
  const floorP99 = s((r) => r.floor.p99Ms);
  const overP50 = s((r) => r.overheadP50Ms);
  const overP99 = s((r) => r.overheadP99Ms);
  const pooled = {
    e2e: percentiles(rounds.flatMap((r) => r.samples.e2e)),
    floor: percentiles(rounds.flatMap((r) => r.samples.floor)),
  };
  const missing = rounds.reduce((n, r) => n + r.e2e.missing, 0);
  const floorMissing = rounds.reduce((n, r) => n + r.floor.missing, 0);
  const messages = rounds.reduce((n, r) => n + r.e2e.count, 0);
  const cpu = rounds.reduce((n, r) => n + r.facteur.cpuSeconds, 0);
  const rss = Math.max(...rounds.map((r) => r.facteur.peakRssBytes));
  const stall = Math.max(...rounds.map((r) => r.facteur.eventLoopMaxStallMs));
  const ms = (x: Spread) => `${fmtMs(x.median)} (${fmt(x.min, 1)}..${fmt(x.max, 1)})`;
  const staged = rounds.map((r) => r.stages).filter((x): x is StageBreakdown => x !== undefined);
  const stage = (pick: (x: StageBreakdown) => number) => fmtMs(median(staged.map(pick)));
  const stagesText =
    staged.length > 0
      ? ` | where the time goes (Facteur's records, ms clock; medians): APPEND done -> ledger row ${stage((x) => x.appendToRecorded)} (includes Dovecot's floor), -> route job claimed ${stage((x) => x.recordedToRouteStart)}, -> delivery attempt started ${stage((x) => x.routeToAttempt)} (route transaction, delivery job claimed), -> webhook received ${stage((x) => x.attemptToReceived)}`
      : '';
  const what = `${spec.latencyMessages} messages (4 KB text) at ${fmt(spec.latencyRate, 2)}/s per phase, ${rounds.length} rounds, parse workers ${spec.workers}${spec.markSeen ? '' : ', markSeen off'}`;
  const rows = [
    `B6 IDLE latency (${what}): end to end (APPEND done -> webhook received) p50 ${ms(e2eP50)} target <= 550 ms ${verdict(e2eP50.median <= 550)}, p99 ${ms(e2eP99)} | Dovecot floor (raw IDLE client, APPEND done -> EXISTS) p50 ${ms(floorP50)}, p99 ${ms(floorP99)} | pooled over rounds: e2e p50 ${fmtMs(pooled.e2e.p50Ms)} p99 ${fmtMs(pooled.e2e.p99Ms)}, floor p50 ${fmtMs(pooled.floor.p50Ms)} p99 ${fmtMs(pooled.floor.p99Ms)}${missing + floorMissing > 0 ? ` | missing: ${missing} webhooks, ${floorMissing} notices` : ''} | ${mode}`,
    `B6 Facteur overhead (end to end - floor, per round): p50 ${ms(overP50)} target <= 10 ms ${verdict(overP50.median <= 10)} | p99 ${ms(overP99)} target <= 50 ms ${verdict(overP99.median <= 50)} | Facteur cpu-s/1k messages ${fmt((cpu / Math.max(1, messages)) * 1000, 3)} (mostly idle time between messages) | peak RSS ${fmtMb(rss)} | max event-loop stall ${fmtMs(stall)}${stagesText} | ${mode}`,
  ];
  const reconnects = rounds.map((r) => r.reconnect).filter((r): r is ReconnectResult => r !== undefined);
  if (reconnects.length > 0) {
    const rc = spread(reconnects.map((r) => (r.reconnectMs ?? Number.NaN) / 1000));
    const hook = spread(reconnects.map((r) => (r.webhookMs ?? Number.NaN) / 1000));
    const down = spread(reconnects.map((r) => r.downMs / 1000));
    const worst = Math.max(...reconnects.map((r) => r.reconnectMs ?? Number.POSITIVE_INFINITY)) / 1000;
    rows.push(
      `B6 reconnect after dovecot.restart() (${reconnects.length} restarts, Dovecot down ${fmtSpread(down)} s): Dovecot up -> watcher connectedSince ${fmtSpread(rc)} s target <= 5 s ${verdict(worst <= 5)} | -> webhook of a message appended right after the restart ${fmtSpread(hook)} s | ${mode}`,
    );
  }
  if (sustain) {
    const r = sustain.result;
    // Dovecot's CPU (cores) over the first and the last third of the appending time: does it slow as INBOX grows?
    const appending = r.samples.filter((x) => x.t <= r.seconds);
    const cores = (from: number, to: number) => {
      const a = appending[from];
      const b = appending[to];
      return a && b && b.t > a.t ? (b.dovecotCpuSeconds - a.dovecotCpuSeconds) / (b.t - a.t) : Number.NaN;
    };
    const k = Math.floor(appending.length / 3);
    const dovecotCores = `${fmt(cores(0, k), 2)} -> ${fmt(cores(appending.length - 1 - k, appending.length - 1), 2)}`;
    const behind =
      r.appendRate < r.rate * 0.95
        ? ` (APPENDs could not keep the pace: ${fmtInt(r.slipped)} waits with 100 APPENDs outstanding; Dovecot, on core 1, set it)`
        : '';
    const grew = r.lagGrowth > r.rate;
    const drained = r.drainSeconds !== null;
    const cpu1k = (sustain.usage.cpuSeconds / Math.max(1, r.appended)) * 1000;
    rows.push(
      `B6 sustained ${fmtInt(r.rate)} msg/s for ${fmtInt(r.seconds)} s${spec.markSeen ? '' : ' (markSeen off)'}: ${fmtInt(r.appended)} appended at ${fmt(r.appendRate, 1)}/s${behind} | backlog (appended - ledger rows, every ${fmt(spec.sampleMs / 1000, 0)} s) max ${fmtInt(r.maxLag)}, webhooks behind max ${fmtInt(r.maxDeliveryLag)}, growth first -> last third ${fmt(r.lagGrowth, 1)} messages: ${grew ? 'GROWING' : 'not growing'} ${verdict(!grew && drained)} | drained ${drained ? `${fmt(r.drainSeconds as number, 1)} s after the last APPEND` : 'NOT within 120 s'} | end to end p50 ${fmtMs(r.e2e.p50Ms)} p99 ${fmtMs(r.e2e.p99Ms)} max ${fmtMs(r.e2e.maxMs)}${r.e2e.missing > 0 ? ` (${r.e2e.missing} webhooks missing)` : ''} | Facteur cpu-s/1k ${fmt(cpu1k, 3)}, peak RSS ${fmtMb(sustain.usage.peakRssBytes)}, max event-loop stall ${fmtMs(sustain.usage.eventLoop.maxStallMs)} (main thread's own CPU in a gap at most ${fmtMs(sustain.usage.stalls.maxRunMs)}) | Dovecot ${fmt(sustain.dovecotCpuSeconds / r.seconds, 2)} cores (first -> last third ${dovecotCores}), driver ${fmt(sustain.driverCpuSeconds / r.seconds, 2)} cores (core 1) | ${mode}`,
    );
  }
  return {
    rows,
    data: {
      e2eP50,
      e2eP99,
      floorP50,
      floorP99,
      overheadP50: overP50,
      overheadP99: overP99,
      pooled,
      cpuPer1k: (cpu / Math.max(1, messages)) * 1000,
      peakRss: rss,
      reconnect: reconnects,
      sustain,
    },
  };
}
