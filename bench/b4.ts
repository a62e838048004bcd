import type pg from 'pg';
import { databaseUrl, withAdmin } from '../test/support/database.js';
import type { B4WorkerResult, B4WorkerSpec, PhaseResult } from './b4-worker.js';
import { spawnPinned } from './lib/child.js';
import { type BenchOptions, type BenchReport, progress, type Sync, syncLabel } from './lib/report.js';
import { fmt, fmtInt, fmtMb, fmtMs, fmtSpread, median, ratioSpread, verdict } from './lib/stats.js';

/**
 * B4, the job engine with no-op jobs: Facteur's engine on SQLite (and PostgreSQL when it is
 * reachable) against BullMQ on the machine's Redis, the anchor. Every round runs each system in
 * a fresh process on core 0 (fresh SQLite file, fresh PostgreSQL database, fresh BullMQ queues),
 * in the order facteur-sqlite, bullmq[, facteur-postgres].
 */

type SystemName = B4WorkerSpec['system'];
const ANCHOR: SystemName = 'bullmq';
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const pgAdmin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withAdmin(work, PG_ADMIN_URL);

async function postgresReachable(): Promise<boolean> {
  try {
    await pgAdmin((c) => c.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

async function runWorker(spec: B4WorkerSpec, options: BenchOptions): Promise<B4WorkerResult> {
  const profiling = options.profileDir !== undefined && spec.system !== ANCHOR;
  const child = spawnPinned({
    core: 0,
    script: 'bench/b4-worker.ts',
    args: [JSON.stringify(spec)],
    nodeFlags: profiling ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
  });
  try {
    const result = await child.next<B4WorkerResult>(300_000);
    await child.exited;
    return result;
  } finally {
    child.kill();
  }
}

async function runSystem(spec: B4WorkerSpec, options: BenchOptions, round: number): Promise<B4WorkerResult> {
  if (spec.system !== 'facteur-postgres') return runWorker(spec, options);
  const name = `facteur_bench_${process.pid}_${round}`;
  await pgAdmin((c) => c.query(`create database ${name}`));
  try {
    return await runWorker({ ...spec, pgUrl: databaseUrl(name, PG_ADMIN_URL) }, options);
  } finally {
    await pgAdmin((c) => c.query(`drop database if exists ${name} with (force)`));
  }
}

type Samples = Record<string, B4WorkerResult[]>;
type Metric = 'single' | 'bulk' | 'processing';

function cpuPer1k(phase: PhaseResult): { own: number; external: number | null } {
  return {
    own: (phase.cpuSeconds / phase.ops) * 1000,
    external: phase.externalCpuSeconds === null ? null : (phase.externalCpuSeconds / phase.ops) * 1000,
  };
}

function cpuText(results: B4WorkerResult[], pick: (r: B4WorkerResult) => PhaseResult): string {
  const own = median(results.map((r) => cpuPer1k(pick(r)).own));
  const externals = results.map((r) => cpuPer1k(pick(r)).external).filter((v): v is number => v !== null);
  return externals.length > 0 ? `${fmt(own, 3)}+${fmt(median(externals), 3)} redis` : fmt(own, 3);
}

function rssText(results: B4WorkerResult[]): string {
  const own = fmtMb(Math.max(...results.map((r) => r.peakRssBytes)));
  const external = results.map((r) => r.externalRssBytes).filter((v): v is number => v !== null);
  return external.length > 0 ? `${own} (+redis ${fmtMb(Math.max(...external))})` : own;
}

const LABELS: Record<Metric, string> = {
  single: 'single add (1 job per call)',
  bulk: 'bulk add',
  processing: `processing (c=100)`,
};

function rows(system: SystemName, samples: Samples, sync: Sync, spec: B4WorkerSpec): string[] {
  const ours = samples[system] ?? [];
  const anchor = samples[ANCHOR] ?? [];
  const mode = system === 'facteur-sqlite' ? syncLabel(sync) : 'postgresql (pg server CPU not counted)';
  const tail = (pick: (r: B4WorkerResult) => PhaseResult): string =>
    `cpu-s/1k ${cpuText(ours, pick)} vs ${cpuText(anchor, pick)} | peak RSS ${rssText(ours)} vs ${rssText(anchor)} | ${mode}`;
  const lines = (['single', 'bulk', 'processing'] as const).map((metric) => {
    const a = ours.map((r) => r[metric].rate);
    const b = anchor.map((r) => r[metric].rate);
    const ratio = ratioSpread(a, b);
    const label =
      metric === 'bulk' ? `${LABELS.bulk} (batches of ${fmtInt(spec.bulkBatch)})` : LABELS[metric];
    const target =
      metric === 'processing' && system === 'facteur-sqlite'
        ? ` target >= 0.5 ${verdict(ratio.median >= 0.5)}`
        : '';
    return `B4 ${label}: ${system} ${fmtInt(median(a))} jobs/s | ${ANCHOR} ${fmtInt(median(b))} jobs/s | ratio ${fmtSpread(ratio)}${target} | ${tail((r) => r[metric])}`;
  });
  const p99 = (rs: B4WorkerResult[]): number => median(rs.map((r) => r.latency.p99Ms));
  const p50 = (rs: B4WorkerResult[]): number => median(rs.map((r) => r.latency.p50Ms));
  const missing =
    ours.reduce((n, r) => n + r.latency.missing, 0) + anchor.reduce((n, r) => n + r.latency.missing, 0);
  lines.push(
    `B4 add-to-start latency (${fmtInt(spec.latencyRate)} jobs/s): ${system} p50 ${fmtMs(p50(ours))} p99 ${fmtMs(p99(ours))} | ${ANCHOR} p50 ${fmtMs(p50(anchor))} p99 ${fmtMs(p99(anchor))} | p99 ratio ${fmtSpread(
      ratioSpread(
        ours.map((r) => r.latency.p99Ms),
        anchor.map((r) => r.latency.p99Ms),
      ),
    )} target p99 <= 5 ms ${verdict(p99(ours) <= 5)}${missing > 0 ? ` | ${missing} never started` : ''} | ${tail((r) => r.latency)}`,
  );
  return lines;
}

/** Runs B4 for each requested SQLite durability mode. */
export async function runB4(options: BenchOptions): Promise<BenchReport> {
  const { flags, quick } = options;
  const pgFlag = flags.pg ?? 'auto';
  const withPg = pgFlag === 'on' || (pgFlag === 'auto' && (await postgresReachable()));
  if (pgFlag === 'auto' && !withPg)
    progress(`B4: PostgreSQL at ${PG_ADMIN_URL} unreachable; skipping facteur-postgres`);
  const systems: SystemName[] = [
    'facteur-sqlite',
    ANCHOR,
    ...(withPg ? (['facteur-postgres'] as const) : []),
  ];
  const report: BenchReport = { id: 'B4', rows: [], data: {} };
  const modes: unknown[] = [];
  for (const [index, sync] of options.syncs.entries()) {
    const spec: B4WorkerSpec = {
      system: 'facteur-sqlite',
      sync,
      singleJobs: Number(flags.single ?? (quick ? 500 : 3000)),
      bulkJobs: Number(flags.jobs ?? (quick ? 2000 : 20_000)),
      bulkBatch: 1000,
      latencyJobs: Number(flags['latency-jobs'] ?? (quick ? 100 : 1000)),
      latencyRate: Number(flags['latency-rate'] ?? 250),
    };
    // PostgreSQL and BullMQ do not depend on the SQLite mode: measure them with the first one only.
    const modeSystems = index === 0 ? systems : systems.filter((s) => s !== 'facteur-postgres');
    const samples: Samples = Object.fromEntries(modeSystems.map((s) => [s, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const system of modeSystems) {
        const result = await runSystem({ ...spec, system }, options, round);
        samples[system]?.push(result);
        progress(
          `B4 ${sync} round ${round}/${options.rounds} ${system}: single ${fmtInt(result.single.rate)}/s, bulk ${fmtInt(result.bulk.rate)}/s, processing ${fmtInt(result.processing.rate)}/s, add-to-start p99 ${fmtMs(result.latency.p99Ms)}`,
        );
      }
    }
    for (const system of modeSystems)
      if (system !== ANCHOR) report.rows.push(...rows(system, samples, sync, spec));
    modes.push({ sync, spec, samples });
  }
  report.data = {
    description: 'no-op jobs: single add, bulk add, processing at concurrency 100, add-to-start latency',
    anchor: 'BullMQ 5 on the local Redis (its CPU from INFO cpu is reported separately)',
    modes,
  };
  return report;
}
