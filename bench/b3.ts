import type { LoadResult, LoadSpec } from './b3-load.js';
import { runAutocannon } from './lib/autocannon.js';
import { type BenchChild, type SpawnOptions, spawnPinned } from './lib/child.js';
import { launchFacteur, stopFacteur } from './lib/facteur-process.js';
import { type BenchOptions, type BenchReport, progress, type Sync, syncLabel } from './lib/report.js';
import {
  fmt,
  fmtInt,
  fmtMb,
  fmtMs,
  fmtSpread,
  median,
  ratioSpread,
  type Spread,
  verdict,
} from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B3, the accept path: `POST /api/messages` answering 202 with an id, against bare Fastify with
 * one SQLite insert per request. Each round starts both servers fresh on core 0, warms each up,
 * then runs every load phase A B (Facteur, baseline) with the generator on core 1.
 */

type System = 'facteur' | 'baseline';
const SYSTEMS: readonly System[] = ['facteur', 'baseline'];
const BODY = JSON.stringify({ to: ['a@example.com'], subject: 's', text: 't' });
const CONNECTIONS = 64;

/** One system's measurements in one phase of one round. */
interface PhaseSample extends LoadResult {
  /** Involuntary context switches of the server: a sign of other processes on its core. */
  involuntarySwitches: number;
  cpuSeconds: number;
  cpuPer1k: number;
  peakRssBytes: number;
}

type Phase = { name: string; rate: number | undefined };

interface Server {
  child: BenchChild;
  url: string;
  key: string;
}

async function startServer(system: System, sync: Sync, options: BenchOptions): Promise<Server> {
  const profiling = options.profileDir !== undefined && system === 'facteur';
  const launch = {
    core: 0,
    script: 'bench/b3-server.ts',
    args: [system, sync],
    nodeFlags: profiling ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
  };
  const ready =
    system === 'facteur'
      ? await launchFacteur(launch)
      : // The baseline has no /healthz; it has answered its preflight request when it reports.
        await spawnReady(launch);
  return { child: ready.child, url: `${ready.url}/api/messages`, key: ready.key };
}

async function spawnReady(launch: SpawnOptions): Promise<{ child: BenchChild; url: string; key: string }> {
  const child = spawnPinned(launch);
  return { child, ...(await child.next<{ url: string; key: string }>(60_000)) };
}

/** The paced generator: one long-lived process on core 1 per round. */
async function startGenerator(): Promise<BenchChild> {
  const generator = spawnPinned({ core: 1, script: 'bench/b3-load.ts' });
  await generator.next(60_000);
  return generator;
}

function load(
  server: Server,
  generator: BenchChild,
  phase: Phase,
  durationS: number,
  pacer: string,
): Promise<LoadResult> {
  const base = { url: server.url, key: server.key, body: BODY, connections: CONNECTIONS, durationS };
  if (phase.rate === undefined) return runAutocannon(base);
  if (pacer === 'autocannon') return runAutocannon({ ...base, overallRate: phase.rate });
  const spec: LoadSpec = { ...base, rate: phase.rate };
  generator.send(spec);
  return generator.next<LoadResult>(durationS * 1000 + 60_000);
}

async function measure(server: Server, run: () => Promise<LoadResult>): Promise<PhaseSample> {
  server.child.send({ cmd: 'reset' });
  const before = await server.child.next<UsageSnapshot>();
  const result = await run();
  server.child.send({ cmd: 'usage' });
  const after = await server.child.next<UsageSnapshot>();
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    ...result,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
    cpuSeconds,
    cpuPer1k: result.ok > 0 ? (cpuSeconds / result.ok) * 1000 : Number.NaN,
    peakRssBytes: after.peakRssBytes,
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Per phase and system, the samples of every round. */
type Samples = Record<string, Record<System, PhaseSample[]>>;

async function runMode(sync: Sync, options: BenchOptions, phases: Phase[]): Promise<Samples> {
  const phaseS = Number(options.flags['phase-seconds'] ?? (options.quick ? 1 : 4));
  const warmupS = options.quick ? 1 : 2;
  const pacer = options.flags.pacer ?? 'open-loop';
  const samples: Samples = {};
  for (const phase of phases) samples[phase.name] = { facteur: [], baseline: [] };
  for (let round = 1; round <= options.rounds; round++) {
    // Started together (children exit on their own if this process dies half way).
    const [generator, facteur, baseline] = await Promise.all([
      startGenerator(),
      startServer('facteur', sync, options),
      startServer('baseline', sync, options),
    ]);
    const servers: Record<System, Server> = { facteur, baseline };
    try {
      for (const system of SYSTEMS) {
        // Warm-up: JIT, SQLite page cache, keep-alive paths; not recorded.
        await runAutocannon({
          url: servers[system].url,
          key: servers[system].key,
          body: BODY,
          connections: CONNECTIONS,
          durationS: warmupS,
        });
      }
      for (const phase of phases) {
        for (const system of SYSTEMS) {
          await pause(300);
          const sample = await measure(servers[system], () =>
            load(servers[system], generator, phase, phaseS, pacer),
          );
          samples[phase.name]?.[system].push(sample);
          progress(
            `B3 ${sync} round ${round}/${options.rounds} ${phase.name} ${system}: ${fmtInt(sample.achievedRate)} req/s, p50 ${fmtMs(sample.p50Ms)}, p99 ${fmtMs(sample.p99Ms)}, failed ${sample.failed}`,
          );
        }
      }
    } finally {
      generator.kill();
      for (const server of Object.values(servers)) await stopFacteur(server, 30_000);
    }
  }
  return samples;
}

interface PhaseSummary {
  phase: string;
  offeredRate: number | null;
  facteur: SystemSummary;
  baseline: SystemSummary;
  /** Saturation: achieved-rate ratio; paced phases: p99 ratio (Facteur / baseline). */
  ratio: Spread;
}

interface SystemSummary {
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  cpuPer1k: number;
  peakRssBytes: number;
  failed: number;
  unanswered: number;
}

function summarizeSystem(samples: PhaseSample[]): SystemSummary {
  return {
    achievedRate: median(samples.map((s) => s.achievedRate)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    cpuPer1k: median(samples.map((s) => s.cpuPer1k)),
    peakRssBytes: Math.max(...samples.map((s) => s.peakRssBytes)),
    failed: samples.reduce((n, s) => n + s.failed, 0),
    unanswered: samples.reduce((n, s) => n + s.unanswered, 0),
  };
}

function summarize(phase: Phase, samples: Record<System, PhaseSample[]>): PhaseSummary {
  const pick = (s: PhaseSample): number => (phase.rate === undefined ? s.achievedRate : s.p99Ms);
  return {
    phase: phase.name,
    offeredRate: phase.rate ?? null,
    facteur: summarizeSystem(samples.facteur),
    baseline: summarizeSystem(samples.baseline),
    ratio: ratioSpread(samples.facteur.map(pick), samples.baseline.map(pick)),
  };
}

function row(summary: PhaseSummary, sync: Sync): string {
  const { facteur: f, baseline: b } = summary;
  const tail = `cpu-s/1k ${fmt(f.cpuPer1k, 3)} vs ${fmt(b.cpuPer1k, 3)} | peak RSS ${fmtMb(f.peakRssBytes)} vs ${fmtMb(b.peakRssBytes)} | ${syncLabel(sync)}`;
  const failures = f.failed + b.failed > 0 ? ` | non-2xx/errors ${f.failed} vs ${b.failed}` : '';
  if (summary.offeredRate === null) {
    const target = `target >= 0.6 ${verdict(summary.ratio.median >= 0.6)}`;
    return `B3 saturation (c=${CONNECTIONS}): facteur ${fmtInt(f.achievedRate)} req/s | baseline ${fmtInt(b.achievedRate)} req/s | ratio ${fmtSpread(summary.ratio)} ${target} | ${tail}${failures}`;
  }
  const side = (s: SystemSummary): string =>
    // With requests abandoned unanswered, the latencies are lower bounds: the server fell behind.
    `p99 ${s.unanswered > 0 ? '>= ' : ''}${fmtMs(s.p99Ms)} (p50 ${fmtMs(s.p50Ms)}, ${fmtInt(s.achievedRate)}/s)`;
  const target =
    summary.offeredRate === 2000
      ? ` target <= 1.25x ${verdict(summary.ratio.median <= 1.25)}, <= 10 ms ${verdict(f.p99Ms <= 10)}, stretch <= 5 ms ${verdict(f.p99Ms <= 5)}`
      : '';
  return `B3 paced ${fmtInt(summary.offeredRate)} req/s: facteur ${side(f)} | baseline ${side(b)} | p99 ratio ${fmtSpread(summary.ratio)}${target} | ${tail}${failures}`;
}

/** Runs B3 for each requested SQLite durability mode. */
export async function runB3(options: BenchOptions): Promise<BenchReport> {
  const rates = (options.flags.rates ?? '500,2000,5000').split(',').map(Number);
  const phases: Phase[] = [
    ...rates.map((rate) => ({ name: `paced-${rate}`, rate })),
    { name: 'saturation', rate: undefined },
  ];
  const rows: string[] = [];
  const modes: Array<{ sync: Sync; summaries: PhaseSummary[]; samples: Samples }> = [];
  for (const sync of options.syncs) {
    const samples = await runMode(sync, options, phases);
    const summaries = phases.map((phase) =>
      summarize(phase, samples[phase.name] as Record<System, PhaseSample[]>),
    );
    rows.push(...summaries.map((s) => row(s, sync)));
    modes.push({ sync, summaries, samples });
  }
  return {
    id: 'B3',
    rows,
    data: {
      description: 'POST /api/messages accept path vs bare Fastify + one better-sqlite3 insert per request',
      sending: 'Facteur with the built-in catcher; its job engine is stopped after start, so nothing is sent',
      pacer: options.flags.pacer ?? 'open-loop',
      connections: CONNECTIONS,
      rounds: options.rounds,
      modes,
    },
  };
}
