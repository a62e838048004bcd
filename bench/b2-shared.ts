import { percentile } from './lib/stats.js';

/**
 * B2's workload and its reading, shared by the parent (b2.ts), the pre-queue (b2-queue.ts) and
 * the baseline (b2-baseline.ts). A run schedules a steady stream of transactional messages (each
 * at its own time, below the budget) and bursts of bulk messages (priority -1, far above it);
 * the budget is `rate`/s and `hourly` per UTC hour. The sink (b2-sink.ts) notes the end of DATA
 * of every message; everything is judged from those receipts.
 */

/** What a run sends and under which budget. */
export interface B2Spec {
  /** Span of the schedule. */
  durationMs: number;
  /** Transactional messages per second, each scheduled at its own time over the span. */
  streamRate: number;
  /** Bulk bursts: `count` messages all due `atMs` after the start. */
  bursts: Array<{ atMs: number; count: number }>;
  /** The budget: messages per second (sliding window) and per UTC hour. */
  rate: number;
  hourly: number;
  /** kill -9 per run, at random points of the span (each followed by a restart at once). */
  kills: number;
  /** SMTP connections (FACTEUR_SMTP_POOL_SIZE, the baseline's pool). */
  connections: number;
  /** Sends in flight (FACTEUR_SEND_CONCURRENCY): the bound on repeats after a crash. */
  concurrency: number;
}

/** One scheduled message: `s<i>` (stream) or `b<i>` (bulk), due `offsetMs` after the start. */
export interface PlannedMessage {
  key: string;
  bulk: boolean;
  offsetMs: number;
}

/** The sender used in both systems. */
export const FROM = 'Bench <bench@bench.test>';

/** Every message of a run, in schedule order. */
export function planMessages(spec: B2Spec): PlannedMessage[] {
  const planned: PlannedMessage[] = [];
  const stream = Math.round((spec.durationMs / 1000) * spec.streamRate);
  for (let i = 0; i < stream; i++)
    planned.push({ key: `s${i}`, bulk: false, offsetMs: Math.round((i * 1000) / spec.streamRate) });
  let b = 0;
  for (const burst of spec.bursts)
    for (let i = 0; i < burst.count; i++) planned.push({ key: `b${b++}`, bulk: true, offsetMs: burst.atMs });
  return planned.sort((x, y) => x.offsetMs - y.offsetMs || (x.bulk === y.bulk ? 0 : x.bulk ? 1 : -1));
}

/** A message as the sink got it: its key and the end of its DATA (epoch ms, fractional). */
export type Receipt = [key: string, at: number];

/** A crash of the system under test and its restart. */
export interface Crash {
  killedAt: number;
  /** The new process answered /healthz (Facteur) or started its loop (baseline). */
  readyAt: number;
  /** Messages the sink got between the kill and the readiness (sent before the kill, answered late). */
  firstReceiptAfterReady: number | null;
}

/** The figures of one run. */
export interface B2RunResult {
  planned: number;
  unique: number;
  duplicates: number;
  /** Messages that will not be sent: neither received nor waiting for a later hour window. */
  lost: number;
  /** Waiting for the next hour window (the hour's count was used, repeats after crashes included). */
  heldForNextHour: number;
  /** Largest number of receipts in any 1-second window, and in any UTC hour. */
  maxPerSecond: number;
  maxPerHour: number;
  /** Rate during each burst not cut by a crash, past its first second (receipts of every kind / time), msg/s. */
  burstRates: number[];
  /**
   * Stream messages: receipt - scheduled time, outside crash recoveries (from a kill until every
   * stream message due before the restarted process was ready has been received: the backlog of
   * the outage drains at the budget's rate, which is the crash's cost, judged by the crash figures;
   * a message due before the kill and not received by then is the crash's too).
   */
  lateness: { p50: number; p99: number; max: number; count: number };
  /** Stream messages due during a crash recovery: their lateness, p50 and max. */
  recoveryLateness: { p50: number; max: number; count: number } | null;
  /** Every stream message, recoveries included: p99. */
  latenessP99All: number;
  /** The latest stream messages outside recoveries (at most 10, latest first): when due (s into the run) and how late, ms. */
  latest: Array<{ dueS: number; lateMs: number }>;
  /** Per crash: from the kill until the outage's backlog of stream messages was sent, ms. */
  recoveryMs: number[];
  /** Per crash: first receipt after the restarted process was ready, ms after that (null: none). */
  restartToSendMs: Array<number | null>;
  /** Per crash: how many messages the sink got more than once, counted against the crash before them. */
  duplicatesPerCrash: number[];
}

/** Largest number of `times` in any half-open window [t, t + windowMs). */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Reads a run from its receipts. `startAt`: the schedule's origin (epoch ms). */
export function readRun(
  spec: B2Spec,
  planned: PlannedMessage[],
  startAt: number,
  receipts: Receipt[],
  crashes: Crash[],
  heldForNextHour: number,
): B2RunResult {
  const first = new Map<string, number>();
  const counts = new Map<string, number>();
  for (const [key, at] of receipts) {
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (!first.has(key)) first.set(key, at);
  }
  const times = receipts.map(([, at]) => at);
  const perHour = new Map<number, number>();
  for (const at of times)
    perHour.set(Math.floor(at / 3_600_000), (perHour.get(Math.floor(at / 3_600_000)) ?? 0) + 1);
  const stream = planned.filter((m) => !m.bulk);
  const outages = crashes.map((c) => {
    let end = c.readyAt;
    for (const m of stream) {
      if (startAt + m.offsetMs > c.readyAt) break;
      end = Math.max(end, first.get(m.key) ?? end);
    }
    return [c.killedAt, end] as const;
  });
  // A message is a crash's: due during its outage, or due before the kill and still not received
  // then (in flight, or waiting for its token: the restarted process sends it).
  const inOutage = (due: number, received: number) =>
    outages.some(([from, to]) => (due >= from && due <= to) || (due < from && received > from));

  const late: number[] = [];
  const outageLate: number[] = [];
  const latest: Array<{ dueS: number; lateMs: number }> = [];
  for (const m of planned) {
    if (m.bulk) continue;
    const at = first.get(m.key);
    if (at === undefined) continue;
    const due = startAt + m.offsetMs;
    const outage = inOutage(due, at);
    (outage ? outageLate : late).push(at - due);
    if (!outage) latest.push({ dueS: Math.round(m.offsetMs / 100) / 10, lateMs: Math.round(at - due) });
  }
  latest.sort((a, b) => b.lateMs - a.lateMs);
  latest.length = Math.min(latest.length, 10);
  late.sort((a, b) => a - b);
  outageLate.sort((a, b) => a - b);
  const allLate = [...late, ...outageLate].sort((a, b) => a - b);

  // A burst's rate: every receipt while it drained, past its first second (a sliding window
  // lets the first second's worth go at once: the rate is what follows), over whole seconds.
  const burstRates: number[] = [];
  let offset = 0;
  for (const burst of spec.bursts) {
    const keys = Array.from({ length: burst.count }, (_, i) => `b${offset + i}`);
    offset += burst.count;
    const ats = keys.map((k) => first.get(k)).filter((a): a is number => a !== undefined);
    if (ats.length < 2) continue;
    const from = Math.min(...ats);
    const to = Math.max(...ats);
    // Whole seconds only: over a span that is not a whole number of windows, a sliding window
    // admits up to one window's worth more than rate x span.
    const seconds = Math.floor((to - from - 1000) / 1000);
    if (outages.some(([a, b]) => a <= to && b >= from) || seconds < 2) continue;
    const steady = from + 1000;
    const inside = times.filter((t) => t >= steady && t < steady + seconds * 1000).length;
    burstRates.push(inside / seconds);
  }

  const sortedTimes = [...times].sort((a, b) => a - b);
  const restartToSendMs = crashes.map((c) => {
    const next = sortedTimes.find((t) => t >= c.readyAt);
    return next === undefined ? null : next - c.readyAt;
  });
  // Repeats are the sends in flight at a kill: count each repeated key against the crash before its second receipt.
  const duplicatesPerCrash = crashes.map(() => 0);
  const seen = new Set<string>();
  for (const [key, at] of [...receipts].sort((a, b) => a[1] - b[1])) {
    if (!seen.has(key)) {
      seen.add(key);
      continue;
    }
    let index = -1;
    crashes.forEach((c, i) => {
      if (c.killedAt <= at) index = i;
    });
    if (index >= 0) duplicatesPerCrash[index] = (duplicatesPerCrash[index] ?? 0) + 1;
  }
  const unique = first.size;
  return {
    planned: planned.length,
    unique,
    duplicates: receipts.length - unique,
    lost: planned.length - unique - heldForNextHour,
    heldForNextHour,
    maxPerSecond: maxInWindow(times, 1000),
    maxPerHour: Math.max(0, ...perHour.values()),
    burstRates,
    lateness: {
      p50: percentile(late, 0.5),
      p99: percentile(late, 0.99),
      max: late.length ? (late[late.length - 1] as number) : 0,
      count: late.length,
    },
    recoveryLateness: outageLate.length
      ? {
          p50: percentile(outageLate, 0.5),
          max: outageLate[outageLate.length - 1] as number,
          count: outageLate.length,
        }
      : null,
    latenessP99All: percentile(allLate, 0.99),
    latest,
    recoveryMs: outages.map(([from, to]) => to - from),
    restartToSendMs,
    duplicatesPerCrash,
  };
}

/** A small deterministic PRNG (mulberry32): the kill points are the same for both systems of a round. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` kill points in [10 %, 90 %] of the span, at least 5 s apart, in order. */
export function killPoints(spec: B2Spec, random: () => number): number[] {
  const points: number[] = [];
  for (let tries = 0; points.length < spec.kills && tries < 1000; tries++) {
    const at = Math.round(spec.durationMs * (0.1 + 0.8 * random()));
    if (points.every((p) => Math.abs(p - at) >= 5000)) points.push(at);
  }
  return points.sort((a, b) => a - b);
}
