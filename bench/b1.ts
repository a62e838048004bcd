import { rmSync } from 'node:fs';
import type { BaselineRun } from './b1-baseline.js';
import { prequeue } from './b1-queue.js';
import {
  type B1RunSpec,
  type RecordCheck,
  type SinkEvent,
  type SinkTally,
  VARIANT_LABELS,
  type Variant,
} from './b1-shared.js';
import { ask, type BenchChild, spawnPinned } from './lib/child.js';
import { launchFacteur, type StopOutcome, stopFacteur } from './lib/facteur-process.js';
import {
  type BenchOptions,
  type BenchReport,
  progress,
  type Sync,
  sourceFingerprint,
  syncLabel,
} from './lib/report.js';
import { fmt, fmtInt, fmtMb, fmtSpread, median, ratioSpread, spread, verdict } from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B1, the outbox drained to an SMTP sink: N messages (after a warm-up) queued in Facteur's
 * database before it starts, then sent by its job engine through its SMTP pool; against a raw
 * nodemailer pool loop with the same connection count and the same messages in flight. Both run
 * on core 0; the sink (`b1-sink.ts`, core 1) times both the same way: N / (end of DATA of the last
 * measured message - that of the first). Two variants: 2 KB plain text and 20 KB HTML.
 */

interface B1Spec {
  messages: number;
  warmup: number;
  connections: number;
  window: number;
  variants: Variant[];
}

type System = 'facteur' | 'raw';
type SqlTimes = Array<{ sql: string; ms: number; calls: number }>;

/** One system's run of one variant in one round. */
interface SystemRun {
  system: System;
  /** Measured messages per second at the sink. */
  rate: number;
  tally: SinkTally;
  /** Over the measured window: from the first measured message at the sink to the end (Facteur: every send recorded). */
  cpuSeconds: number;
  peakRssBytes: number;
  maxRssBytes: number;
  involuntarySwitches: number;
  /** The sink's CPU over the measured messages, in cores (near 1: the sink set the pace). */
  sinkCores: number;
  /** From the sink's first measured message to the start of the CPU window (the relay's delay). */
  resetLagMs: number;
  /** Every measured message received once, every send answered (and, for Facteur, recorded). */
  allRecorded: boolean;
  facteur?: {
    prequeueSeconds: number;
    recorded: RecordCheck;
    /** From the last measured message at the sink to the poll that showed every message sent. */
    recordedAfterLastMs: number | null;
    stop: StopOutcome;
    profile?: string;
    sql?: SqlTimes;
  };
  baseline?: BaselineRun;
}

interface B1Round {
  round: number;
  variant: Variant;
  order: System[];
  facteur: SystemRun;
  raw: SystemRun;
}

const now = (): number => performance.timeOrigin + performance.now();

function drainTimeoutMs(run: B1RunSpec): number {
  return Math.max(120_000, ((run.warmup + run.measured) / 200) * 1000);
}

/** Waits for the sink's first measured message, starts the window of `child`, waits for the sink to have every one. */
async function measuredWindow(
  sink: BenchChild,
  child: BenchChild,
  run: B1RunSpec,
): Promise<{ first: SinkEvent; start: UsageSnapshot & { at?: number }; tally: SinkTally }> {
  const first = await sink.next<SinkEvent>(drainTimeoutMs(run));
  const start = await ask<UsageSnapshot & { at?: number }>(child, { cmd: 'reset' });
  start.at ??= now();
  const tally = await sink.next<SinkTally>(drainTimeoutMs(run));
  return { first, start, tally };
}

function common(
  system: System,
  run: B1RunSpec,
  w: { first: SinkEvent; start: UsageSnapshot & { at?: number }; tally: SinkTally },
  end: UsageSnapshot,
): Omit<SystemRun, 'allRecorded'> {
  const { tally, first, start } = w;
  return {
    system,
    rate: run.measured / ((tally.lastAt - tally.firstAt) / 1000),
    tally,
    cpuSeconds: end.cpuSeconds - start.cpuSeconds,
    peakRssBytes: end.peakRssBytes,
    maxRssBytes: end.maxRssBytes,
    involuntarySwitches: end.involuntarySwitches - start.involuntarySwitches,
    sinkCores: (tally.cpuSeconds - first.cpuSeconds) / ((tally.at - first.at) / 1000),
    resetLagMs: (start.at ?? now()) - first.at,
  };
}

async function facteurRun(
  sink: BenchChild,
  port: number,
  sync: Sync,
  run: B1RunSpec,
  options: BenchOptions,
): Promise<SystemRun> {
  await ask(sink, { cmd: 'reset', measured: run.measured });
  const queued = await prequeue(run, sync);
  let facteur: Awaited<ReturnType<typeof launchFacteur>>;
  try {
    facteur = await launchFacteur({
      script: 'bench/b1-facteur.ts',
      args: [sync, queued.dir, String(port), String(run.connections), String(run.window)],
      ...(options.profileDir ? { env: { B1_PROFILE_DIR: options.profileDir } } : {}),
    });
  } catch (error) {
    rmSync(queued.dir, { recursive: true, force: true });
    throw error;
  }
  try {
    const w = await measuredWindow(sink, facteur.child, run);
    const total = run.warmup + run.measured;
    const recorded = await ask<RecordCheck>(sink, {
      cmd: 'recorded',
      dbPath: facteur.dbPath,
      expected: total,
      timeoutMs: 60_000,
    });
    const end = await ask<UsageSnapshot & { profile?: string; sql?: SqlTimes }>(facteur.child, {
      cmd: 'usage',
    });
    if (end.profile) {
      progress(`CPU profile of the drain: ${end.profile}; SQL time (ms, calls):`);
      for (const s of end.sql ?? []) progress(`  ${s.ms} ms ${s.calls}x ${s.sql}`);
    }
    const stop = await stopFacteur(facteur);
    const allRecorded =
      w.tally.measured === run.measured &&
      w.tally.duplicates === 0 &&
      recorded.recordedAt !== null &&
      recorded.messages === total &&
      recorded.byStatus.sent === total &&
      recorded.attempts === total &&
      recorded.attemptsByOutcome.sent === total &&
      recorded.attemptCountNotOne === 0;
    return {
      ...common('facteur', run, w, end),
      allRecorded,
      facteur: {
        prequeueSeconds: queued.seconds,
        recorded,
        recordedAfterLastMs: recorded.recordedAt === null ? null : recorded.recordedAt - w.tally.lastAt,
        stop,
        ...(end.profile ? { profile: end.profile, sql: end.sql } : {}),
      },
    };
  } catch (error) {
    await stopFacteur(facteur);
    throw error;
  }
}

async function rawRun(sink: BenchChild, port: number, run: B1RunSpec): Promise<SystemRun> {
  await ask(sink, { cmd: 'reset', measured: run.measured });
  const child = spawnPinned({
    core: 0,
    script: 'bench/b1-baseline.ts',
    args: [String(port), JSON.stringify(run)],
  });
  try {
    await child.next(60_000);
    child.send({ cmd: 'run' });
    const w = await measuredWindow(sink, child, run);
    const baseline = await child.next<BaselineRun>(drainTimeoutMs(run));
    const end = await ask<UsageSnapshot>(child, { cmd: 'usage' });
    const allRecorded =
      w.tally.measured === run.measured &&
      w.tally.duplicates === 0 &&
      baseline.ok === run.warmup + run.measured;
    return { ...common('raw', run, w, end), allRecorded, baseline };
  } finally {
    child.kill();
    await child.exited;
  }
}

function describeRun(name: string, r: SystemRun): string {
  const recorded =
    r.facteur === undefined
      ? `${fmtInt(r.baseline?.ok ?? 0)} sent, ${fmtInt(r.baseline?.failed ?? 0)} failed`
      : `recorded ${fmtInt(r.facteur.recordedAfterLastMs ?? Number.NaN)} ms after the last (${JSON.stringify(r.facteur.recorded.byStatus)}), pre-queue ${fmt(r.facteur.prequeueSeconds, 1)} s`;
  return `${name} ${r.system}: ${fmtInt(r.rate)} msg/s, cpu ${fmt(r.cpuSeconds, 2)} s, peak RSS ${fmtMb(r.peakRssBytes)}, sink ${fmt(r.sinkCores, 2)} cores, ${recorded}${r.allRecorded ? '' : ' NOT ALL RECORDED'}`;
}

async function runRound(sync: Sync, spec: B1Spec, options: BenchOptions, round: number): Promise<B1Round[]> {
  const sink = spawnPinned({ core: 1, script: 'bench/b1-sink.ts' });
  try {
    const { port } = await sink.next<{ port: number }>(60_000);
    const results: B1Round[] = [];
    for (const variant of spec.variants) {
      const run: B1RunSpec = {
        variant,
        warmup: spec.warmup,
        measured: spec.messages,
        connections: spec.connections,
        window: spec.window,
      };
      // The order alternates by round, so neither system always runs on a warmer machine.
      const order: System[] = round % 2 === 1 ? ['facteur', 'raw'] : ['raw', 'facteur'];
      const runs: Partial<Record<System, SystemRun>> = {};
      for (const system of order) {
        const r =
          system === 'facteur'
            ? await facteurRun(sink, port, sync, run, options)
            : await rawRun(sink, port, run);
        runs[system] = r;
        progress(describeRun(`B1 ${sync} ${variant} round ${round}/${options.rounds}`, r));
      }
      results.push({ round, variant, order, facteur: runs.facteur as SystemRun, raw: runs.raw as SystemRun });
    }
    return results;
  } finally {
    sink.kill();
    await sink.exited;
  }
}

const per1k = (r: SystemRun, messages: number): number => (r.cpuSeconds / messages) * 1000;

function summarize(rounds: B1Round[], spec: B1Spec, sync: Sync, variant: Variant) {
  const mine = rounds.filter((r) => r.variant === variant);
  const f = mine.map((r) => r.facteur);
  const b = mine.map((r) => r.raw);
  const ratio = ratioSpread(
    f.map((r) => r.rate),
    b.map((r) => r.rate),
  );
  // What the ratio would be if neither lost the core to anything else.
  const cpuRatio = ratioSpread(
    b.map((r) => r.cpuSeconds),
    f.map((r) => r.cpuSeconds),
  );
  const recorded = f.every((r) => r.allRecorded) && b.every((r) => r.allRecorded);
  const cpu = (runs: SystemRun[]): number => median(runs.map((r) => per1k(r, spec.messages)));
  const rss = (runs: SystemRun[]): number => Math.max(...runs.map((r) => r.peakRssBytes));
  const sinkCores = median([...f, ...b].map((r) => r.sinkCores));
  const bytes = median(f.map((r) => r.tally.measuredBytes / r.tally.measured));
  const row = `B1 ${VARIANT_LABELS[variant]} (${fmtInt(spec.messages)} messages of ${fmt(bytes / 1024, 1)} KB, ${spec.connections} connections, ${spec.window} in flight): facteur ${fmtInt(median(f.map((r) => r.rate)))} msg/s | raw ${fmtInt(median(b.map((r) => r.rate)))} msg/s | ratio ${fmtSpread(ratio)} target >= 0.85 ${verdict(ratio.median >= 0.85)}, stretch 0.90 ${verdict(ratio.median >= 0.9)} | every send recorded ${verdict(recorded)} | cpu-s/1k ${fmt(cpu(f), 3)} vs ${fmt(cpu(b), 3)} (cpu-time ratio ${fmtSpread(cpuRatio)}) | peak RSS ${fmtMb(rss(f))} vs ${fmtMb(rss(b))} | sink ${fmt(sinkCores, 2)} cores | ${syncLabel(sync)}`;
  return {
    row,
    data: {
      variant,
      ratio,
      cpuTimeRatio: cpuRatio,
      facteurRate: spread(f.map((r) => r.rate)),
      rawRate: spread(b.map((r) => r.rate)),
      cpuSecondsPer1k: {
        facteur: spread(f.map((r) => per1k(r, spec.messages))),
        raw: spread(b.map((r) => per1k(r, spec.messages))),
      },
      peakRssBytes: { facteur: rss(f), raw: rss(b) },
      sinkCores,
      meanMessageBytes: bytes,
      everySendRecorded: recorded,
    },
  };
}

/** Runs B1 for each requested SQLite durability mode. */
export async function runB1(options: BenchOptions): Promise<BenchReport> {
  const { flags, quick } = options;
  const variantFlag = flags.variant ?? 'both';
  if (!['text', 'html', 'both'].includes(variantFlag))
    throw new Error('--variant must be text, html or both');
  const messages = Number(flags.messages ?? (quick ? 5000 : 50_000));
  const spec: B1Spec = {
    messages,
    warmup: Number(flags['warmup-messages'] ?? (quick ? 1000 : 5000)),
    connections: Number(flags.connections ?? 5),
    window: Number(flags.window ?? 50),
    variants: variantFlag === 'both' ? ['text', 'html'] : [variantFlag as Variant],
  };
  for (const [name, value] of Object.entries({
    messages,
    connections: spec.connections,
    window: spec.window,
  }))
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number >= 1`);
  if (!Number.isInteger(spec.warmup) || spec.warmup < 0)
    throw new Error('--warmup-messages must be a whole number >= 0');
  const rows: string[] = [];
  const modes: unknown[] = [];
  for (const sync of options.syncs) {
    const rounds: B1Round[] = [];
    for (let round = 1; round <= options.rounds; round++)
      rounds.push(...(await runRound(sync, spec, options, round)));
    const summaries = spec.variants.map((variant) => summarize(rounds, spec, sync, variant));
    rows.push(...summaries.map((s) => s.row));
    modes.push({ sync, summaries: summaries.map((s) => s.data), rounds });
  }
  return {
    id: 'B1',
    rows,
    data: {
      description:
        'outbox drain: warm-up + N messages queued (recordMessage, transactions of 1,000) before Facteur starts, sent through its SMTP pool to an smtp-server sink on core 1; vs a raw nodemailer pool loop with the same connections and messages in flight; rate = N / (last - first measured message at the sink)',
      spec,
      // src/ is being changed while benchmarks run: this identifies the code measured.
      srcSha256: sourceFingerprint(),
      modes,
    },
  };
}
