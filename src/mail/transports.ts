import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { BootConfig, TransportConfig } from '../core/config/index.js';
import type { Store } from '../core/db/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { ObserveDependency } from '../core/observability/dependencies.js';
import type { Logger } from '../core/observability/index.js';
import { SendBudget } from './budget.js';
import { BudgetMetrics } from './budget-metrics.js';
import { MailCatcher } from './catcher.js';
import { TransportChain } from './failover.js';
import { MailgunTransport } from './providers/mailgun.js';
import { PostmarkTransport } from './providers/postmark.js';
import { SendgridTransport } from './providers/sendgrid.js';
import { SesTransport } from './providers/ses.js';
import { type MailTransport, SmtpTransport } from './transport.js';

/**
 * Builds the transports of FACTEUR_TRANSPORTS, in order. Provider requests use the SMTP
 * section's connect timeout for the connection and its send timeout for the whole request.
 */
export function buildTransports(
  configs: readonly TransportConfig[],
  smtp: BootConfig['smtp'],
  deps: {
    clock: Clock;
    logger: Logger;
    guard: TargetGuard;
    onCircuitClosed?: () => void;
    observe?: ObserveDependency;
  },
): MailTransport[] {
  const { guard, ...common } = deps;
  return configs.map((config): MailTransport => {
    if (config.kind === 'smtp')
      return new SmtpTransport({ ...smtp, name: config.name, server: config.server }, common);
    const http = {
      name: config.name,
      apiBase: config.apiBase,
      connectTimeoutMs: smtp.connectTimeoutMs,
      timeoutMs: smtp.sendTimeoutMs,
    };
    const providerDeps = { ...common, guard };
    switch (config.kind) {
      case 'postmark':
        return new PostmarkTransport(
          { ...http, serverToken: config.serverToken, messageStream: config.messageStream },
          providerDeps,
        );
      case 'sendgrid':
        return new SendgridTransport({ ...http, apiKey: config.apiKey }, providerDeps);
      case 'mailgun':
        return new MailgunTransport({ ...http, apiKey: config.apiKey, domain: config.domain }, providerDeps);
      default:
        return new SesTransport(
          {
            ...http,
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
            region: config.region,
          },
          providerDeps,
        );
    }
  });
}

/**
 * The transport that hands mail to the built-in catcher listening on `port` of this host:
 * plain SMTP on loopback, no TLS and no login. Named `catcher`.
 */
export function catcherTransport(port: number): TransportConfig {
  return {
    kind: 'smtp',
    name: 'catcher',
    server: {
      host: '127.0.0.1',
      port,
      secure: false,
      requireTls: false,
      ignoreTls: true,
      tlsVerify: true,
      user: undefined,
      password: undefined,
    },
  };
}

/**
 * The rate budgets of the transports that configure one (`?rate=&hourly=&daily=`), by name.
 * Every instance on the same database shares each budget's row.
 */
export function buildBudgets(
  configs: readonly TransportConfig[],
  deps: { store: Store; clock: Clock; logger: Logger; metrics: Registry },
): Map<string, SendBudget> {
  const metrics = new BudgetMetrics(deps.metrics);
  const budgets = new Map<string, SendBudget>();
  for (const config of configs) {
    if (config.budget)
      budgets.set(config.name, new SendBudget(config.name, config.budget, { ...deps, metrics }));
  }
  return budgets;
}

/**
 * The send path's transports: those of FACTEUR_TRANSPORTS as a chain, with their rate budgets,
 * or, when none is configured, the built-in catcher (started here) behind one SMTP transport
 * named `catcher`.
 */
export async function openTransports(deps: {
  config: BootConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  guard: TargetGuard;
  metrics: Registry;
  onCircuitClosed?: () => void;
  observe?: ObserveDependency;
}): Promise<{ chain: TransportChain; catcher: MailCatcher | undefined }> {
  const { config, store, clock, logger, metrics, ...transportDeps } = deps;
  let catcher: MailCatcher | undefined;
  let configs = config.transports;
  if (configs.length === 0) {
    catcher = new MailCatcher({ store, clock, logger, retain: config.catcher.retain });
    await catcher.start(config.catcher.port);
    configs = [catcherTransport(catcher.port)];
  }
  const transports = buildTransports(configs, config.smtp, { clock, logger, ...transportDeps });
  const budgets = buildBudgets(configs, { store, clock, logger, metrics });
  return { chain: new TransportChain(transports, { logger, metrics, budgets }), catcher };
}
