import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { parseBootConfig } from '../../src/core/config/index.js';
import { createLogger } from '../../src/core/observability/logger.js';
import { type Facteur, startFacteur } from '../../src/main.js';
import { onParentMessage, report, stopWithWatchdog } from './child.js';
import { clearStatementTimes, timeStatements, topStatements } from './sql-time.js';
import type { UsageMonitor } from './usage.js';

/**
 * In a benchmark's Facteur process (started by `launchFacteur`, facteur-process.ts): a whole
 * Facteur instance in this process, on a fresh data directory, listening on a free loopback
 * port, with an API key. The process reports `FacteurReady` to its parent once it listens.
 */

/** What a Facteur process reports to its parent once listening. */
export interface FacteurReady {
  /** Base URL of the API (`http://127.0.0.1:<port>`). */
  url: string;
  key: string;
  /** The SQLite file, for the drivers' read-only checks. */
  dbPath: string;
  pid: number;
}

/** A started instance and what the benchmark process needs to report and clean up. */
export interface BenchFacteur {
  facteur: Facteur;
  dir: string;
  ready: FacteurReady;
}

/**
 * Starts Facteur with the benchmarks' settings (loopback, free ports, logs at warn on stderr,
 * since stdout carries the benchmark protocol; loopback webhook targets allowed) and `env` over
 * them, e.g. `FACTEUR_SQLITE_SYNCHRONOUS`. `name` prefixes the data directory (unless `options.dir`
 * gives one, which is removed on failure and at stop like a fresh one).
 */
export async function startBenchFacteur(
  name: string,
  env: Record<string, string>,
  options: { dir?: string } = {},
): Promise<BenchFacteur> {
  // `dir`: a data directory prepared beforehand (B1 queues its messages there before Facteur starts).
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `facteur-${name}-`));
  try {
    const parsed = parseBootConfig(
      {
        FACTEUR_DATA_DIR: dir,
        FACTEUR_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8',
        FACTEUR_HOST: '127.0.0.1',
        FACTEUR_PORT: '0',
        FACTEUR_CATCHER_PORT: '0',
        FACTEUR_LOG_LEVEL: 'warn',
        ...env,
      },
      { cwd: dir, isTty: false },
    );
    if (!parsed.ok) throw new Error(`invalid config: ${JSON.stringify(parsed.problems)}`);
    const logger = createLogger({ level: 'warn', destination: process.stderr });
    const facteur = await startFacteur(parsed.config, { logger, clock: systemClock });
    const { key } = await createApiKey({ store: facteur.store, clock: systemClock, logger }, 'bench');
    return {
      facteur,
      dir,
      ready: { url: facteur.url, key, dbPath: join(dir, 'facteur.db'), pid: process.pid },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Facteur's own shutdown deadline is 20 s (FACTEUR_SHUTDOWN_TIMEOUT); past this, stop is stuck. */
const STOP_LIMIT_MS = 45_000;

/**
 * The process's `stop` command: stops Facteur (reporting what is still open if stop() hangs),
 * runs `cleanup`, removes the data directory unless `keepDataEnv` is set, reports and exits.
 */
export function stopBenchFacteur(
  instance: BenchFacteur,
  options: { name: string; keepDataEnv: string; cleanup: () => void },
): Promise<never> {
  return stopWithWatchdog(instance.facteur, { dir: instance.dir, limitMs: STOP_LIMIT_MS, ...options });
}

/** SQL statements that took longest in a profiled window (see sql-time.ts). */
export type StatementTimes = ReturnType<typeof topStatements>;

/**
 * Optional V8 CPU profiles of measured windows (`start` at the parent's `reset`, `stop` at its
 * `usage`), with the time spent per SQL statement; inactive when `dir` is undefined.
 */
export class ProfileWindows {
  private readonly session: Session | undefined;
  private count = 0;

  constructor(
    private readonly dir: string | undefined,
    private readonly name: string,
  ) {
    if (!dir) return;
    timeStatements();
    this.session = new Session();
    this.session.connect();
  }

  async start(): Promise<void> {
    clearStatementTimes();
    await this.session?.post('Profiler.enable');
    await this.session?.post('Profiler.start');
  }

  /** Ends the window: the profile file and the SQL times, or nothing when not profiling. */
  async stop(): Promise<{ profile: string; sql: StatementTimes } | undefined> {
    if (!this.session || !this.dir) return undefined;
    const { profile } = await this.session.post('Profiler.stop');
    const file = join(this.dir, `${this.name}-${process.pid}-${++this.count}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return { profile: file, sql: topStatements() };
  }
}

/**
 * The parent's commands to a benchmark's Facteur process that measures windows: `reset` starts
 * one (peak RSS reset, profile started; the answer is the usage so far and the instant, `at`),
 * `usage` ends it (the usage, with the profile and SQL times when profiling), `stop` stops.
 */
export function answerMeasuredWindows(
  instance: BenchFacteur,
  parts: { monitor: UsageMonitor; profile: ProfileWindows; name: string; keepDataEnv: string },
): void {
  const { monitor, profile } = parts;
  onParentMessage(async (message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') {
      monitor.resetPeak();
      const usage = { ...monitor.snapshot(), at: performance.timeOrigin + performance.now() };
      await profile.start();
      report(usage);
    }
    if (cmd === 'usage') {
      const usage = monitor.snapshot();
      const window = await profile.stop();
      report(window ? { ...usage, ...window } : usage);
    }
    if (cmd === 'stop') {
      await stopBenchFacteur(instance, {
        name: parts.name,
        keepDataEnv: parts.keepDataEnv,
        cleanup: () => monitor.stop(),
      });
    }
  });
}
