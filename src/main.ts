import { readFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import type { Registry } from 'prom-client';
import { createKeyVerifier } from './access/index.js';
import { type Clock, systemClock, type Timer } from './core/clock.js';
import type { BootConfig, SmtpServerConfig } from './core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from './core/crypto/index.js';
import { migrateToLatest, openStore, type Store } from './core/db/index.js';
import { AppError } from './core/errors.js';
import { createHttpServer, type HttpApp } from './core/http/server.js';
import { stableInstanceId } from './core/instance.js';
import { JobEngine, queueStatistics, registerJobRoutes } from './core/jobs/index.js';
import { TargetGuard } from './core/net/ssrf.js';
import {
  type ComponentHealth,
  createMetricsRegistry,
  HealthRegistry,
  type Logger,
} from './core/observability/index.js';
import { Inbound, registerInboundRoutes, routeQueue } from './inbound/index.js';
import {
  MailCatcher,
  registerCatcherRoutes,
  registerMessageRoutes,
  SEND_QUEUE,
  SmtpTransport,
  sendQueue,
} from './mail/index.js';
import { RuleStore, registerRuleRoutes } from './rules/index.js';
import { deliveryQueue, registerWebhookRoutes, Webhooks } from './webhooks/index.js';

/**
 * The composition root: reads nothing itself, builds every part from the boot config, starts
 * them in order and stops them in reverse. Tests start whole instances through `startFacteur`.
 */

/** A running Facteur instance. */
export interface Facteur {
  readonly config: BootConfig;
  readonly store: Store;
  readonly engine: JobEngine;
  readonly http: HttpApp;
  readonly transport: SmtpTransport;
  readonly webhooks: Webhooks;
  readonly inbound: Inbound;
  /** The built-in catcher, when no SMTP relay is configured. */
  readonly catcher: MailCatcher | undefined;
  readonly health: HealthRegistry;
  readonly metrics: Registry;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Drains and stops everything; safe to call twice. */
  stop(): Promise<void>;
}

/** Options for `startFacteur`. */
export interface StartOptions {
  logger: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** DNS lookup for the SSRF guard (tests simulate DNS answers); default: the system resolver. */
  lookup?: LookupFunction;
}

/** The package version. */
export function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return '0.0.0';
  }
}

/** Opens the database, applies migrations, starts the catcher, the job engine and the HTTP API. */
export async function startFacteur(config: BootConfig, options: StartOptions): Promise<Facteur> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const version = packageVersion();
  const cleanups: Array<() => Promise<void> | void> = [];
  const store = openStore(config.database, { logger, backgroundCheckpoint: true });
  cleanups.push(() => store.close());
  try {
    const applied = await migrateToLatest(store);
    if (applied.length > 0) logger.info({ event: 'db.migrated', migrations: applied }, 'database migrated');
    const key = loadOrCreateSecretKey(config.dataDir, config.secretKey);
    if (key.source === 'generated') {
      logger.warn(
        { event: 'secret.generated', path: `${config.dataDir}/secret.key` },
        'generated a secret key; back it up with the database',
      );
    }
    await ensureSecretKeyMatches(store, key.key, clock.now());

    let catcher: MailCatcher | undefined;
    let server: SmtpServerConfig | undefined = config.smtp.server;
    if (!server) {
      catcher = new MailCatcher({ store, clock, logger, retain: config.catcher.retain });
      await catcher.start(config.catcher.port);
      cleanups.push(() => catcher?.close());
      server = {
        host: '127.0.0.1',
        port: catcher.port,
        secure: false,
        requireTls: false,
        ignoreTls: true,
        tlsVerify: true,
        user: undefined,
        password: undefined,
      };
    }
    // Bound once the engine exists (below); the transport calls it only after a probe succeeds.
    let resumeDeferredSends: () => Promise<number> = async () => 0;
    const transport = new SmtpTransport(
      { ...config.smtp, name: catcher ? 'catcher' : 'smtp', server },
      {
        clock,
        logger,
        // Sends deferred while the circuit was open go as soon as a probe succeeds.
        onCircuitClosed: () =>
          void resumeDeferredSends().catch((error) =>
            logger.warn({ event: 'smtp.resume_failed', err: error }, 'cannot bring deferred sends forward'),
          ),
      },
    );
    cleanups.push(() => transport.close());

    const metrics = createMetricsRegistry();
    // The one SSRF guard every outbound connection made on a user's behalf goes through.
    const guard = new TargetGuard(config.network.privateTargets, options.lookup);
    // Host and data directory: a process restarted after a crash is the same instance, so it
    // takes back the job and mailbox leases its dead run held at once instead of when they expire.
    const instanceId = stableInstanceId(config.dataDir);
    const engine = new JobEngine({
      store,
      clock,
      logger,
      metrics,
      instanceId,
      leaseMs: config.jobs.leaseMs,
      pollIntervalMs: config.jobs.pollIntervalMs,
      retentionMs: config.jobs.retentionMs,
    });
    // Through the engine: a send deferred just before the probe succeeded may not be recorded yet.
    resumeDeferredSends = () => engine.runDeferredNow(SEND_QUEUE, 'SMTP_UNAVAILABLE');
    const mailDeps = {
      store,
      clock,
      logger,
      defaultFrom: config.mail.defaultFrom,
      retryScheduleMs: config.mail.retryScheduleMs,
    };
    engine.register(sendQueue({ ...mailDeps, transport, concurrency: config.mail.sendConcurrency }));
    const webhooks = new Webhooks({
      store,
      clock,
      logger,
      metrics,
      secretKey: key.key,
      concurrency: config.webhooks.concurrency,
      alertEmailTo: config.alerts.emailTo,
      mail: mailDeps,
      guard,
    });
    cleanups.push(() => webhooks.stop());
    engine.register(deliveryQueue(webhooks.deliveryDeps));
    const rules = new RuleStore({ store, clock, logger });
    cleanups.push(() => rules.close());
    const inbound = new Inbound({
      store,
      clock,
      logger,
      metrics,
      secretKey: key.key,
      webhooks,
      rules,
      parseWorkers: config.inbound.parseWorkers,
      instanceId,
      guard,
      resumeDeferred: (queue, errorCode) => engine.runDeferredNow(queue, errorCode),
    });
    cleanups.push(() => inbound.stop());
    engine.register(
      routeQueue({
        store,
        clock,
        logger,
        rules,
        webhooks,
        mail: mailDeps,
        mailbox: (id) => inbound.routingMailbox(id),
      }),
    );

    const health = new HealthRegistry();
    registerHealthChecks(health, { store, engine, transport, catcher, clock });
    health.register('webhooks', () => webhooks.health());
    health.register('inbound', () => inbound.health());

    let shuttingDown = false;
    const http = await createHttpServer({
      logger,
      metrics,
      health,
      version,
      bodyLimitBytes: config.http.bodyLimitBytes,
      verifyKey: createKeyVerifier({ store, clock, logger }),
      isShuttingDown: () => shuttingDown,
      registerApiRoutes: (api) => {
        registerMessageRoutes(api, mailDeps);
        registerJobRoutes(api, engine);
        registerWebhookRoutes(api, webhooks);
        registerRuleRoutes(api, {
          rules,
          unknownEndpoints: async (ids) => {
            const all = await webhooks.endpoints.all();
            return ids.filter((id) => !all.has(id));
          },
        });
        registerInboundRoutes(api, inbound);
        if (catcher) registerCatcherRoutes(api, { store });
      },
    });
    cleanups.push(() => http.close());

    // Listen first: if the port is taken, fail before the engine has claimed (and sent) anything.
    const url = await listen(http, config);
    await webhooks.start();
    await engine.start();
    await inbound.start();
    cleanups.push(() => engine.stop(config.jobs.shutdownTimeoutMs));
    const heartbeat = startHeartbeat(clock, logger, engine, inbound);
    logger.info(
      {
        event: 'facteur.started',
        url,
        version,
        database: store.location,
        smtp: catcher ? `catcher:${catcher.port}` : `${server.host}:${server.port}`,
      },
      `Facteur ${version} listening on ${url}`,
    );

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        shuttingDown = true;
        heartbeat.cancel();
        logger.info({ event: 'facteur.stopping' }, 'stopping: no new work, draining running jobs');
        await http.close(); // waits for requests in flight, so every 202 given is recorded
        await inbound.stop(); // watchers first: no new mail is recorded while the engine drains
        await engine.stop(config.jobs.shutdownTimeoutMs);
        await webhooks.stop();
        rules.close();
        transport.close();
        await catcher?.close();
        await store.close();
        logger.info({ event: 'facteur.stopped' }, 'stopped');
      })();
      return stopping;
    };
    return { config, store, engine, http, transport, webhooks, inbound, catcher, health, metrics, url, stop };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    throw error;
  }
}

async function listen(http: HttpApp, config: BootConfig): Promise<string> {
  try {
    await http.listen({ host: config.host, port: config.port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new AppError(
        'HTTP_PORT_IN_USE',
        `${config.host}:${config.port} is taken; set FACTEUR_PORT to a free port`,
        { cause: error },
      );
    }
    throw error;
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${port}`;
}

/** How long due jobs may wait with no job finishing before the engine reads as stalled. */
const STALL_AFTER_MS = 120_000;

function registerHealthChecks(
  health: HealthRegistry,
  parts: {
    store: Store;
    engine: JobEngine;
    transport: SmtpTransport;
    catcher: MailCatcher | undefined;
    clock: Clock;
  },
): void {
  let lastDbSuccess: number | null = null;
  let lastDbError: { message: string; at: number } | null = null;
  health.register(
    'database',
    async (): Promise<ComponentHealth> => {
      try {
        await parts.store.ping(2000);
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
  health.register(`transport:${parts.transport.name}`, () => parts.transport.health());
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
function startHeartbeat(clock: Clock, logger: Logger, engine: JobEngine, inbound: Inbound): Timer {
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
