import type { Clock, Timer } from './core/clock.js';
import type { Store } from './core/db/index.js';
import { type JobEngine, queueStatistics } from './core/jobs/index.js';
import type {
  ComponentHealth,
  DependencyMonitor,
  HealthRegistry,
  Logger,
} from './core/observability/index.js';
import type { Inbound } from './inbound/index.js';
import type { MailCatcher, MailTransport } from './mail/index.js';

/**
 * The instance's own health, beside each feature's: the database, each transport, the catcher
 * and the job engine in /readyz, and the heartbeat line that says the background work is alive.
 * Part of the composition root (main.ts).
 */

/** How long due jobs may wait with no job finishing before the engine reads as stalled. */
const STALL_AFTER_MS = 120_000;

export function registerHealthChecks(
  health: HealthRegistry,
  parts: {
    store: Store;
    engine: JobEngine;
    transports: readonly MailTransport[];
    catcher: MailCatcher | undefined;
    clock: Clock;
    dependencies: DependencyMonitor;
  },
): void {
  let lastDbSuccess: number | null = null;
  let lastDbError: { message: string; at: number } | null = null;
  health.register(
    'database',
    async (): Promise<ComponentHealth> => {
      try {
        const ping = () => parts.store.ping(2000);
        await parts.dependencies.measure('database', parts.store.dialect, ping, 'DATABASE_UNAVAILABLE');
        lastDbSuccess = parts.clock.now();
        return {
          status: 'ok',
          lastSuccessAt: lastDbSuccess,
          lastError: lastDbError,
          detail: { location: parts.store.location },
        };
      } catch (error) {
        lastDbError = { message: (error as Error).message, at: parts.clock.now() };
        return {
          status: 'down',
          message: 'the database does not answer',
          lastError: lastDbError,
          lastSuccessAt: lastDbSuccess,
        };
      }
    },
    { critical: true },
  );
  for (const transport of parts.transports)
    health.register(`transport:${transport.name}`, () => transport.health());
  if (parts.catcher) health.register('catcher', () => parts.catcher?.health() ?? { status: 'down' });
  health.register('jobs', async (): Promise<ComponentHealth> => {
    const engineHealth = parts.engine.health();
    const now = parts.clock.now();
    const stats = await queueStatistics(parts.store.db, now);
    const oldestDue = stats.reduce<number | null>(
      (min, s) => (s.oldestRunAt !== null && (min === null || s.oldestRunAt < min) ? s.oldestRunAt : min),
      null,
    );
    const waitingMs = oldestDue === null ? 0 : now - oldestDue;
    const quietMs = now - (engineHealth.lastProgressAt ?? 0);
    const stalled = waitingMs > STALL_AFTER_MS && quietMs > STALL_AFTER_MS;
    return {
      status: stalled ? 'degraded' : engineHealth.status,
      ...(stalled
        ? {
            message: `due jobs have waited ${Math.round(waitingMs / 1000)} s and no job finished for ${Math.round(quietMs / 1000)} s`,
          }
        : {}),
      lastError: engineHealth.lastError,
      lastSuccessAt: engineHealth.lastProgressAt,
      detail: {
        state: engineHealth.state,
        running: engineHealth.running,
        queued: stats.filter((s) => s.status === 'queued').reduce((n, s) => n + s.count, 0),
        oldestDueSeconds: Math.round(waitingMs / 1000),
      },
    };
  });
}

/** A log line every 5 minutes saying the background work is alive and what it did. */
export function startHeartbeat(clock: Clock, logger: Logger, engine: JobEngine, inbound: Inbound): Timer {
  let timer: Timer;
  const beat = (): void => {
    const h = engine.health();
    // Each watcher's state and last success: a poller that died shows here, not only in /readyz.
    const watchers = inbound.statuses().map((s) => ({
      mailbox: s.mailbox,
      folder: s.folder,
      state: s.state,
      lastSuccessAt: s.lastSuccessAt,
      lastError: s.lastError?.code ?? null,
    }));
    logger.info(
      { event: 'heartbeat', engine: h.state, running: h.running, lastProgressAt: h.lastProgressAt, watchers },
      'heartbeat',
    );
    timer = clock.setTimer(300_000, beat);
  };
  timer = clock.setTimer(300_000, beat);
  return { cancel: () => timer.cancel() };
}
