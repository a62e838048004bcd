import { report } from './lib/child.js';
import { answerMeasuredWindows, ProfileWindows, startBenchFacteur } from './lib/facteur-instance.js';
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

async function main(): Promise<void> {
  const profile = new ProfileWindows(process.env.B5_PROFILE_DIR, 'b5-facteur');
  const sync = process.argv[2];
  const concurrency = process.argv[3] ?? '100';
  if (sync !== 'full' && sync !== 'normal')
    throw new Error('usage: b5-facteur.ts <full|normal> <concurrency>');
  const monitor = new UsageMonitor();
  const instance = await startBenchFacteur('b5', {
    FACTEUR_SQLITE_SYNCHRONOUS: sync,
    FACTEUR_WEBHOOK_CONCURRENCY: concurrency,
  });
  report(instance.ready);
  answerMeasuredWindows(instance, { monitor, profile, name: 'b5-facteur', keepDataEnv: 'B5_KEEP_DATA' });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
