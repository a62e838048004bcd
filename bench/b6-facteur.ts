import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { onParentMessage, report } from './lib/child.js';
import {
  ProfileWindows,
  type StatementTimes,
  startBenchFacteur,
  stopBenchFacteur,
} from './lib/facteur-instance.js';
import { UsageMonitor, type UsageSnapshot } from './lib/usage.js';

/**
 * B6's and B7's Facteur under test, one per process (pinned to core 0 by the parent): a whole
 * Facteur instance started in this process with `startFacteur` (so that the benchmark can watch
 * its event loop), on a fresh data directory, job engine and mailbox watchers running, logs at
 * warn on stderr. Prints `{url, key, dbPath}` once listening, then answers `reset` / `usage` /
 * `stop`. `usage` includes the event-loop delay since the last `reset`
 * (`perf_hooks.monitorEventLoopDelay`, sampled every `ELD_RESOLUTION_MS`: the stall is the
 * longest gap between samples minus that interval). With `B6_PROFILE_DIR` set, each `reset` ..
 * `usage` window is also written as a V8 CPU profile, with the time spent per SQL statement.
 *
 * usage: b6-facteur.ts <full|normal> <parseWorkers>
 */

/** Event-loop sampling interval. */
const ELD_RESOLUTION_MS = 5;

/** Event-loop delay over a window: the longest stall and the distribution of sampled delays. */
export interface EventLoopStats {
  /** Longest time the loop could not run a timer, beyond the sampling interval (ms). */
  maxStallMs: number;
  p99StallMs: number;
  meanStallMs: number;
  /** Samples over 50 ms of stall. */
  samples: number;
}

/**
 * Event-loop gaps over `STALL_MS`, each split by the main thread's scheduler statistics
 * (`/proc/self/task/<pid>/schedstat`, ns): `runMs` is the main thread's own CPU time in the gap
 * (Facteur's code blocking the loop), `waitMs` the time it was runnable but not running (the
 * core was busy with another thread of this process, e.g. a parse worker, or with another
 * process on this shared machine).
 */
export interface Stall {
  /** End of the gap, monotonic clock in µs (the time base of V8 CPU profiles, to find the gap in one). */
  atUs: number;
  gapMs: number;
  runMs: number;
  waitMs: number;
}

const STALL_MS = 50;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** Watches the loop with a 5 ms timer and keeps the gaps over STALL_MS with their schedstat split. */
class StallWatch {
  stalls: Stall[] = [];
  private last = performance.now();
  private lastStat = this.read();
  private readonly timer = setInterval(() => this.tick(), ELD_RESOLUTION_MS);

  constructor() {
    this.timer.unref();
  }

  private read(): [number, number] {
    try {
      const [run, wait] = readFileSync(SCHEDSTAT, 'utf8').split(' ');
      return [Number(run) / 1e6, Number(wait) / 1e6];
    } catch {
      return [Number.NaN, Number.NaN];
    }
  }

  private tick(): void {
    const at = performance.now();
    const stat = this.read();
    const gap = at - this.last - ELD_RESOLUTION_MS;
    if (gap > STALL_MS) {
      this.stalls.push({
        atUs: Number(process.hrtime.bigint() / 1000n),
        gapMs: gap,
        runMs: stat[0] - this.lastStat[0],
        waitMs: stat[1] - this.lastStat[1],
      });
    }
    this.last = at;
    this.lastStat = stat;
  }

  reset(): void {
    this.stalls = [];
  }

  /** The longest gaps, and the longest by own CPU time. */
  summary(): { count: number; longest: Stall[]; maxRunMs: number } {
    const longest = [...this.stalls].sort((a, b) => b.gapMs - a.gapMs).slice(0, 5);
    return { count: this.stalls.length, longest, maxRunMs: Math.max(0, ...this.stalls.map((s) => s.runMs)) };
  }
}

/** CPU seconds of the main thread (user + system, from /proc/self/task/<pid>/stat). */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** What `usage` answers: CPU seconds and involuntary switches since the last `reset`, peak RSS since then. */
export type FacteurUsage = UsageSnapshot & {
  eventLoop: EventLoopStats;
  /** Of `cpuSeconds`, the main thread's (event loop) and every other thread's (parse workers, libuv pool, V8 helpers); 10 ms ticks. */
  threads: { mainCpuSeconds: number; otherCpuSeconds: number };
  /** Gaps over 50 ms split into own CPU and waiting for the core (see Stall). */
  stalls: { count: number; longest: Stall[]; maxRunMs: number };
  /** `process.memoryUsage()` at the highest RSS sampled (every 100 ms) since the last `reset`: where the memory was. */
  memoryAtPeak: NodeJS.MemoryUsage;
  profile?: string;
  sql?: StatementTimes;
};

async function main(): Promise<void> {
  const profile = new ProfileWindows(process.env.B6_PROFILE_DIR, 'b6-facteur');
  const [sync, workers = '1'] = process.argv.slice(2);
  if (sync !== 'full' && sync !== 'normal')
    throw new Error('usage: b6-facteur.ts <full|normal> <parseWorkers>');
  const monitor = new UsageMonitor();
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  const stallWatch = new StallWatch();
  const instance = await startBenchFacteur('b6', {
    FACTEUR_SQLITE_SYNCHRONOUS: sync,
    FACTEUR_INBOUND_PARSE_WORKERS: workers,
  });
  report(instance.ready);
  const eventLoop = (): EventLoopStats => {
    const stall = (ns: number) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    return {
      maxStallMs: stall(eld.max),
      p99StallMs: stall(eld.percentile(99)),
      meanStallMs: stall(eld.mean),
      samples: eld.count,
    };
  };
  let base = monitor.snapshot();
  let mainBase = mainThreadCpuSeconds();
  let memoryAtPeak = process.memoryUsage();
  const memorySampler = setInterval(() => {
    const memory = process.memoryUsage();
    if (memory.rss > memoryAtPeak.rss) memoryAtPeak = memory;
  }, 100);
  memorySampler.unref();
  onParentMessage(async (message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') {
      monitor.resetPeak();
      base = monitor.snapshot();
      mainBase = mainThreadCpuSeconds();
      memoryAtPeak = process.memoryUsage();
      eld.reset();
      stallWatch.reset();
      await profile.start();
      report(monitor.snapshot());
    }
    if (cmd === 'usage') {
      const now = monitor.snapshot();
      const usage: FacteurUsage = {
        ...now,
        cpuSeconds: now.cpuSeconds - base.cpuSeconds,
        involuntarySwitches: now.involuntarySwitches - base.involuntarySwitches,
        eventLoop: eventLoop(),
        stalls: stallWatch.summary(),
        threads: {
          mainCpuSeconds: mainThreadCpuSeconds() - mainBase,
          otherCpuSeconds: now.cpuSeconds - base.cpuSeconds - (mainThreadCpuSeconds() - mainBase),
        },
        memoryAtPeak,
      };
      const window = await profile.stop();
      report(window ? { ...usage, ...window } : usage);
    }
    if (cmd === 'stop') {
      await stopBenchFacteur(instance, {
        name: 'b6-facteur',
        keepDataEnv: 'B6_KEEP_DATA',
        cleanup: () => {
          monitor.stop();
          eld.disable();
        },
      });
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
