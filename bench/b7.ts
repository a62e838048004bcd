import type { DovecotImapConfig } from '../test/support/dovecot.js';
import type { FacteurUsage } from './b6-facteur.js';
import type { BaselineRun } from './b7-baseline.js';
import type { BuildResult, IngestResult } from './b7-driver.js';
import { ask, type BenchChild, spawnPinned } from './lib/child.js';
import { launchFacteur, stopFacteur } from './lib/facteur-process.js';
import { type BenchOptions, type BenchReport, progress, type Sync, syncLabel } from './lib/report.js';
import { fmt, fmtInt, fmtMb, fmtMs, fmtSpread, median, ratioSpread, spread, verdict } from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B7, an IMAP backlog fetched, parsed, rule-matched and queued. The driver (`b7-driver.ts`, core 1)
 * builds the backlog once in its private Dovecot (80% 4 KB text, 15% 136 KB HTML, 5% 1.4 MB with
 * an attachment) and reads it once to warm Dovecot and the page cache. Each round then runs, on
 * core 0: Facteur (`b6-facteur.ts`, fresh database, catch-all webhook rule) with each parse-worker
 * count, timed from `POST /api/mailboxes` (startFrom all) until every message has its ledger row
 * and none is left `parsed` (every route result written, its webhook queued); and the baseline
 * (`b7-baseline.ts`): raw imapflow fetch + `simpleParser`, one message at a time.
 */

interface B7Spec {
  messages: number;
  workers: number[];
  appendConnections: number;
  timeoutSeconds: number;
  pollMs: number;
  /** Webhooks sent to the receiver while the backlog is ingested (off: the endpoint is paused, deliveries held). */
  deliveries: boolean;
}

interface FacteurRun {
  workers: number;
  ingest: IngestResult;
  usage: FacteurUsage;
  /** Messages per second, mailbox creation to the last route result. */
  rate: number;
  seconds: number;
}

interface B7Round {
  round: number;
  facteur: FacteurRun[];
  baseline: BaselineRun & { rate: number };
}

/** The longest gap split into the main thread's own CPU and its wait for the core, and the most own CPU in any gap. */
function stallSplit(usage: FacteurUsage): string {
  const top = usage.stalls.longest[0];
  if (!top) return 'no gap over 50 ms';
  return `${usage.stalls.count} gaps > 50 ms; longest ${fmt(top.gapMs, 0)} ms = ${fmt(top.runMs, 0)} own CPU + ${fmt(top.waitMs, 0)} waiting for the core; most own CPU in a gap ${fmt(usage.stalls.maxRunMs, 0)} ms`;
}

async function facteurRun(
  driver: BenchChild,
  sync: Sync,
  spec: B7Spec,
  workers: number,
  options: BenchOptions,
): Promise<FacteurRun> {
  const facteur = await launchFacteur({
    script: 'bench/b6-facteur.ts',
    args: [sync, String(workers)],
    ...(options.profileDir ? { env: { B6_PROFILE_DIR: options.profileDir } } : {}),
  });
  const { child } = facteur;
  try {
    const { url, key, dbPath } = facteur;
    await ask(driver, { cmd: 'setup', url, key, dbPath, deliveries: spec.deliveries });
    await ask<UsageSnapshot>(child, { cmd: 'reset' });
    const ingest = await ask<IngestResult>(
      driver,
      { cmd: 'ingest', messages: spec.messages, timeoutMs: spec.timeoutSeconds * 1000, pollMs: spec.pollMs },
      spec.timeoutSeconds * 1000 + 60_000,
    );
    const usage = await ask<FacteurUsage>(child, { cmd: 'usage' });
    await ask(driver, { cmd: 'teardown' });
    await stopFacteur(facteur);
    const seconds = ((ingest.routedAt ?? Number.NaN) - ingest.startedAt) / 1000;
    if (usage.profile) {
      progress(`CPU profile: ${usage.profile}; SQL time (ms, calls):`);
      for (const s of usage.sql ?? []) progress(`  ${s.ms} ms ${s.calls}x ${s.sql}`);
    }
    return { workers, ingest, usage, rate: spec.messages / seconds, seconds };
  } finally {
    child.kill();
    await child.exited;
  }
}

async function baselineRun(imap: DovecotImapConfig, folder: string): Promise<BaselineRun & { rate: number }> {
  const child = spawnPinned({
    core: 0,
    script: 'bench/b7-baseline.ts',
    args: [JSON.stringify(imap), folder],
  });
  try {
    await child.next(60_000);
    const run = await ask<BaselineRun>(child, { cmd: 'run' }, 1_800_000);
    return { ...run, rate: run.messages / run.seconds };
  } finally {
    child.kill();
    await child.exited;
  }
}

async function runMode(
  sync: Sync,
  spec: B7Spec,
  options: BenchOptions,
  driver: BenchChild,
  imap: DovecotImapConfig,
  folder: string,
) {
  const rounds: B7Round[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const facteur: FacteurRun[] = [];
    // A B A: the baseline between the two Facteur configurations, their order alternating by round.
    const order = round % 2 === 1 ? spec.workers : [...spec.workers].reverse();
    const first = order[0] as number;
    facteur.push(await facteurRun(driver, sync, spec, first, options));
    const baseline = await baselineRun(imap, folder);
    for (const workers of order.slice(1))
      facteur.push(await facteurRun(driver, sync, spec, workers, options));
    facteur.sort((a, b) => a.workers - b.workers);
    rounds.push({ round, facteur, baseline });
    const parts = facteur.map(
      (f) =>
        `facteur w${f.workers} ${fmtInt(f.rate)} msg/s (${fmt(f.seconds, 1)} s, ${fmt(f.usage.cpuSeconds, 1)} cpu-s [main thread ${fmt(f.usage.threads.mainCpuSeconds, 1)}, other threads ${fmt(f.usage.threads.otherCpuSeconds, 1)}], RSS ${fmtMb(f.usage.peakRssBytes)} [at peak: heap ${fmtMb(f.usage.memoryAtPeak.heapUsed)}, external ${fmtMb(f.usage.memoryAtPeak.external)}], stall ${fmtMs(f.usage.eventLoop.maxStallMs)} [${stallSplit(f.usage)}], webhooks all in ${fmt(((f.ingest.deliveredAt ?? Number.NaN) - f.ingest.startedAt) / 1000, 1)} s)`,
    );
    progress(
      `B7 ${sync} round ${round}/${options.rounds}: ${parts.join('; ')}; baseline ${fmtInt(baseline.rate)} msg/s (${fmt(baseline.seconds, 1)} s, ${fmt(baseline.cpuSeconds, 1)} cpu-s, RSS ${fmtMb(baseline.peakRssBytes)}, stall ${fmtMs(baseline.maxStallMs)})`,
    );
  }
  return rounds;
}

function summarize(
  sync: Sync,
  spec: B7Spec,
  build: BuildResult,
  rounds: B7Round[],
): { rows: string[]; data: unknown } {
  const mode = syncLabel(sync);
  const rows: string[] = [];
  const perWorkers: Record<string, unknown> = {};
  const b = rounds.map((r) => r.baseline.rate);
  const cpuB = median(rounds.map((r) => (r.baseline.cpuSeconds / r.baseline.messages) * 1000));
  const rssB = Math.max(...rounds.map((r) => r.baseline.peakRssBytes));
  const stallB = Math.max(...rounds.map((r) => r.baseline.maxStallMs));
  for (const workers of spec.workers) {
    const runs = rounds.map((r) => r.facteur.find((f) => f.workers === workers) as FacteurRun);
    const f = runs.map((run) => run.rate);
    const ratio = ratioSpread(f, b);
    const cpuF = median(runs.map((run) => (run.usage.cpuSeconds / spec.messages) * 1000));
    // Per round: baseline CPU per message / Facteur's (the ratio if each had the core to itself).
    const cpuRatio = ratioSpread(
      rounds.map((r) => r.baseline.cpuSeconds / r.baseline.messages),
      runs.map((run) => run.usage.cpuSeconds / spec.messages),
    );
    const rssF = Math.max(...runs.map((run) => run.usage.peakRssBytes));
    const stall = spread(runs.map((run) => run.usage.eventLoop.maxStallMs));
    const ownStall = spread(runs.map((run) => run.usage.stalls.maxRunMs));
    const delivered = median(
      runs.map((run) => ((run.ingest.deliveredAt ?? Number.NaN) - run.ingest.startedAt) / 1000),
    );
    const complete = runs.every((run) => run.ingest.routedAt !== null);
    const failed = runs.reduce((n, run) => n + (run.ingest.states.fetched ?? 0), 0);
    const skipped = runs.reduce((n, run) => n + (run.ingest.states.skipped ?? 0), 0);
    const dovecot = median(runs.map((run) => run.ingest.dovecotCpuSeconds / run.seconds));
    rows.push(
      `B7 backlog, FACTEUR_INBOUND_PARSE_WORKERS=${workers} (${fmtInt(spec.messages)} messages, ${fmtMb(build.bytes)}; ${rounds.length} rounds): facteur ${fmtInt(median(f))} msg/s to every route result written (${fmt(median(runs.map((run) => run.seconds)), 1)} s; ${spec.deliveries ? `webhooks all received after ${fmt(delivered, 1)} s` : 'deliveries held: endpoint paused'}) | baseline imapflow + simpleParser ${fmtInt(median(b))} msg/s (${fmt(median(rounds.map((r) => r.baseline.seconds)), 1)} s) | ratio ${fmtSpread(ratio)} target >= 0.9 ${verdict(ratio.median >= 0.9)}, stretch 1.5 ${verdict(ratio.median >= 1.5)}${complete ? '' : ' | NOT COMPLETE in some rounds'}${failed + skipped > 0 ? ` | ${failed} parse failures, ${skipped} skipped` : ''} | cpu-s/1k ${fmt(cpuF, 3)} vs ${fmt(cpuB, 3)} (CPU-time ratio ${fmtSpread(cpuRatio)}; Facteur's main thread ${fmt(median(runs.map((run) => (run.usage.threads.mainCpuSeconds / spec.messages) * 1000)), 3)}, other threads ${fmt(median(runs.map((run) => (run.usage.threads.otherCpuSeconds / spec.messages) * 1000)), 3)}) | peak RSS ${fmtMb(rssF)} target <= 300 MB ${verdict(rssF <= 300 * 1048576)} vs ${fmtMb(rssB)} | max event-loop stall ${fmtMs(stall.median)} (${fmt(stall.min, 1)}..${fmt(stall.max, 1)}) target <= 50 ms ${verdict(stall.max <= 50)}, of which the main thread's own CPU at most ${fmtMs(ownStall.max)} (the rest: waiting for the core) (baseline ${fmtMs(stallB)}) | Dovecot ${fmt(dovecot, 2)} cores on core 1 | ${mode}`,
    );
    perWorkers[`w${workers}`] = {
      ratio,
      facteurRate: spread(f),
      cpuPer1k: cpuF,
      cpuRatio,
      peakRss: rssF,
      eventLoopMaxStallMs: stall,
      ownCpuStallMs: ownStall,
      deliveredSeconds: delivered,
    };
  }
  return {
    rows,
    data: {
      baselineRate: spread(b),
      baselineCpuPer1k: cpuB,
      baselinePeakRss: rssB,
      baselineMaxStallMs: stallB,
      ...perWorkers,
    },
  };
}

/** Runs B7 for each requested SQLite durability mode (the backlog is built once for all). */
export async function runB7(options: BenchOptions): Promise<BenchReport> {
  const { flags, quick } = options;
  const spec: B7Spec = {
    messages: Number(flags.messages ?? (quick ? 2000 : 20_000)),
    workers: (flags.workers ?? '1,2').split(',').map(Number),
    appendConnections: Number(flags['append-connections'] ?? 4),
    timeoutSeconds: Number(flags['timeout-seconds'] ?? 900),
    pollMs: 50,
    deliveries: flags.deliveries !== 'off',
  };
  const driver = spawnPinned({ core: 1, script: 'bench/b7-driver.ts' });
  const rows: string[] = [];
  const modes: unknown[] = [];
  let build: BuildResult;
  let warm: { messages: number; seconds: number };
  try {
    const { imap, folder } = await driver.next<{ imap: DovecotImapConfig; folder: string }>(60_000);
    build = await ask<BuildResult>(
      driver,
      { cmd: 'build', messages: spec.messages, connections: spec.appendConnections },
      3_600_000,
    );
    progress(
      `B7: backlog of ${fmtInt(build.messages)} messages (${fmtMb(build.bytes)}) appended in ${fmt(build.seconds, 1)} s: ${JSON.stringify(build.byKind)}`,
    );
    warm = await ask(driver, { cmd: 'warm' }, 1_800_000);
    progress(
      `B7: backlog read once in ${fmt(warm.seconds, 1)} s (warms Dovecot's indexes and the page cache)`,
    );
    for (const sync of options.syncs) {
      const rounds = await runMode(sync, spec, options, driver, imap, folder);
      const summary = summarize(sync, spec, build, rounds);
      rows.push(...summary.rows);
      modes.push({ sync, spec, summary: summary.data, rounds });
    }
  } finally {
    // Dovecot runs under the driver: let it stop Dovecot and delete the backlog before the driver is killed.
    await ask(driver, { cmd: 'close' }, 120_000).catch(() => undefined);
    driver.kill();
    await driver.exited;
  }
  return {
    id: 'B7',
    rows,
    data: {
      description:
        'IMAP backlog (80% 4 KB text, 15% 136 KB HTML-only, 5% 1.4 MB with an attachment) fetched, parsed, rule-matched and queued by Facteur (mailbox creation with startFrom all -> every ledger row routed), vs raw imapflow FETCH 1:* + simpleParser one message at a time; parse workers 1 and 2',
      build,
      warm,
      modes,
    },
  };
}
