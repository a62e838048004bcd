import { onParentMessage, report } from './lib/child.js';
import { startBenchFacteur, stopBenchFacteur } from './lib/facteur-instance.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B2's Facteur under test (pinned to core 0 by the parent): a whole Facteur instance on the data
 * directory the parent filled (`b2-queue.ts`), sending through the sink with the run's budget on
 * FACTEUR_SMTP_URL. The parent kills it with SIGKILL at the run's kill points and starts it again
 * on the same directory at once. It reports `FacteurReady` once listening, then its usage every
 * second (`{usage}`), so that a killed process's CPU is known to within a second; `stop` stops it.
 *
 * usage: b2-facteur.ts <dataDir> <smtpUrl> <connections> <concurrency> [databaseUrl]
 */

async function main(): Promise<void> {
  const [dir, smtpUrl, connections, concurrency, databaseUrl] = process.argv.slice(2);
  if (!dir || !smtpUrl || !connections || !concurrency)
    throw new Error('usage: b2-facteur.ts <dataDir> <smtpUrl> <connections> <concurrency> [databaseUrl]');
  const monitor = new UsageMonitor();
  const instance = await startBenchFacteur(
    'b2',
    {
      FACTEUR_SQLITE_SYNCHRONOUS: process.env.B2_SYNC ?? 'full',
      FACTEUR_SMTP_URL: smtpUrl,
      FACTEUR_SMTP_POOL_SIZE: connections,
      FACTEUR_SEND_CONCURRENCY: concurrency,
      ...(databaseUrl ? { FACTEUR_DATABASE_URL: databaseUrl } : {}),
      ...(process.env.B2_SECRET_KEY ? { FACTEUR_SECRET_KEY: process.env.B2_SECRET_KEY } : {}),
    },
    { dir },
  );
  report(instance.ready);
  const timer = setInterval(() => report({ usage: monitor.snapshot() }), 1000);
  timer.unref();
  onParentMessage(async (message) => {
    if ((message as { cmd: string }).cmd === 'stop') {
      clearInterval(timer);
      await stopBenchFacteur(instance, {
        name: 'b2-facteur',
        keepDataEnv: 'B2_KEEP_DATA',
        cleanup: () => monitor.stop(),
      });
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
