import type { LookupFunction } from 'node:net';
import type { Registry } from 'prom-client';
import {
  Accounts,
  createKeyVerifier,
  createSessionVerifier,
  DEFAULT_SIGN_IN_POLICY,
  SignIn,
} from './access/index.js';
import { AuditLog } from './audit/index.js';
import { Audiences, Campaigns } from './campaigns/index.js';
import { type Clock, systemClock } from './core/clock.js';
import type { BootConfig } from './core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from './core/crypto/index.js';
import { migrateToLatest, openStore, type Store } from './core/db/index.js';
import { listen } from './core/http/listen.js';
import { createHttpServer, type HttpApp } from './core/http/server.js';
import { closeViewStreams } from './core/http/sse.js';
import { stableInstanceId } from './core/instance.js';
import { JobEngine } from './core/jobs/index.js';
import { TargetGuard } from './core/net/ssrf.js';
import {
  createMetricsRegistry,
  DependencyMonitor,
  databaseProbe,
  HealthRegistry,
  type Logger,
  transportProbe,
} from './core/observability/index.js';
import { packageVersion } from './core/version.js';
import { registerHealthChecks, startHeartbeat } from './health-checks.js';
import { type RouteParts, registerApiRoutes, registerPublicRoutes } from './http-routes.js';
import { Inbound, routeQueue } from './inbound/index.js';
import { type MailCatcher, type MailTransport, openTransports, SEND_QUEUE, sendQueue } from './mail/index.js';
import { Reports } from './reports/index.js';
import { RuleStore } from './rules/index.js';
import { deliveryQueue, Webhooks } from './webhooks/index.js';

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
  /** The first transport of the chain (the catcher's when none is configured). */
  readonly transport: MailTransport;
  /** Every transport, in failover order. */
  readonly transports: readonly MailTransport[];
  readonly webhooks: Webhooks;
  readonly inbound: Inbound;
  readonly reports: Reports;
  /** Lists, contacts and the suppression list (bulk mail). */
  readonly audiences: Audiences;
  /** Campaigns: the recipient ledger, the dispatcher, feedback. */
  readonly campaigns: Campaigns;
  /** Dashboard users and sessions; password and link sign-in. */
  readonly accounts: Accounts;
  readonly signIn: SignIn;
  readonly audit: AuditLog;
  /** The built-in catcher, when no SMTP relay is configured. */
  readonly catcher: MailCatcher | undefined;
  readonly health: HealthRegistry;
  readonly metrics: Registry;
  /** Latency, errors and alerts of every dependency; `dependencies.observe` takes samples. */
  readonly dependencies: DependencyMonitor;
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

    const metrics = createMetricsRegistry();
    const dependencies = new DependencyMonitor({ clock, logger, metrics, ...config.dependencies });
    // The one SSRF guard every outbound connection made on a user's behalf goes through.
    const guard = new TargetGuard(config.network.privateTargets, options.lookup);
    // Bound once the engine exists (below); a transport calls it only after a probe succeeds.
    let resumeDeferredSends: () => Promise<number> = async () => 0;
    // FACTEUR_TRANSPORTS in failover order, or the built-in catcher when none is configured.
    const { chain: transports, catcher } = await openTransports({
      config,
      store,
      clock,
      logger,
      guard,
      metrics,
      observe: dependencies.observe,
      // Sends deferred while every circuit was open go as soon as a probe succeeds.
      onCircuitClosed: () =>
        void resumeDeferredSends().catch((error) =>
          logger.warn({ event: 'smtp.resume_failed', err: error }, 'cannot bring deferred sends forward'),
        ),
    });
    cleanups.push(() => catcher?.close());
    cleanups.push(() => transports.close());
    const transport = transports.transports[0] as MailTransport;
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
    resumeDeferredSends = () => engine.runDeferredNow(SEND_QUEUE, transports.unavailableCode);
    const mailDeps = {
      store,
      clock,
      logger,
      defaultFrom: config.mail.defaultFrom,
      retryScheduleMs: config.mail.retryScheduleMs,
    };
    engine.register(sendQueue({ ...mailDeps, transports, concurrency: config.mail.sendConcurrency }));
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
      observe: dependencies.observe,
    });
    cleanups.push(() => webhooks.stop());
    dependencies.alertThrough((alert) => webhooks.raiseAlert(alert));
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
      observe: dependencies.observe,
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
        // DSNs and complaints read from a bounce mailbox update the campaigns' ledger.
        feedback: (items) => campaigns.applyFeedback(items).then(() => undefined),
      }),
    );

    const reports = new Reports({
      store,
      clock,
      logger,
      secretKey: key.key,
      guard,
      sqliteDir: config.reports.sqliteDir,
      mail: mailDeps,
      raiseAlert: (tx, type, data, now, subject) => webhooks.alerts.raise(tx, type, data, now, subject),
      observe: dependencies.observe,
    });
    cleanups.push(() => reports.stop());
    const audiences = new Audiences({ store, clock, logger });
    cleanups.push(() => audiences.stop());
    // Unsubscribe links name FACTEUR_PUBLIC_URL, else the address this instance listens on.
    let listenUrl = '';
    const campaigns = new Campaigns({
      store,
      clock,
      logger,
      mail: mailDeps,
      lists: audiences.lists,
      secretKey: key.key,
      publicUrl: () => config.campaigns.publicUrl ?? listenUrl,
      window: config.campaigns.window,
      stallAfterMs: config.campaigns.stallAfterMs,
      metrics,
      publish: (tx, type, data, now) => webhooks.alerts.publish(tx, type, data, now).then(() => undefined),
    });
    for (const queue of campaigns.queues()) engine.register(queue);
    engine.follow(SEND_QUEUE, campaigns.followSend); // the ledger follows each campaign message
    for (const queue of reports.queues()) engine.register(queue);
    // A report run's `send` stage follows its message's send job.
    engine.follow(SEND_QUEUE, reports.followSend);

    const audit = new AuditLog({ store, clock, logger, retentionMs: config.audit.retentionMs });
    cleanups.push(() => audit.stop());
    const { sessionIdleMs: idleMs, sessionMaxAgeMs: maxAgeMs, loginLockMs, loginLinkTtlMs } = config.access;
    const accounts = new Accounts({
      store,
      clock,
      logger,
      secretKey: key.key,
      audit,
      sessions: { idleMs, maxAgeMs },
    });
    const signIn = new SignIn({
      accounts,
      mail: mailDeps,
      publicUrl: () => config.campaigns.publicUrl ?? listenUrl,
      policy: { ...DEFAULT_SIGN_IN_POLICY, lockMs: loginLockMs, linkTtlMs: loginLinkTtlMs },
    });

    const health = new HealthRegistry();
    registerHealthChecks(health, {
      store,
      engine,
      transports: transports.transports,
      catcher,
      clock,
      dependencies,
    });
    health.register('webhooks', () => webhooks.health());
    health.register('inbound', () => inbound.health());
    health.register('reports', () => reports.health());
    dependencies.watchHealth(health);
    dependencies.addProbes(async () => [
      databaseProbe(store),
      ...transports.transports.map(transportProbe),
      ...(await webhooks.probes()),
    ]);

    let shuttingDown = false;
    const routeParts: RouteParts = {
      ...{ config, store, clock, logger, metrics, guard, lookup: options.lookup, mailDeps, engine, webhooks },
      ...{ rules, inbound, reports, audiences, campaigns, catcher, audit, accounts, signIn },
      isShuttingDown: () => shuttingDown,
    };
    const http = await createHttpServer({
      logger,
      metrics,
      health,
      version,
      ...config.http,
      verifyKey: createKeyVerifier({ store, clock, logger }),
      isShuttingDown: () => shuttingDown,
      verifySession: createSessionVerifier(accounts),
      registerApiRoutes: (api) => registerApiRoutes(api, routeParts),
      registerPublicRoutes: (app) => registerPublicRoutes(app, routeParts),
    });
    cleanups.push(() => http.close());

    // Listen first: if the port is taken, fail before the engine has claimed (and sent) anything.
    const url = await listen(http, config);
    listenUrl = url;
    await webhooks.start();
    await engine.start();
    await inbound.start();
    reports.start();
    audit.start();
    await announceSetupLink(signIn, logger);
    cleanups.push(() => engine.stop(config.jobs.shutdownTimeoutMs));
    const heartbeat = startHeartbeat(clock, logger, engine, inbound);
    dependencies.start();
    logger.info(
      {
        event: 'facteur.started',
        url,
        version,
        database: store.location,
        transports: transports.transports.map((t) => t.name),
        ...(catcher ? { catcher: catcher.port } : {}),
      },
      `Facteur ${version} listening on ${url}`,
    );

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        shuttingDown = true;
        heartbeat.cancel();
        closeViewStreams();
        logger.info({ event: 'facteur.stopping' }, 'stopping: no new work, draining running jobs');
        await http.close(); // waits for requests in flight, so every 202 given is recorded
        await dependencies.stop();
        await inbound.stop(); // watchers first: no new mail is recorded while the engine drains
        await reports.stop(); // no new scheduled runs while the engine drains
        await audit.stop();
        await engine.stop(config.jobs.shutdownTimeoutMs);
        await webhooks.stop();
        rules.close();
        audiences.stop();
        transports.close();
        await catcher?.close();
        await store.close();
        logger.info({ event: 'facteur.stopped' }, 'stopped');
      })();
      return stopping;
    };
    return {
      config,
      store,
      engine,
      http,
      transport,
      transports: transports.transports,
      webhooks,
      inbound,
      reports,
      audiences,
      campaigns,
      accounts,
      signIn,
      audit,
      catcher,
      health,
      metrics,
      dependencies,
      url,
      stop,
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    throw error;
  }
}

/** While no user exists, logs a one-time link that creates the first admin (docs/dashboard.md). */
async function announceSetupLink(signIn: SignIn, logger: Logger): Promise<void> {
  const setup = await signIn.setupLink();
  if (!setup) return;
  logger.warn(
    { event: 'access.setup_link', url: setup.url, expiresAt: new Date(setup.expiresAt).toISOString() },
    `no user yet: open ${setup.url} to create the first admin (or run \`facteur user create --admin\`)`,
  );
}
