import type { DovecotImapConfig } from '../test/support/dovecot.js';
import type { FacteurUsage } from './b6-facteur.js';
import { type B6Round, type B6Spec, percentiles, summarize } from './b6-report.js';
import type { PacedResult, ReconnectResult, SustainResult } from './b6-shared.js';
import { ask, type BenchChild, spawnPinned } from './lib/child.js';
import { type FacteurProcess, launchFacteur, stopFacteur } from './lib/facteur-process.js';
import { now, sleep } from './lib/inbound.js';
import { type BenchOptions, type BenchReport, progress, type Sync } from './lib/report.js';
import { fmt, fmtMs } from './lib/stats.js';
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

/**
 * Starts Facteur, points the driver at it (endpoint, rule, mailbox watched) and sends the warm-up
 * messages, then runs `work` from a fresh usage window; Facteur is stopped whatever happens.
 */
async function withFacteur<T>(
  driver: BenchChild,
  sync: Sync,
  spec: B6Spec,
  options: BenchOptions,
  warmup: { tag: string; intervalMs: number },
  work: (facteur: FacteurProcess) => Promise<T>,
): Promise<T> {
  const facteur = await launchFacteur({
    script: 'bench/b6-facteur.ts',
    args: [sync, String(spec.workers)],
    ...(options.profileDir ? { env: { B6_PROFILE_DIR: options.profileDir } } : {}),
  });
  try {
    const { url, key, dbPath } = facteur;
    await ask(driver, { cmd: 'setup', url, key, dbPath, markSeen: spec.markSeen });
    await ask(driver, { cmd: 'paced', count: spec.warmupMessages, waitHooks: true, ...warmup });
    await ask<UsageSnapshot>(facteur.child, { cmd: 'reset' });
    const result = await work(facteur);
    await ask(driver, { cmd: 'teardown' });
    return result;
  } finally {
    await stopFacteur(facteur);
  }
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

async function facteurPhase(
  driver: BenchChild,
  sync: Sync,
  spec: B6Spec,
  options: BenchOptions,
  round: number,
) {
  const intervalMs = 1000 / spec.latencyRate;
  return withFacteur(driver, sync, spec, options, { tag: `fw${round}`, intervalMs }, async (facteur) => {
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
    return { paced, usage, reconnect };
  });
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

function sustainPhase(driver: BenchChild, sync: Sync, spec: B6Spec, options: BenchOptions) {
  return withFacteur(driver, sync, spec, options, { tag: 'sw', intervalMs: 1000 }, async (facteur) => {
    const driverBefore = await ask<UsageSnapshot & { dovecotCpuSeconds: number }>(driver, { cmd: 'usage' });
    const result = await ask<SustainResult>(
      driver,
      { cmd: 'sustain', rate: spec.sustainRate, seconds: spec.sustainSeconds, sampleMs: spec.sampleMs },
      spec.sustainSeconds * 1000 + 300_000,
    );
    const driverAfter = await ask<UsageSnapshot & { dovecotCpuSeconds: number }>(driver, { cmd: 'usage' });
    const usage = await ask<FacteurUsage>(facteur.child, { cmd: 'usage' });
    return {
      result,
      usage,
      driverCpuSeconds: driverAfter.cpuSeconds - driverBefore.cpuSeconds,
      dovecotCpuSeconds: driverAfter.dovecotCpuSeconds - driverBefore.dovecotCpuSeconds,
    };
  });
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
