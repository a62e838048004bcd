import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchPayload, type JobSystem, openBullmqSystem, openFacteurSystem } from './b4-systems.js';
import { report } from './lib/child.js';
import { percentile } from './lib/stats.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * One B4 round for one system, in its own process (pinned to core 0 by the parent): a small
 * warm-up pass, then the measured pass: single adds, bulk adds, draining the bulk-added jobs at
 * concurrency 100, and add-to-start latency at a steady pace. Prints one `B4WorkerResult`.
 */

/** What the parent asks for. */
export interface B4WorkerSpec {
  system: 'facteur-sqlite' | 'facteur-postgres' | 'bullmq';
  sync: 'full' | 'normal';
  /** PostgreSQL URL of a fresh database (facteur-postgres). */
  pgUrl?: string;
  singleJobs: number;
  bulkJobs: number;
  bulkBatch: number;
  latencyJobs: number;
  latencyRate: number;
}

/** Throughput of one phase and the CPU it cost. */
export interface PhaseResult {
  ops: number;
  seconds: number;
  rate: number;
  /** CPU seconds of this process. */
  cpuSeconds: number;
  /** CPU seconds of the server (Redis) during the phase; null when in-process. */
  externalCpuSeconds: number | null;
  /** Involuntary context switches of this process: a sign of other processes on its core. */
  involuntarySwitches: number;
}

/** Everything one round of one system measured. */
export interface B4WorkerResult {
  system: string;
  single: PhaseResult;
  bulk: PhaseResult;
  processing: PhaseResult;
  latency: PhaseResult & { p50Ms: number; p99Ms: number; maxMs: number; missing: number };
  /** Highest RSS of this process over the measured pass (sampled), and its lifetime maximum. */
  peakRssBytes: number;
  maxRssBytes: number;
  externalRssBytes: number | null;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function timed(
  system: JobSystem,
  monitor: UsageMonitor,
  ops: number,
  work: () => Promise<void>,
): Promise<PhaseResult> {
  const ext0 = await system.externalCpuSeconds();
  const before = monitor.snapshot();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const after = monitor.snapshot();
  const ext1 = await system.externalCpuSeconds();
  return {
    ops,
    seconds,
    rate: ops / seconds,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
    externalCpuSeconds: ext0 === undefined || ext1 === undefined ? null : ext1 - ext0,
  };
}

async function runPass(
  system: JobSystem,
  spec: B4WorkerSpec,
  monitor: UsageMonitor,
): Promise<Omit<B4WorkerResult, 'system' | 'peakRssBytes' | 'maxRssBytes' | 'externalRssBytes'>> {
  const single = await timed(system, monitor, spec.singleJobs, async () => {
    for (let i = 0; i < spec.singleJobs; i++) await system.addSingle({ i });
  });
  const bulk = await timed(system, monitor, spec.bulkJobs, async () => {
    for (let offset = 0; offset < spec.bulkJobs; offset += spec.bulkBatch) {
      const size = Math.min(spec.bulkBatch, spec.bulkJobs - offset);
      await system.addBulk(Array.from({ length: size }, (_, k) => ({ i: offset + k })));
    }
  });
  const latencies: number[] = [];
  const onStart = (payload: BenchPayload): void => {
    if (payload.t !== undefined) latencies.push(performance.now() - payload.t);
  };
  const processing = await timed(system, monitor, spec.bulkJobs, async () => {
    await system.startProcessing(onStart);
    await system.waitCompleted(spec.bulkJobs);
  });
  await pause(200);
  const intervalMs = 1000 / spec.latencyRate;
  const latency = await timed(system, monitor, spec.latencyJobs, async () => {
    const start = performance.now();
    for (let i = 0; i < spec.latencyJobs; i++) {
      const wait = start + i * intervalMs - performance.now();
      if (wait > 0) await pause(wait);
      await system.addOne({ i, t: performance.now() });
    }
    await Promise.race([system.waitCompleted(spec.bulkJobs + spec.latencyJobs), pause(10_000)]);
  });
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    single,
    bulk,
    processing,
    latency: {
      ...latency,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      missing: spec.latencyJobs - sorted.length,
    },
  };
}

async function openSystem(spec: B4WorkerSpec, prefix: string, dir: string): Promise<JobSystem> {
  if (spec.system === 'bullmq') return openBullmqSystem('127.0.0.1', 6379, `facteur-bench-${prefix}`);
  if (spec.system === 'facteur-postgres') {
    if (!spec.pgUrl) throw new Error('facteur-postgres needs pgUrl');
    return openFacteurSystem({ kind: 'postgres', url: spec.pgUrl }, prefix);
  }
  return openFacteurSystem(
    { kind: 'sqlite', path: join(dir, `${prefix}.db`), synchronous: spec.sync },
    prefix,
  );
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as B4WorkerSpec;
  const dir = mkdtempSync(join(tmpdir(), 'facteur-b4-'));
  const monitor = new UsageMonitor();
  try {
    // Warm-up on its own queues (and its own SQLite file): JIT and connections, not recorded.
    const warm = await openSystem(spec, 'warm', dir);
    await runPass(
      warm,
      { ...spec, singleJobs: 300, bulkJobs: 2000, bulkBatch: 1000, latencyJobs: 50, latencyRate: 500 },
      monitor,
    );
    await warm.close();
    await pause(200);
    monitor.resetPeak();
    const system = await openSystem(spec, 'bench', dir);
    const result = await runPass(system, spec, monitor);
    const externalRssBytes = (await system.externalRssBytes()) ?? null;
    const { peakRssBytes, maxRssBytes } = monitor.snapshot();
    await system.close();
    report({ system: spec.system, ...result, peakRssBytes, maxRssBytes, externalRssBytes });
  } finally {
    monitor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
