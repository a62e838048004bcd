import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/observability/index.js';
import { startFacteur } from '../main.js';
import { configOrExit, EXIT, failAndExit } from './shared.js';

/**
 * `facteur serve`: runs the API, the job engine and (without FACTEUR_SMTP_URL) the mail catcher
 * until SIGTERM or SIGINT, then drains: no new work, running jobs finish up to
 * FACTEUR_SHUTDOWN_TIMEOUT, the rest go back to the queue. A second signal exits at once.
 */
export async function serveCommand(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger({ level: config.log.level, format: config.log.format });
  let facteur: Awaited<ReturnType<typeof startFacteur>>;
  try {
    facteur = await startFacteur(config, { logger, clock: systemClock });
  } catch (error) {
    logger.fatal({ event: 'facteur.start_failed', err: error }, 'Facteur could not start');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    failAndExit(error, EXIT.failed);
  }
  // The log destination is asynchronous: exit only once its buffer is written.
  const exitAfterLogs = (code: number): void => logger.flush(() => process.exit(code));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ event: 'facteur.forced_exit', signal }, 'second signal: exiting without draining');
      exitAfterLogs(EXIT.failed);
    }
    logger.info({ event: 'facteur.signal', signal }, `${signal} received`);
    facteur.stop().then(
      () => {
        exitAfterLogs(EXIT.ok);
      },
      (error: unknown) => {
        logger.error({ event: 'facteur.stop_failed', err: error }, 'error while stopping');
        exitAfterLogs(EXIT.failed);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (reason) => {
    // Exiting is safer than running in an unknown state: leases bring running jobs back.
    logger.fatal(
      { event: 'facteur.unhandled_rejection', err: reason },
      'unhandled promise rejection; exiting',
    );
    exitAfterLogs(EXIT.failed);
  });
}
