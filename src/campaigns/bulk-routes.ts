import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { BootConfig } from '../core/config/index.js';
import type { HttpApp } from '../core/http/server.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Logger } from '../core/observability/index.js';
import { registerCampaignRoutes } from './campaign-routes.js';
import type { Campaigns } from './campaigns.js';
import { registerFeedbackRoutes } from './provider-feedback/index.js';
import { registerAudienceRoutes } from './routes.js';
import type { Audiences } from './service.js';

/** Every `/api` route of bulk mail: audiences, campaigns and the providers' bounce webhooks. */
export function registerBulkMailRoutes(
  api: HttpApp,
  deps: {
    audiences: Audiences;
    campaigns: Campaigns;
    clock: Clock;
    logger: Logger;
    guard: TargetGuard;
    metrics: Registry;
    config: BootConfig;
    isShuttingDown: () => boolean;
  },
): void {
  const { campaigns } = deps;
  registerAudienceRoutes(api, deps.audiences);
  registerCampaignRoutes(api, campaigns, { isShuttingDown: deps.isShuttingDown });
  // The providers' bounce and complaint webhooks, each checked the provider's way.
  registerFeedbackRoutes(api, {
    apply: (items) => campaigns.applyFeedback(items),
    clock: deps.clock,
    logger: deps.logger,
    guard: deps.guard,
    metrics: deps.metrics,
    config: deps.config.feedback,
  });
}
