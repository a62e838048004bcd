/**
 * CPU time and memory of the current process, as children report them to the parent.
 * CPU comes from `process.cpuUsage()` (every thread: main, libuv pool, GC); peak RSS is
 * sampled every 50 ms and also taken from the kernel's lifetime maximum.
 */

/** A reading of this process's usage. */
export interface UsageSnapshot {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  /** Highest RSS sampled since the last `resetPeak`, in bytes. */
  peakRssBytes: number;
  /** The kernel's lifetime maximum RSS, in bytes. */
  maxRssBytes: number;
  /** Times the kernel took the CPU away from this process: other processes competing for its core. */
  involuntarySwitches: number;
}

/** Samples RSS in the background and answers usage snapshots. */
export class UsageMonitor {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** The current reading. */
  snapshot(): UsageSnapshot {
    this.sample();
    const cpu = process.cpuUsage();
    const usage = process.resourceUsage();
    return {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: this.peak,
      maxRssBytes: usage.maxRSS * 1024,
      involuntarySwitches: usage.involuntaryContextSwitches,
    };
  }

  /** Starts a new peak window at the current RSS. */
  resetPeak(): void {
    this.peak = 0;
    this.sample();
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
  }
}
