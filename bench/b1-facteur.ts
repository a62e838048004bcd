import { report } from './lib/child.js';
import { answerMeasuredWindows, ProfileWindows, startBenchFacteur } from './lib/facteur-instance.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B1's Facteur under test, one per process (pinned to core 0 by the parent): a whole Facteur
 * instance on the data directory the parent filled beforehand (`b1-queue.ts`), sending through
 * the sink. Its job engine starts draining the queued messages as soon as Facteur starts. Prints
 * `FacteurReady` once listening, then answers `reset` (the measured window starts: the parent
 * sends it when the sink has the first measured message), `usage` and `stop`. With
 * `B1_PROFILE_DIR` set, each `reset` .. `usage` window is also a V8 CPU profile, with the time
 * spent in each SQL statement.
 *
 * usage: b1-facteur.ts <full|normal> <dataDir> <sinkPort> <connections> <window>
 */

async function main(): Promise<void> {
  const profile = new ProfileWindows(process.env.B1_PROFILE_DIR, 'b1-facteur');
  const [sync, dir, port, connections, window] = process.argv.slice(2);
  if ((sync !== 'full' && sync !== 'normal') || !dir || !port || !connections || !window)
    throw new Error('usage: b1-facteur.ts <full|normal> <dataDir> <sinkPort> <connections> <window>');
  const monitor = new UsageMonitor();
  const instance = await startBenchFacteur(
    'b1',
    {
      FACTEUR_SQLITE_SYNCHRONOUS: sync,
      FACTEUR_SMTP_URL: `smtp://127.0.0.1:${port}?starttls=off`,
      FACTEUR_SMTP_POOL_SIZE: connections,
      FACTEUR_SEND_CONCURRENCY: window,
    },
    { dir },
  );
  report(instance.ready);
  answerMeasuredWindows(instance, { monitor, profile, name: 'b1-facteur', keepDataEnv: 'B1_KEEP_DATA' });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
