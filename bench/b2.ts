import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PairResult, runPair } from './b2-pair.js';
import { facteurLauncher, naiveLauncher, type Supervised, type SystemLauncher } from './b2-process.js';
import { prequeue } from './b2-queue.js';
import {
  type B2RunResult,
  type B2Spec,
  type Crash,
  killPoints,
  planMessages,
  prng,
  type Receipt,
  readRun,
} from './b2-shared.js';
import { ask, type BenchChild, spawnPinned } from './lib/child.js';
import { type BenchOptions, type BenchReport, progress, sourceFingerprint, syncLabel } from './lib/report.js';
import { fmt, fmtInt, fmtMb, fmtMs, median, spread, verdict } from './lib/stats.js';

/**
 * B2, rate accuracy: a schedule of transactional messages (each at its own time, below the
 * budget) and bursts of bulk ones (far above it) under a budget of `rate`/s and `hourly`/h,
 * sent to a sink on core 1 that notes the end of DATA of each; a kill -9 at random points of each
 * run, the process started again at once on the same data. Facteur (budget on FACTEUR_SMTP_URL)
 * against the naive poll-every-second scheduler, alternating by round, the same kill points for
 * both. Then, when PostgreSQL is reachable, two Facteur instances on one database sharing a
 * budget of `pairRate`/s (b2-pair.ts).
 */

const now = (): number => performance.timeOrigin + performance.now();
const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));

/**
 * Time between the start of the pre-queue and the schedule's start, for the pre-queue and the
 * process to start. 10 s was not enough on a slower machine: the pre-queue (10,000 messages,
 * FULL) and the first start under tsx took 11.5 s, and the first messages were 1.5 s late.
 */
const LEAD_MS = 20_000;

/** What a run of one system gives. */
interface SystemRun {
  system: 'facteur' | 'naive';
  result: B2RunResult;
  crashes: Crash[];
  /** The first process was ready after the schedule had started (its first messages are late for that). */
  lateStartMs: number;
  /** CPU of the processes under test after their start-up (to within the last second of each killed one). */
  cpuSeconds: number;
  peakRssBytes: number;
}

function specFrom(options: BenchOptions): B2Spec {
  const { flags, quick } = options;
  const number = (name: string, fallback: number): number => {
    const value = Number(flags[name] ?? fallback);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0`);
    return value;
  };
  const durationMs = number('seconds', quick ? 60 : 300) * 1000;
  const burst = number('burst', quick ? 700 : 1000);
  const bursts = quick
    ? [10_000, 35_000].map((atMs) => ({ atMs, count: burst }))
    : [30_000, 100_000, 170_000, 240_000].map((atMs) => ({ atMs, count: burst }));
  const streamRate = number('stream-rate', 20);
  const total = Math.round((durationMs / 1000) * streamRate) + bursts.length * burst;
  return {
    durationMs,
    streamRate,
    bursts: bursts.filter((b) => b.atMs < durationMs),
    rate: number('rate', 100),
    hourly: number('hourly', total),
    kills: number('kills', quick ? 1 : 2),
    connections: number('connections', 5),
    concurrency: number('concurrency', 10),
  };
}

async function runSystem(
  launcher: SystemLauncher,
  sink: BenchChild,
  spec: B2Spec,
  startAt: number,
  kills: number[],
): Promise<SystemRun> {
  const planned = planMessages(spec);
  const segments: Supervised[] = [];
  let current = await launcher.start();
  segments.push(current);
  const lateStartMs = Math.max(0, now() - startAt);
  const crashes: Crash[] = [];
  try {
    for (const offset of kills) {
      await sleepUntil(startAt + offset);
      current.child.kill();
      await current.child.exited;
      const killedAt = now();
      current = await launcher.start();
      segments.push(current);
      crashes.push({ killedAt, readyAt: now(), firstReceiptAfterReady: null });
      progress(
        `B2 ${launcher.name}: kill -9 at ${fmt(offset / 1000, 1)} s, ready again after ${fmtMs(now() - killedAt)}`,
      );
    }
    // Until every message is in, or nothing has come for 5 s after the schedule's end.
    const deadline = startAt + spec.durationMs + 120_000;
    let last = { unique: -1, at: now() };
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { unique } = await ask<{ unique: number }>(sink, { cmd: 'count' });
      if (unique !== last.unique) last = { unique, at: now() };
      if (unique >= planned.length) break;
      if (now() > startAt + spec.durationMs && now() - last.at > 5000) break;
      if (now() > deadline) break;
    }
    const held = await launcher.heldForNextHour(current);
    const receipts = await ask<Receipt[]>(sink, { cmd: 'receipts' });
    await launcher.stop(current);
    const result = readRun(spec, planned, startAt, receipts, crashes, held);
    return {
      system: launcher.name,
      result,
      crashes,
      lateStartMs,
      cpuSeconds: segments.reduce((sum, s) => sum + s.workCpuSeconds, 0),
      peakRssBytes: Math.max(0, ...segments.map((s) => s.latest?.peakRssBytes ?? 0)),
    };
  } catch (error) {
    current.child.kill();
    throw error;
  } finally {
    launcher.cleanup();
  }
}

function describe(run: SystemRun): string {
  const r = run.result;
  const late = run.lateStartMs > 0 ? ` (ready ${fmtMs(run.lateStartMs)} after the schedule began)` : '';
  return `${run.system}${late}: burst rates ${r.burstRates.map((x) => fmt(x, 1)).join(', ') || 'n/a'} msg/s, max ${r.maxPerSecond}/s and ${fmtInt(r.maxPerHour)}/h, stream lateness p50 ${fmtMs(r.lateness.p50)} p99 ${fmtMs(r.lateness.p99)}, ${fmtInt(r.unique)}/${fmtInt(r.planned)} received, ${r.duplicates} repeats (${r.duplicatesPerCrash.join('+') || 0}), ${r.lost} lost, ${r.heldForNextHour} held for the next hour, sending again ${r.restartToSendMs.map((x) => (x === null ? 'n/a' : fmtMs(x))).join(', ') || 'n/a'} after restart, cpu ${fmt(run.cpuSeconds, 1)} s; latest stream messages ${r.latest
    .slice(0, 5)
    .map((l) => `${fmtMs(l.lateMs)} (due at ${fmt(l.dueS, 1)} s)`)
    .join(', ')}`;
}

/** One round: both systems, in alternating order, with the same kill points. */
async function runRound(
  sink: BenchChild,
  port: number,
  spec: B2Spec,
  sync: string,
  round: number,
  options: BenchOptions,
): Promise<Record<'facteur' | 'naive', SystemRun>> {
  const kills = killPoints(spec, prng(Number(options.flags.seed ?? 2) * 1000 + round));
  const order: Array<'facteur' | 'naive'> = round % 2 === 1 ? ['facteur', 'naive'] : ['naive', 'facteur'];
  const runs: Partial<Record<'facteur' | 'naive', SystemRun>> = {};
  for (const system of order) {
    await ask(sink, { cmd: 'reset' });
    const planned = planMessages(spec);
    let launcher: SystemLauncher;
    let startAt: number;
    if (system === 'facteur') {
      startAt = Date.now() + LEAD_MS;
      const dir = await prequeue(planned, startAt, { sync });
      const url = `smtp://127.0.0.1:${port}?starttls=off&rate=${spec.rate}/s&hourly=${spec.hourly}`;
      launcher = facteurLauncher(dir, url, spec, sync);
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'b2-naive-'));
      writeFileSync(join(dir, 'plan.json'), JSON.stringify(planned));
      startAt = Date.now() + LEAD_MS;
      launcher = naiveLauncher(dir, port, spec, startAt, sync);
    }
    const run = await runSystem(launcher, sink, spec, startAt, kills);
    runs[system] = run;
    progress(`B2 round ${round}/${options.rounds} ${describe(run)}`);
  }
  return runs as Record<'facteur' | 'naive', SystemRun>;
}

function summarize(spec: B2Spec, rounds: Array<Record<'facteur' | 'naive', SystemRun>>, sync: string) {
  const rows: string[] = [];
  const data: Record<string, unknown> = {};
  const perK = (runs: SystemRun[]) =>
    median(runs.map((r) => (r.cpuSeconds / Math.max(1, r.result.unique + r.result.duplicates)) * 1000));
  for (const system of ['facteur', 'naive'] as const) {
    const runs = rounds.map((r) => r[system]);
    const rates = runs.flatMap((r) => r.result.burstRates);
    const rateError = Math.max(0, ...rates.map((x) => Math.abs(x / spec.rate - 1)));
    const maxSecond = Math.max(...runs.map((r) => r.result.maxPerSecond));
    const maxHour = Math.max(...runs.map((r) => r.result.maxPerHour));
    const p50 = median(runs.map((r) => r.result.lateness.p50));
    const p99 = Math.max(...runs.map((r) => r.result.lateness.p99));
    const p99All = Math.max(...runs.map((r) => r.result.latenessP99All));
    const recovery = runs.flatMap((r) => r.result.recoveryMs);
    const lost = runs.reduce((n, r) => n + r.result.lost, 0);
    const dupMax = Math.max(0, ...runs.flatMap((r) => r.result.duplicatesPerCrash));
    const restart = runs.flatMap((r) => r.result.restartToSendMs).filter((x): x is number => x !== null);
    const held = runs.reduce((n, r) => n + r.result.heldForNextHour, 0);
    const rss = Math.max(...runs.map((r) => r.peakRssBytes));
    const ok = {
      rate: rates.length > 0 && rateError <= 0.02,
      window: maxSecond <= spec.rate && maxHour <= spec.hourly,
      lateness: p50 <= 20 && p99 <= 250,
      lost: lost === 0,
      repeats: dupMax <= spec.concurrency,
      restart: restart.length > 0 && Math.max(...restart) <= 1000,
    };
    rows.push(
      `B2 ${system === 'facteur' ? 'facteur' : 'naive poll-every-second baseline'} (${fmtInt(planMessages(spec).length)} messages over ${spec.durationMs / 1000} s, budget ${spec.rate}/s and ${fmtInt(spec.hourly)}/h, ${spec.kills} kill -9 per run, ${runs.length} runs): burst rate ${fmt(median(rates), 1)} msg/s (${fmt(Math.min(...rates), 1)}..${fmt(Math.max(...rates), 1)}), worst ${fmt(rateError * 100, 2)} % off, target within 2 % ${verdict(ok.rate)} | most in 1 s ${maxSecond}, in an hour ${fmtInt(maxHour)} ${verdict(ok.window)} | stream lateness p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)} (targets 20 / 250 ms) ${verdict(ok.lateness)}, with the crash recoveries p99 ${fmtMs(p99All)}, recovery ${recovery.length ? `${fmt(median(recovery) / 1000, 1)} s median` : 'n/a'} | lost ${lost} ${verdict(ok.lost)} | repeats per crash <= ${dupMax} (in flight ${spec.concurrency}) ${verdict(ok.repeats)} | sending again ${restart.length ? `${fmtMs(median(restart))} median, ${fmtMs(Math.max(...restart))} max` : 'n/a'} after restart (<= 1 s) ${verdict(ok.restart)} | held for the next hour ${held} | cpu-s/1k ${fmt(perK(runs), 3)} | peak RSS ${fmtMb(rss)} | ${syncLabel(sync as 'full')}`,
    );
    data[system] = {
      burstRate: spread(rates),
      worstRateError: rateError,
      maxPerSecond: maxSecond,
      maxPerHour: maxHour,
      latenessP50: spread(runs.map((r) => r.result.lateness.p50)),
      latenessP99: spread(runs.map((r) => r.result.lateness.p99)),
      latenessP99WithRecoveries: p99All,
      recoveryMs: recovery,
      lost,
      repeatsPerCrashMax: dupMax,
      restartToSendMs: restart,
      heldForNextHour: held,
      cpuSecondsPer1k: perK(runs),
      peakRssBytes: rss,
      verdicts: ok,
    };
  }
  const ratio = median(
    rounds.map((r) => r.naive.result.lateness.p50 / Math.max(0.01, r.facteur.result.lateness.p50)),
  );
  rows.push(`B2 stream lateness p50, naive / facteur: ${fmt(ratio, 1)}x`);
  return { rows, data: { ...data, latenessRatio: ratio } };
}

/** Runs B2 (the first requested SQLite durability mode), then the PostgreSQL pair. */
export async function runB2(options: BenchOptions): Promise<BenchReport> {
  const spec = specFrom(options);
  const sync = options.syncs[0] ?? 'full';
  const rounds = Number(options.flags.rounds ?? (options.quick ? 2 : 10));
  const sink = spawnPinned({ core: 1, script: 'bench/b2-sink.ts' });
  const results: Array<Record<'facteur' | 'naive', SystemRun>> = [];
  let pair: PairResult | undefined;
  try {
    const { port } = await sink.next<{ port: number }>(60_000);
    for (let round = 1; round <= rounds; round++)
      results.push(await runRound(sink, port, spec, sync, round, { ...options, rounds }));
    if ((options.flags.pair ?? 'auto') !== 'off')
      pair = await runPair(sink, port, {
        messages: Number(options.flags['pair-messages'] ?? (options.quick ? 1500 : 3000)),
        rate: Number(options.flags['pair-rate'] ?? 50),
        required: options.flags.pair === 'on',
      });
  } finally {
    sink.kill();
    await sink.exited;
  }
  const summary = summarize(spec, results, sync);
  return {
    id: 'B2',
    rows: [...summary.rows, ...(pair ? [pair.row] : [])],
    data: {
      description:
        'rate accuracy: a stream of transactional messages scheduled below the budget and bulk bursts above it, under rate/s and hourly/h on the transport; kill -9 at random points, restarted at once; Facteur vs the naive poll-every-second scheduler, same kill points; receipts at the sink (end of DATA); then two Facteur instances on one PostgreSQL sharing a budget',
      spec,
      rounds: results,
      summary: summary.data,
      pair,
      srcSha256: sourceFingerprint(),
    },
  };
}
