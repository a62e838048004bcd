import type { DovecotImapConfig } from '../test/support/dovecot.js';
import type { PacedResult, ReconnectResult, StageBreakdown, SustainResult } from './b6-driver.js';
import type { FacteurUsage } from './b6-facteur.js';
import { type BenchChild, spawnPinned } from './lib/child.js';
import { now, sleep } from './lib/inbound.js';
import { type BenchOptions, type BenchReport, progress, type Sync, syncLabel } from './lib/report.js';
import {
  fmt,
  fmtInt,
  fmtMb,
  fmtMs,
  fmtSpread,
  median,
  percentile,
  type Spread,
  spread,
  verdict,
} from './lib/stats.js';
import type { UsageSnapshot } from './lib/usage.js';

/**
 * B6, IMAP new mail to webhook received, through Dovecot IDLE. Three processes: Facteur
 * (`b6-facteur.ts`) or the baseline (`b6-baseline.ts`, a raw IDLE client that only notes the
 * EXISTS notice: Dovecot's floor) on core 0, and the driver (`b6-driver.ts`: the private Dovecot,
 * the appender, the webhook receiver) on core 1. Each round measures Facteur (append -> webhook
 * received) then the baseline (append -> notice) on the same paced messages; Facteur's overhead is
 * the difference of their percentiles in the round. Each Facteur round ends with a Dovecot restart
 * (reconnect time). After the rounds, one sustained-load phase on a fresh instance.
 */

interface B6Spec {
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

interface Facteur {
  child: BenchChild;
  url: string;
  key: string;
  dbPath: string;
}

interface Percentiles {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  count: number;
  missing: number;
}

interface B6Round {
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

async function ask<T>(child: BenchChild, message: unknown, timeoutMs = 600_000): Promise<T> {
  child.send(message);
  return child.next<T>(timeoutMs);
}

async function startFacteur(sync: Sync, spec: B6Spec, options: BenchOptions): Promise<Facteur> {
  const child = spawnPinned({
    core: 0,
    script: 'bench/b6-facteur.ts',
    args: [sync, String(spec.workers)],
    ...(options.profileDir ? { env: { B6_PROFILE_DIR: options.profileDir } } : {}),
  });
  const ready = await child.next<{ url: string; key: string; dbPath: string }>(60_000);
  return { child, ...ready };
}

async function stopFacteur(facteur: Facteur): Promise<void> {
  facteur.child.send({ cmd: 'stop' });
  const outcome = await facteur.child
    .next<{ stopped: boolean; resources?: string[] }>(60_000)
    .catch((error: unknown) => ({ stopped: false, resources: [String(error)] }));
  facteur.child.kill();
  await facteur.child.exited;
  if (!outcome.stopped)
    progress(`Facteur's stop() did not return; still open: ${JSON.stringify(outcome.resources)}`);
}

/** Offset of `child`'s clock from this process's (best of 15 round trips over the pipes). */
async function clockOffset(child: BenchChild): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 15; i++) {
    const t0 = now();
    const reply = await ask<{ now: number }>(child, { cmd: 'clock' });
    const t1 = now();
    if (t1 - t0 < best.rttMs) best = { offsetMs: reply.now - (t0 + t1) / 2, rttMs: t1 - t0 };
  }
  return best;
}

function percentiles(values: Array<number | null>): Percentiles {
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

async function facteurPhase(
  driver: BenchChild,
  sync: Sync,
  spec: B6Spec,
  options: BenchOptions,
  round: number,
) {
  const facteur = await startFacteur(sync, spec, options);
  try {
    await ask(driver, {
      cmd: 'setup',
      url: facteur.url,
      key: facteur.key,
      dbPath: facteur.dbPath,
      markSeen: spec.markSeen,
    });
    const intervalMs = 1000 / spec.latencyRate;
    await ask(driver, {
      cmd: 'paced',
      tag: `fw${round}`,
      count: spec.warmupMessages,
      intervalMs,
      waitHooks: true,
    });
    await ask<UsageSnapshot>(facteur.child, { cmd: 'reset' });
    const paced = await ask<PacedResult>(driver, {
      cmd: 'paced',
      tag: `f${round}`,
      count: spec.latencyMessages,
      intervalMs,
      waitHooks: true,
    });
    const usage = await ask<FacteurUsage>(facteur.child, { cmd: 'usage' });
    const reconnect = spec.restart
      ? await ask<ReconnectResult>(driver, { cmd: 'restart', tag: `r${round}` }, 120_000)
      : undefined;
    await ask(driver, { cmd: 'teardown' });
    return { paced, usage, reconnect };
  } finally {
    await stopFacteur(facteur);
  }
}

async function baselinePhase(
  driver: BenchChild,
  imap: DovecotImapConfig,
  folder: string,
  spec: B6Spec,
  round: number,
) {
  const child = spawnPinned({
    core: 0,
    script: 'bench/b6-baseline.ts',
    args: [JSON.stringify(imap), folder],
  });
  try {
    await child.next(60_000);
    const intervalMs = 1000 / spec.latencyRate;
    await ask(driver, {
      cmd: 'paced',
      tag: `bw${round}`,
      count: spec.warmupMessages,
      intervalMs,
      waitHooks: false,
    });
    await sleep(1500);
    const { count: base } = await ask<{ count: number }>(child, { cmd: 'reset' });
    const driverClock = await clockOffset(driver);
    const baselineClock = await clockOffset(child);
    const paced = await ask<PacedResult>(driver, {
      cmd: 'paced',
      tag: `b${round}`,
      count: spec.latencyMessages,
      intervalMs,
      waitHooks: false,
    });
    await sleep(1500);
    const notices = await ask<Array<[number, number]>>(child, { cmd: 'notices' });
    // Notice times onto the driver's clock.
    const shift = driverClock.offsetMs - baselineClock.offsetMs;
    const floor = paced.appendAt.map((at, i) => {
      const notice = notices.find(([, count]) => count >= base + i + 1);
      return notice ? notice[0] + shift - at : null;
    });
    return {
      paced,
      floor,
      clock: {
        driverOffsetMs: driverClock.offsetMs,
        baselineOffsetMs: baselineClock.offsetMs,
        rttMs: Math.max(driverClock.rttMs, baselineClock.rttMs),
      },
    };
  } finally {
    child.kill();
    await child.exited;
  }
}

async function sustainPhase(driver: BenchChild, sync: Sync, spec: B6Spec, options: BenchOptions) {
  const facteur = await startFacteur(sync, spec, options);
  try {
    await ask(driver, {
      cmd: 'setup',
      url: facteur.url,
      key: facteur.key,
      dbPath: facteur.dbPath,
      markSeen: spec.markSeen,
    });
    await ask(driver, {
      cmd: 'paced',
      tag: 'sw',
      count: spec.warmupMessages,
      intervalMs: 1000,
      waitHooks: true,
    });
    await ask<UsageSnapshot>(facteur.child, { cmd: 'reset' });
    const driverBefore = await ask<UsageSnapshot & { dovecotCpuSeconds: number }>(driver, { cmd: 'usage' });
    const result = await ask<SustainResult>(
      driver,
      { cmd: 'sustain', rate: spec.sustainRate, seconds: spec.sustainSeconds, sampleMs: spec.sampleMs },
      spec.sustainSeconds * 1000 + 300_000,
    );
    const driverAfter = await ask<UsageSnapshot & { dovecotCpuSeconds: number }>(driver, { cmd: 'usage' });
    const usage = await ask<FacteurUsage>(facteur.child, { cmd: 'usage' });
    await ask(driver, { cmd: 'teardown' });
    return {
      result,
      usage,
      driverCpuSeconds: driverAfter.cpuSeconds - driverBefore.cpuSeconds,
      dovecotCpuSeconds: driverAfter.dovecotCpuSeconds - driverBefore.dovecotCpuSeconds,
    };
  } finally {
    await stopFacteur(facteur);
  }
}

async function runMode(sync: Sync, spec: B6Spec, options: BenchOptions) {
  const driver = spawnPinned({ core: 1, script: 'bench/b6-driver.ts' });
  try {
    const { imap, folder } = await driver.next<{ imap: DovecotImapConfig; folder: string }>(60_000);
    const rounds: B6Round[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const a = await facteurPhase(driver, sync, spec, options, round);
      const b = await baselinePhase(driver, imap, folder, spec, round);
      const e2eSamples = a.paced.appendAt.map((at, i) => {
        const hook = a.paced.hookAt[i];
        return hook === null || hook === undefined ? null : hook - at;
      });
      const e2e = percentiles(e2eSamples);
      const floor = percentiles(b.floor);
      const r: B6Round = {
        round,
        e2e,
        floor,
        overheadP50Ms: e2e.p50Ms - floor.p50Ms,
        overheadP99Ms: e2e.p99Ms - floor.p99Ms,
        facteur: {
          cpuSeconds: a.usage.cpuSeconds,
          peakRssBytes: a.usage.peakRssBytes,
          involuntarySwitches: a.usage.involuntarySwitches,
          eventLoopMaxStallMs: a.usage.eventLoop.maxStallMs,
        },
        late: { facteur: a.paced.late, baseline: b.paced.late },
        clock: b.clock,
        ...(a.reconnect ? { reconnect: a.reconnect } : {}),
        ...(a.paced.stages ? { stages: a.paced.stages } : {}),
        samples: {
          e2e: e2eSamples.map((v) => (v === null ? Number.NaN : Math.round(v * 100) / 100)),
          floor: b.floor.map((v) => (v === null ? Number.NaN : Math.round(v * 100) / 100)),
        },
        ...(a.usage.profile ? { profile: a.usage.profile, sql: a.usage.sql } : {}),
      };
      rounds.push(r);
      const rc = a.reconnect;
      const st = a.paced.stages;
      progress(
        `B6 ${sync} round ${round}/${options.rounds}: end to end p50 ${fmtMs(e2e.p50Ms)} p99 ${fmtMs(e2e.p99Ms)}; floor p50 ${fmtMs(floor.p50Ms)} p99 ${fmtMs(floor.p99Ms)}; overhead p50 ${fmtMs(r.overheadP50Ms)} p99 ${fmtMs(r.overheadP99Ms)}${rc ? `; reconnect ${fmtMs(rc.reconnectMs ?? Number.NaN)}, next webhook ${fmtMs(rc.webhookMs ?? Number.NaN)}` : ''}${st ? `; stages (medians): APPEND -> row ${fmtMs(st.appendToRecorded)}, -> route claimed ${fmtMs(st.recordedToRouteStart)}, -> attempt ${fmtMs(st.routeToAttempt)}, -> received ${fmtMs(st.attemptToReceived)}` : ''}`,
      );
      if (a.usage.profile) {
        progress(`CPU profile: ${a.usage.profile}; SQL time (ms, calls):`);
        for (const s of a.usage.sql ?? []) progress(`  ${s.ms} ms ${s.calls}x ${s.sql}`);
      }
    }
    let sustain: Awaited<ReturnType<typeof sustainPhase>> | undefined;
    if (spec.sustainSeconds > 0) {
      progress(`B6 ${sync}: sustained ${spec.sustainRate} msg/s for ${spec.sustainSeconds} s`);
      sustain = await sustainPhase(driver, sync, spec, options);
      const s = sustain.result;
      progress(
        `B6 ${sync} sustained: appended ${fmt(s.appendRate, 1)}/s, max lag ${s.maxLag} recorded / ${s.maxDeliveryLag} delivered, growth ${fmt(s.lagGrowth, 1)}, drain ${fmt(s.drainSeconds ?? Number.NaN, 1)} s, e2e p50 ${fmtMs(s.e2e.p50Ms)} p99 ${fmtMs(s.e2e.p99Ms)}`,
      );
      if (sustain.usage.profile) {
        progress(`CPU profile: ${sustain.usage.profile}; SQL time (ms, calls):`);
        for (const q of sustain.usage.sql ?? []) progress(`  ${q.ms} ms ${q.calls}x ${q.sql}`);
      }
    }
    return { rounds, sustain };
  } finally {
    // Dovecot runs under the driver: let it stop Dovecot before the driver is killed.
    await ask(driver, { cmd: 'close' }, 60_000).catch(() => undefined);
    driver.kill();
    await driver.exited;
  }
}

function summarize(
  sync: Sync,
  spec: B6Spec,
  rounds: B6Round[],
  sustain: Awaited<ReturnType<typeof sustainPhase>> | undefined,
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

/** Runs B6 for each requested SQLite durability mode. */
export async function runB6(options: BenchOptions): Promise<BenchReport> {
  const { flags, quick } = options;
  const spec: B6Spec = {
    latencyMessages: Number(flags['latency-messages'] ?? (quick ? 15 : 60)),
    latencyRate: Number(flags['latency-rate'] ?? 1),
    warmupMessages: Number(flags['warmup-messages'] ?? 3),
    sustainRate: Number(flags['sustain-rate'] ?? 50),
    sustainSeconds: Number(flags['sustain-seconds'] ?? (quick ? 30 : 600)),
    sampleMs: 5000,
    restart: flags.restart !== 'off',
    workers: Number(flags.workers ?? 1),
    markSeen: flags['mark-seen'] !== 'off',
  };
  const rows: string[] = [];
  const modes: unknown[] = [];
  for (const sync of options.syncs) {
    const { rounds, sustain } = await runMode(sync, spec, options);
    const summary = summarize(sync, spec, rounds, sustain);
    rows.push(...summary.rows);
    modes.push({ sync, spec, summary: summary.data, rounds });
  }
  return {
    id: 'B6',
    rows,
    data: {
      description:
        'IMAP new mail to webhook received through Dovecot IDLE (APPEND completed -> webhook at a local receiver), vs a raw imapflow IDLE client noting the EXISTS notice (Dovecot floor); overhead = difference of percentiles per round; reconnect after a Dovecot restart; sustained APPEND load',
      modes,
    },
  };
}
