import type { LookupFunction } from 'node:net';
import type { Registry } from 'prom-client';
import { type Accounts, registerAuthRoutes, registerUserRoutes, type SignIn } from './access/index.js';
import { type AuditLog, installAuditHook, registerAuditRoutes } from './audit/index.js';
import {
  type Audiences,
  type Campaigns,
  registerBulkMailRoutes,
  registerUnsubscribeRoutes,
} from './campaigns/index.js';
import type { Clock } from './core/clock.js';
import type { BootConfig } from './core/config/index.js';
import type { Store } from './core/db/index.js';
import type { HttpApp } from './core/http/server.js';
import { type JobEngine, registerJobRoutes } from './core/jobs/index.js';
import type { TargetGuard } from './core/net/ssrf.js';
import type { Logger } from './core/observability/index.js';
import { registerDashboardRoutes } from './dashboard/index.js';
import { registerDoctorRoutes, smtpTarget } from './doctor/index.js';
import { type Inbound, registerInboundRoutes } from './inbound/index.js';
import {
  type MailCatcher,
  type MailDeps,
  registerCatcherRoutes,
  registerMessageRoutes,
} from './mail/index.js';
import { type Reports, registerReportRoutes } from './reports/index.js';
import { type RuleStore, registerRuleRoutes } from './rules/index.js';
import { registerStatsRoutes } from './stats/index.js';
import { registerWebhookRoutes, type Webhooks } from './webhooks/index.js';

/** Every feature's routes, registered by the composition root (main.ts) on the HTTP server. */
export interface RouteParts {
  config: BootConfig;
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  guard: TargetGuard;
  lookup: LookupFunction | undefined;
  mailDeps: MailDeps;
  engine: JobEngine;
  webhooks: Webhooks;
  rules: RuleStore;
  inbound: Inbound;
  reports: Reports;
  audiences: Audiences;
  campaigns: Campaigns;
  catcher: MailCatcher | undefined;
  audit: AuditLog;
  accounts: Accounts;
  signIn: SignIn;
  isShuttingDown: () => boolean;
}

/** The `/api/*` routes (behind authentication and the access policy). */
export function registerApiRoutes(api: HttpApp, parts: RouteParts): void {
  const { config, store, clock, logger, guard, metrics, webhooks, inbound, campaigns, catcher } = parts;
  installAuditHook(api, parts.audit);
  registerMessageRoutes(api, parts.mailDeps);
  registerJobRoutes(api, parts.engine);
  registerWebhookRoutes(api, webhooks, parts.isShuttingDown);
  registerRuleRoutes(api, {
    rules: parts.rules,
    unknownEndpoints: async (ids) => {
      const all = await webhooks.endpoints.all();
      return ids.filter((id) => !all.has(id));
    },
  });
  registerInboundRoutes(api, inbound, parts.isShuttingDown);
  registerReportRoutes(api, parts.reports);
  registerBulkMailRoutes(api, {
    audiences: parts.audiences,
    campaigns,
    clock,
    logger,
    guard,
    metrics,
    config,
    isShuttingDown: parts.isShuttingDown,
  });
  registerDoctorRoutes(api, {
    clock,
    guard,
    logger,
    ...(parts.lookup ? { lookup: parts.lookup } : {}),
    smtp: smtpTarget(config, catcher?.port),
    webhooks,
    inbound,
    live: true,
  });
  if (catcher) registerCatcherRoutes(api, { store });
  registerUserRoutes(api, { accounts: parts.accounts, keys: { store, clock, logger } });
  registerAuditRoutes(api, parts.audit);
  registerStatsRoutes(api, { store, clock });
}

/** The routes outside `/api`: unsubscribe links, dashboard sign-in, the dashboard, each in its own scope. */
export async function registerPublicRoutes(app: HttpApp, parts: RouteParts): Promise<void> {
  await app.register(async (scope) =>
    registerUnsubscribeRoutes(scope as unknown as HttpApp, parts.campaigns),
  );
  await app.register(async (scope) =>
    registerAuthRoutes(scope as unknown as HttpApp, { accounts: parts.accounts, signIn: parts.signIn }),
  );
  // The dashboard at / (index.html, /setup, /assets/*), in a scope of its own with its CSP.
  await registerDashboardRoutes(app);
}
