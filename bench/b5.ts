import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BaselineResult, BaselineSpec } from './b5-baseline.js';
import {
  type B5Round,
  type B5Spec,
  type CleanRun,
  type Cost,
  type FaultRun,
  summarizeB5,
} from './b5-report.js';
import {
  ENDPOINTS,
  ERROR_ENDPOINTS,
  type LatencyResult,
  type ReceiverTally,
  STALL_ENDPOINTS,
} from './b5-shared.js';
import { ask, type BenchChild, ROOT, spawnPinned } from './lib/child.js';
import { type FacteurProcess, launchFacteur, type StopOutcome, stopFacteur } from './lib/facteur-process.js';
import { type BenchOptions, type BenchReport, progress, type Sync } from './lib/report.js';
import { fmt, fmtInt, fmtMs } from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B5, webhook delivery: 20 endpoints on a local receiver, a backlog of events published while
 * the endpoints are paused, then delivered from the moment they are resumed until every
 * delivery is recorded final; against a raw undici + HMAC loop with the same total
 * concurrency. Each round also measures dispatch latency at a steady publish rate and a fault
 * run (2 endpoints answer 500, 2 stall 2 s). Facteur and the baseline run on core 0, the
 * driver (receiver, publisher, database reads) on core 1.
 */

function startFacteur(sync: Sync, spec: B5Spec, options: BenchOptions): Promise<FacteurProcess> {
  // Profiles cover only the measured delivery window (see b5-facteur.ts), not start-up and publishing.
  return launchFacteur({
    script: 'bench/b5-facteur.ts',
    args: [sync, String(spec.concurrency)],
    ...(options.profileDir ? { env: { B5_PROFILE_DIR: options.profileDir } } : {}),
  });
}

async function measured<T>(
  facteur: FacteurProcess,
  driver: BenchChild,
  work: () => Promise<T>,
): Promise<{ result: T; cost: Cost }> {
  const before = await ask<UsageSnapshot>(facteur.child, { cmd: 'reset' });
  const driverBefore = await ask<UsageSnapshot>(driver, { cmd: 'usage' });
  const result = await work();
  const driverAfter = await ask<UsageSnapshot>(driver, { cmd: 'usage' });
  const after = await ask<UsageSnapshot & Pick<Cost, 'profile' | 'sql'>>(facteur.child, { cmd: 'usage' });
  if (after.profile) {
    progress(`CPU profile of the delivery window: ${after.profile}; SQL time (ms, calls):`);
    for (const s of after.sql ?? []) progress(`  ${s.ms} ms ${s.calls}x ${s.sql}`);
  }
  return {
    result,
    cost: {
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      peakRssBytes: after.peakRssBytes,
      involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
      driverCpuSeconds: driverAfter.cpuSeconds - driverBefore.cpuSeconds,
      ...(after.profile ? { profile: after.profile, sql: after.sql } : {}),
    },
  };
}

/** Starts Facteur, sets up the endpoints (with a warm-up), runs `work`, then stops Facteur and records how that went. */
async function withFacteur<T>(
  driver: BenchChild,
  sync: Sync,
  spec: B5Spec,
  options: BenchOptions,
  work: (facteur: FacteurProcess) => Promise<T>,
): Promise<T & { stop: StopOutcome }> {
  const facteur = await startFacteur(sync, spec, options);
  let result: T;
  try {
    await ask(driver, { cmd: 'setup', url: facteur.url, key: facteur.key, dbPath: facteur.dbPath });
    await ask(driver, { cmd: 'warmup', events: spec.warmupEvents });
    result = await work(facteur);
  } catch (error) {
    await ask(driver, { cmd: 'teardown' }).catch(() => undefined);
    await stopFacteur(facteur);
    throw error;
  }
  await ask(driver, { cmd: 'teardown' }).catch(() => undefined);
  return { ...result, stop: await stopFacteur(facteur) };
}

function facteurClean(driver: BenchChild, sync: Sync, spec: B5Spec, options: BenchOptions) {
  return withFacteur(driver, sync, spec, options, async (facteur) => {
    await ask(driver, { cmd: 'publish', events: spec.events });
    const { result, cost } = await measured(facteur, driver, () =>
      ask<CleanRun>(driver, { cmd: 'deliver', timeoutMs: 240_000 }),
    );
    const latency =
      spec.latencySeconds > 0
        ? await ask<LatencyResult>(driver, {
            cmd: 'latency',
            rate: spec.latencyRate,
            seconds: spec.latencySeconds,
          })
        : undefined;
    return { clean: result, cost, ...(latency ? { latency } : {}) };
  });
}

async function facteurFault(driver: BenchChild, sync: Sync, spec: B5Spec, options: BenchOptions) {
  const { stop, ...run } = await withFacteur(driver, sync, spec, options, async (facteur) => {
    await ask(driver, { cmd: 'faults', error: ERROR_ENDPOINTS, stall: STALL_ENDPOINTS });
    await ask(driver, { cmd: 'publish', events: spec.events });
    const { result, cost } = await measured(facteur, driver, () =>
      ask<FaultRun>(driver, { cmd: 'deliver-fault', timeoutMs: 180_000, tailMs: spec.tailSeconds * 1000 }),
    );
    return { fault: result, faultCost: cost };
  });
  return { ...run, faultStop: stop };
}

async function baseline(driver: BenchChild, spec: B5Spec, urls: string[], round: number) {
  const child = spawnPinned({ core: 0, script: 'bench/b5-baseline.ts' });
  try {
    await child.next(60_000);
    const base = { urls, concurrency: spec.concurrency, first: 0 };
    // Warm-up: JIT, keep-alive connections; not recorded.
    await ask(driver, { cmd: 'reset' });
    await ask<BaselineResult>(child, {
      ...base,
      count: Math.min(spec.events, 10_000),
      idPrefix: `w${round}-`,
    });
    await ask(driver, { cmd: 'reset' });
    const run: BaselineSpec = { ...base, count: spec.events, idPrefix: `b${round}-` };
    const driverBefore = await ask<UsageSnapshot>(driver, { cmd: 'usage' });
    const result = await ask<BaselineResult>(child, run);
    const driverAfter = await ask<UsageSnapshot>(driver, { cmd: 'usage' });
    const tally = await ask<ReceiverTally>(driver, { cmd: 'tally' });
    // Near 1 core: the receiver, not the baseline, set the pace.
    const receiverCores = (driverAfter.cpuSeconds - driverBefore.cpuSeconds) / result.seconds;
    return { result: { ...result, receiverCores }, tally };
  } finally {
    child.kill();
  }
}

async function runRound(
  sync: Sync,
  spec: B5Spec,
  options: BenchOptions,
  round: number | 'full-size',
): Promise<B5Round> {
  const driver = spawnPinned({ core: 1, script: 'bench/b5-driver.ts', args: [spec.receiverPorts] });
  try {
    const { ports } = await driver.next<{ ports: number[] }>(60_000);
    const urls = Array.from(
      { length: ENDPOINTS },
      (_, i) => `http://127.0.0.1:${ports[ports.length === 1 ? 0 : i]}/e${i + 1}`,
    );
    const a = await facteurClean(driver, sync, spec, options);
    const c = a.clean;
    const rate = c.published / (((c.recordedAt ?? Number.NaN) - c.resumedAt) / 1000);
    const name = `B5 ${sync} ${round === 'full-size' ? `full-size round (${fmtInt(spec.events)} events)` : `round ${round}/${options.rounds}`}`;
    const latency = a.latency ? `, latency p50 ${fmtMs(a.latency.p50Ms)} p99 ${fmtMs(a.latency.p99Ms)}` : '';
    progress(
      `${name} facteur: ${fmtInt(rate)} deliveries/s recorded (published ${fmtInt(c.publishRate)}/s)${latency}`,
    );
    const b = await baseline(driver, spec, urls, round === 'full-size' ? 0 : round);
    progress(`${name} baseline: ${fmtInt(b.result.rate)} deliveries/s`);
    const f = spec.fault ? await facteurFault(driver, sync, spec, options) : undefined;
    if (f) {
      const p = f.fault.punctuality;
      const q = f.fault.probe.punctuality;
      progress(
        `${name} fault: healthy done ${fmt((f.fault.healthyReceivedAt - f.fault.resumedAt) / 1000, 1)} s after resume; 500-endpoint retries ${p.retries} (breaker-deferred ${p.breakerDeferred}), late p99 ${fmtMs(p.lateP99Ms)}, deliveries ${JSON.stringify(f.fault.checks.error.byStatus)}; flaky retries ${q.retries}, late p99 ${fmtMs(q.lateP99Ms)} worst ${fmtMs(q.lateMaxMs)}`,
      );
    }
    return {
      round: round === 'full-size' ? 0 : round,
      ...a,
      baseline: b.result,
      baselineTally: b.tally,
      ...(f ?? {}),
    };
  } finally {
    driver.kill();
  }
}

/** SHA-256 over every file under src/ (path and content, in path order). */
function sourceFingerprint(): string {
  const hash = createHash('sha256');
  const dir = join(ROOT, 'src');
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).sort();
  for (const file of files) hash.update(file).update(readFileSync(join(dir, file)));
  return hash.digest('hex');
}

/** Runs B5 for each requested SQLite durability mode. */
export async function runB5(options: BenchOptions): Promise<BenchReport> {
  const { flags, quick } = options;
  const spec: B5Spec = {
    events: Number(flags.events ?? (quick ? 5000 : 20_000)),
    concurrency: Number(flags.concurrency ?? 100),
    warmupEvents: Number(flags['warmup-events'] ?? (quick ? 500 : 2000)),
    latencyRate: Number(flags['latency-rate'] ?? 1000),
    latencySeconds: Number(flags['latency-seconds'] ?? (quick ? 3 : 10)),
    receiverPorts: flags['receiver-ports'] === 'single' ? 'single' : 'per-endpoint',
    fault: flags.fault !== 'off',
    tailSeconds: Number(flags['tail-seconds'] ?? 35),
    fullSizeEvents: Number(flags['full-size'] ?? (quick ? 0 : 50_000)),
  };
  const rows: string[] = [];
  const modes: unknown[] = [];
  for (const sync of options.syncs) {
    const rounds: B5Round[] = [];
    for (let round = 1; round <= options.rounds; round++)
      rounds.push(await runRound(sync, spec, options, round));
    const summary = summarizeB5(rounds, spec, sync, `${options.rounds} rounds`);
    rows.push(...summary.rows);
    let fullSize: unknown;
    if (spec.fullSizeEvents > 0 && spec.fullSizeEvents !== spec.events) {
      // One round at the full size, clean run and baseline only (a fault run at this size would
      // take several minutes more).
      const big: B5Spec = { ...spec, events: spec.fullSizeEvents, fault: false, latencySeconds: 0 };
      const round = await runRound(sync, big, options, 'full-size');
      const bigSummary = summarizeB5([round], big, sync, 'one full-size round');
      rows.push(...bigSummary.rows);
      fullSize = { spec: big, summary: bigSummary.data, round };
    }
    modes.push({ sync, spec, summary: summary.data, rounds, fullSize });
  }
  return {
    id: 'B5',
    rows,
    data: {
      description:
        'webhook delivery: backlog published with endpoints paused, delivered from resume until every delivery is recorded final, vs raw undici + HMAC loop at the same total concurrency; dispatch latency at a steady publish rate; fault run (2 endpoints answer 500, 2 stall 2 s)',
      errorEndpoints: ERROR_ENDPOINTS.map((i) => `e${i + 1}`),
      stallEndpoints: STALL_ENDPOINTS.map((i) => `e${i + 1}`),
      // src/ was being changed while benchmarks ran: this identifies the code measured.
      srcSha256: sourceFingerprint(),
      modes,
    },
  };
}
