import type { FastifyReply, FastifyRequest } from 'fastify';
import { streamView } from '../core/http/sse.js';
import { campaignView } from './campaign-routes.js';
import { type CampaignRow, getCampaignRow } from './campaign-store.js';
import { Campaigns } from './campaigns.js';

/**
 * The progress stream of one campaign (core/http/sse.ts): a `progress` event with the view
 * whenever it changed, then `end` with the status once it is finished or cancelled.
 */
export function streamCampaignEvents(
  campaigns: Campaigns,
  first: CampaignRow,
  request: FastifyRequest,
  reply: FastifyReply,
  isShuttingDown: () => boolean,
): Promise<void> {
  let row: CampaignRow | undefined = first;
  return streamView(request, reply, {
    clock: campaigns.deps.clock,
    event: 'progress',
    isShuttingDown,
    read: async () => {
      row = row ?? (await getCampaignRow(campaigns.deps.store.db, first.id));
      const current = row;
      row = undefined;
      if (!current) return undefined;
      const view = campaignView(current, await campaigns.progress(current));
      return { view, end: Campaigns.isOver(current) ? { status: current.status } : undefined };
    },
  });
}
