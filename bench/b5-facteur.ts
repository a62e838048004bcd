import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKey } from '../src/access/index.js';
import { systemClock } from '../src/core/clock.js';
import { parseBootConfig } from '../src/core/config/index.js';
import { createLogger } from '../src/core/observability/logger.js';
import { startFacteur } from '../src/main.js';
import { onParentMessage, report, stopWithWatchdog } from './lib/child.js';
import { clearStatementTimes, timeStatements, topStatements } from './lib/sql-time.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B5's Facteur under test, one per process (pinned to core 0 by the parent): a whole Facteur
 * instance on a fresh data directory, job engine running, webhook concurrency and SQLite
 * durability from the arguments, logs at warn on stderr. Prints `{url, key, dbPath}` once
 * listening, then answers `usage` / `reset` / `stop`. With `B5_PROFILE_DIR` set, each
 * `reset` .. `usage` window is also recorded as a V8 CPU profile in that directory, and the time
 * spent in each SQL statement (better-sqlite3 calls, wrapped) is reported with the usage.
 *
 * usage: b5-facteur.ts <full|normal> <webhookConcurrency>
 */

/** Facteur's own shutdown deadline is 20 s (FACTEUR_SHUTDOWN_TIMEOUT); past this, stop is stuck. */
const STOP_LIMIT_MS = 45_000;

async function main(): Promise<void> {
  const profileDir = process.env.B5_PROFILE_DIR;
  if (profileDir) timeStatements();
  const session = profileDir ? new Session() : undefined;
  session?.connect();
  let window = 0;
  const sync = process.argv[2];
  const concurrency = process.argv[3] ?? '100';
  if (sync !== 'full' && sync !== 'normal')
    throw new Error('usage: b5-facteur.ts <full|normal> <concurrency>');
  const dir = mkdtempSync(join(tmpdir(), 'facteur-b5-'));
  const monitor = new UsageMonitor();
  const parsed = parseBootConfig(
    {
      FACTEUR_DATA_DIR: dir,
      FACTEUR_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8',
      FACTEUR_HOST: '127.0.0.1',
      FACTEUR_PORT: '0',
      FACTEUR_CATCHER_PORT: '0',
      FACTEUR_LOG_LEVEL: 'warn',
      FACTEUR_SQLITE_SYNCHRONOUS: sync,
      FACTEUR_WEBHOOK_CONCURRENCY: concurrency,
    },
    { cwd: dir, isTty: false },
  );
  if (!parsed.ok) throw new Error(`invalid config: ${JSON.stringify(parsed.problems)}`);
  // Logs go to stderr: stdout carries the benchmark protocol.
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  const facteur = await startFacteur(parsed.config, { logger, clock: systemClock });
  const { key } = await createApiKey({ store: facteur.store, clock: systemClock, logger }, 'bench');
  report({ url: facteur.url, key, dbPath: join(dir, 'facteur.db'), pid: process.pid });
  onParentMessage(async (message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') {
      monitor.resetPeak();
      clearStatementTimes();
      await session?.post('Profiler.enable');
      await session?.post('Profiler.start');
      report(monitor.snapshot());
    }
    if (cmd === 'usage') {
      const usage = monitor.snapshot();
      if (session && profileDir) {
        const { profile } = await session.post('Profiler.stop');
        const file = join(profileDir, `b5-facteur-${process.pid}-${++window}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        report({ ...usage, profile: file, sql: topStatements() });
      } else report(usage);
    }
    if (cmd === 'stop') {
      await stopWithWatchdog(facteur, {
        dir,
        limitMs: STOP_LIMIT_MS,
        keepDataEnv: 'B5_KEEP_DATA',
        name: 'b5-facteur',
        cleanup: () => {
          monitor.stop();
        },
      });
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
