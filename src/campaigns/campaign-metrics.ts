import type { Kysely } from 'kysely';
import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../core/db/index.js';
import { RECIPIENT_STATES } from './campaign-model.js';
import { campaignStatusCounts, listCampaignRows, stateCounts } from './campaign-store.js';

/**
 * Metrics per campaign, read from the database at each scrape (so they are every instance's):
 * `facteur_campaign_recipients{campaign, name, state}` for the campaigns that are running,
 * paused or scheduled (at most 50, the newest), and `facteur_campaigns{status}` for all.
 * Finished campaigns leave the per-campaign series, so their number stays bounded.
 */
export function registerCampaignMetrics(metrics: Registry, db: Kysely<Database>): void {
  if (metrics.getSingleMetric('facteur_campaign_recipients')) return;
  new Gauge({
    name: 'facteur_campaign_recipients',
    help: 'Recipients of each running, paused or scheduled campaign, by ledger state.',
    labelNames: ['campaign', 'name', 'state'],
    registers: [metrics],
    async collect() {
      this.reset();
      for (const status of ['running', 'paused', 'scheduled'] as const) {
        for (const row of await listCampaignRows(db, { status, limit: 50 })) {
          const counts = await stateCounts(db, row.id);
          for (const state of RECIPIENT_STATES)
            this.set({ campaign: row.id, name: row.name, state }, counts[state]);
        }
      }
    },
  });
  new Gauge({
    name: 'facteur_campaigns',
    help: 'Campaigns by status.',
    labelNames: ['status'],
    registers: [metrics],
    async collect() {
      this.reset();
      for (const [status, n] of await campaignStatusCounts(db)) this.set({ status }, n);
    },
  });
}
