import type { FastifyReply, FastifyRequest } from 'fastify';
import { campaignView } from './campaign-routes.js';
import { type CampaignRow, getCampaignRow } from './campaign-store.js';
import { Campaigns } from './campaigns.js';

/**
 * The progress stream of one campaign (Server-Sent Events): a `progress` event with the view
 * whenever it changed, looked at every second on the injected clock, a comment every 15 s to
 * keep proxies from closing the connection, and `end` once the campaign is finished or
 * cancelled. Reads the database, so it shows the work of every instance.
 */

const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

/** Open streams, closed at shutdown before the HTTP server waits for its requests. */
const open = new Set<() => void>();

/** Ends every open stream (at shutdown). */
export function closeCampaignStreams(): void {
  for (const close of [...open]) close();
}

export async function streamCampaignEvents(
  campaigns: Campaigns,
  first: CampaignRow,
  request: FastifyRequest,
  reply: FastifyReply,
  isShuttingDown: () => boolean,
): Promise<void> {
  const { clock } = campaigns.deps;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let last = '';
  let lastWrite = clock.now();
  let closed = false;
  let timer: { cancel(): void } | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    timer?.cancel();
    open.delete(close);
    raw.end();
  };
  open.add(close);
  request.raw.on('close', close);
  const send = (event: string, data: unknown) => {
    raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    lastWrite = clock.now();
  };
  const look = async (row: CampaignRow | undefined) => {
    if (closed) return;
    if (!row) {
      send('end', { reason: 'deleted' });
      return close();
    }
    const view = campaignView(row, await campaigns.progress(row));
    const text = JSON.stringify(view);
    if (text !== last) {
      last = text;
      send('progress', view);
    } else if (clock.now() - lastWrite >= HEARTBEAT_MS) {
      raw.write(': keep-alive\n\n');
      lastWrite = clock.now();
    }
    if (Campaigns.isOver(row) || isShuttingDown()) {
      send('end', { status: row.status });
      return close();
    }
    timer = clock.setTimer(POLL_MS, () => {
      getCampaignRow(campaigns.deps.store.db, first.id)
        .then(look)
        .catch(() => close());
    });
  };
  await look(first);
}
