import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import {
  bringJobsForward,
  enqueueJob,
  type Job,
  JobDeferral,
  type QueueDefinition,
  type Settlement,
} from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import {
  type BulkMessage,
  type MailDeps,
  newMessageIdHeader,
  recordMessages,
  type SendJobResult,
} from '../mail/index.js';
import type { MessageAttachment } from '../mail/transport.js';
import { type CampaignContent, renderFor, templateContext } from './campaign-model.js';
import {
  type CampaignRow,
  getCampaignRow,
  hasUnsettled,
  inFlightCount,
  lastChange,
  type RecipientRow,
  recipientByMessage,
  recipientsInState,
  takeRecipients,
  updateCampaign,
  updateRecipient,
} from './campaign-store.js';
import { isSuppressed } from './store.js';

/**
 * The dispatcher hands a running campaign's ledger to the outbox in windows, and the ledger
 * follows each message's send job. One send path: every recipient becomes an outbox message
 * with its own `mail.send` job (bulk priority, below transactional mail), written in the same
 * transaction that moves its row from `queued` to `sending`, so a crash at any point loses no
 * recipient and hands none over twice. At most `window` rows are in flight (handed over, not
 * settled): pausing or cancelling takes effect within that many messages, and after a `kill -9`
 * only the sends that were running can be repeated.
 */

export const DISPATCH_QUEUE = 'campaign.dispatch';
/** Send jobs of campaign messages: below transactional mail (priority 0). */
export const BULK_PRIORITY = -1;
/** Rows handed over per transaction. */
const BATCH = 200;
/** Rows handed over per run before the job yields to others. */
const PER_RUN = 5000;
/** How often a dispatcher with a full window or rows in flight looks again. */
const TICK_MS = 250;

/** Payload of a dispatch job. */
export interface DispatchPayload {
  campaignId: string;
}

/** What the dispatcher and the ledger need. */
export interface DispatchDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  mail: Pick<MailDeps, 'retryScheduleMs' | 'defaultFrom'>;
  /** Rows in flight at most, per campaign. */
  window: number;
  /** The signed unsubscribe URL of one ledger row. */
  unsubscribeUrl(campaignId: string, seq: number): string;
  /** A campaign ended (finished) or stalled: its event and owner email, in the caller's transaction. */
  onEnded(tx: Tx, campaign: CampaignRow, ending: 'finished' | 'stalled', now: number): Promise<void>;
  /** Rows in flight unchanged for this long make a running campaign `stalled` (one event). */
  stallAfterMs: number;
}

/** The concurrency key of a campaign's dispatch and send jobs. */
export function campaignKey(campaignId: string): string {
  return `campaign:${campaignId}`;
}

/** Enqueues a campaign's dispatcher, due at `runAt` (its start time for a scheduled one). */
export async function enqueueDispatch(tx: Tx, campaignId: string, now: number, runAt: number): Promise<void> {
  await enqueueJob<DispatchPayload>(
    tx,
    {
      queue: DISPATCH_QUEUE,
      payload: { campaignId },
      maxAttempts: 1000,
      concurrencyKey: campaignKey(campaignId),
      runAt,
    },
    now,
  );
}

/** The `campaign.dispatch` queue. */
export function dispatchQueue(deps: DispatchDeps): QueueDefinition<DispatchPayload> {
  return {
    name: DISPATCH_QUEUE,
    concurrency: 4,
    keyConcurrency: 1,
    retry: { kind: 'exponential', initialDelayMs: 1000, maxDelayMs: 60_000 },
    handle: (job) => dispatch(deps, job),
  };
}

async function dispatch(deps: DispatchDeps, job: Job<DispatchPayload>): Promise<unknown> {
  const { store, clock } = deps;
  const id = job.payload.campaignId;
  let handed = 0;
  for (;;) {
    let campaign = await getCampaignRow(store.db, id);
    if (campaign?.status === 'scheduled' && Number(campaign.start_at) <= clock.now()) {
      const now = clock.now();
      await store.transaction((tx) =>
        updateCampaign(tx, id, { status: 'running', started_at: now }, now, ['scheduled']),
      );
      campaign = await getCampaignRow(store.db, id);
    }
    if (campaign?.status !== 'running') return { handed, status: campaign?.status ?? 'deleted' };
    const inFlight = await inFlightCount(store.db, id);
    const room = deps.window - inFlight;
    const rows =
      room > 0
        ? await recipientsInState(store.db, id, { state: 'queued', limit: Math.min(room, BATCH) })
        : [];
    if (rows.length === 0) {
      if (room > 0 && inFlight === 0) {
        await store.transaction((tx) => finishIfSettled(deps, tx, id, clock.now()));
        return { handed, status: 'settled' };
      }
      await checkStall(deps, campaign, clock.now());
      // Brought forward by the ledger (followCampaignSend) once half the window has settled.
      throw new JobDeferral(
        clock.now() + TICK_MS,
        'the in-flight window is full',
        new AppError('CAMPAIGN_WINDOW_FULL', `${inFlight} messages in flight (window ${deps.window})`),
      );
    }
    handed += await handOver(deps, campaign, rows);
    if (handed >= PER_RUN) throw new JobDeferral(clock.now(), `handed ${handed} recipients over; yielding`);
  }
}

/**
 * Hands rows to the outbox in one transaction: the rows still `queued` become `sending` with
 * their messages and send jobs, a few statements for the whole batch; a suppressed address is
 * `skipped`, a template that fails for this recipient makes the row `failed`. Returns how many
 * rows it moved.
 */
async function handOver(deps: DispatchDeps, campaign: CampaignRow, rows: RecipientRow[]): Promise<number> {
  const { store, clock } = deps;
  const content = JSON.parse(campaign.content) as CampaignContent;
  const suppressed = await isSuppressed(
    store.db,
    rows.map((r) => r.address_key),
  );
  const from = content.from ?? deps.mail.defaultFrom;
  const skips: Array<{
    seq: number;
    patch: { state: 'skipped' | 'failed'; reason: string; detail: string };
  }> = [];
  const messages: Array<BulkMessage & { seq: number }> = [];
  for (const row of rows) {
    const seq = Number(row.seq);
    const suppression = suppressed.get(row.address_key);
    if (suppression) {
      const detail = `${suppression.reason} (${suppression.source})`;
      skips.push({ seq, patch: { state: 'skipped', reason: 'suppressed', detail } });
      continue;
    }
    const unsubscribeUrl = deps.unsubscribeUrl(campaign.id, seq);
    const recipient = {
      address: row.address,
      name: row.name,
      fields: JSON.parse(row.fields) as Record<string, string | number | boolean | null>,
    };
    let rendered: ReturnType<typeof renderFor>;
    try {
      rendered = renderFor(content, templateContext(recipient, campaign, unsubscribeUrl));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      skips.push({ seq, patch: { state: 'failed', reason: 'TEMPLATE_FAILED', detail } });
      continue;
    }
    messages.push({
      seq,
      id: uuidv7(),
      input: {
        to: [row.address],
        subject: rendered.subject,
        ...(rendered.html !== undefined ? { html: rendered.html } : {}),
        ...(rendered.text !== undefined ? { text: rendered.text } : {}),
        ...(content.replyTo ? { replyTo: content.replyTo } : {}),
        headers: {
          ...content.headers,
          'List-Unsubscribe': `<${unsubscribeUrl}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          Precedence: 'bulk',
          'X-Facteur-Campaign': campaign.id,
        },
      },
      from,
      hash: campaign.id,
      ...(content.attachments ? { attachments: content.attachments as MessageAttachment[] } : {}),
    });
  }
  return store.transaction(async (tx) => {
    const now = clock.now();
    let moved = 0;
    for (const skip of skips)
      if (await updateRecipient(tx, campaign.id, skip.seq, skip.patch, now, ['queued'])) moved += 1;
    // Conditional: another instance's dispatcher may have taken some rows meanwhile.
    const taken = await takeRecipients(
      tx,
      campaign.id,
      messages.map((m) => ({
        seq: m.seq,
        messageId: m.id,
        header: newMessageIdHeader(m.id, m.from).replace(/^<|>$/g, ''),
      })),
      now,
    );
    await recordMessages(
      tx,
      deps.mail,
      messages.filter((m) => taken.has(m.seq)),
      { source: 'campaign' },
      { priority: BULK_PRIORITY, concurrencyKey: campaignKey(campaign.id) },
      now,
    );
    return moved + taken.size;
  });
}

/** Ends a running campaign whose every row is final. */
export async function finishIfSettled(
  deps: DispatchDeps,
  tx: Tx,
  campaignId: string,
  now: number,
): Promise<void> {
  if (await hasUnsettled(tx.db, campaignId)) return;
  if (!(await updateCampaign(tx, campaignId, { status: 'finished', finished_at: now }, now, ['running'])))
    return;
  settledSinceWake.delete(campaignId);
  const campaign = await getCampaignRow(tx.db, campaignId);
  if (campaign) await deps.onEnded(tx, campaign, 'finished', now);
  deps.logger.info({ event: 'campaign.finished', campaignId }, 'campaign finished');
}

/** Raises one `stalled` event when no row in flight has changed for `stallAfterMs`. */
async function checkStall(deps: DispatchDeps, campaign: CampaignRow, now: number): Promise<void> {
  if (campaign.stalled_at !== null && Number(campaign.stalled_at) >= Number(campaign.updated_at)) return;
  const last = Math.max(await lastChange(deps.store.db, campaign.id), Number(campaign.started_at ?? 0));
  if (now - last < deps.stallAfterMs) return;
  await deps.store.transaction(async (tx) => {
    // `updated_at` moves with the stall mark: a later stall (after progress) raises again.
    if (!(await updateCampaign(tx, campaign.id, { stalled_at: now + 1 }, now, ['running']))) return;
    await deps.onEnded(tx, campaign, 'stalled', now);
  });
  deps.logger.warn({ event: 'campaign.stalled', campaignId: campaign.id }, 'campaign stalled');
}

/**
 * The ledger follows each campaign message's send job, in that job's settlement transaction:
 * sent, deferred (a retry is scheduled) or failed, with the server's reply; the campaign is
 * finished when its last row is final.
 */
export async function followCampaignSend(
  deps: DispatchDeps,
  tx: Tx,
  job: Job<{ messageId: string; source?: string }>,
  settlement: Settlement,
): Promise<void> {
  if (job.payload.source !== 'campaign') return;
  const row = await recipientByMessage(tx.db, job.payload.messageId);
  if (!row) return;
  const now = deps.clock.now();
  const open = ['sending', 'deferred'] as const;
  if (settlement.status === 'succeeded') {
    const result = (settlement.result ?? {}) as SendJobResult;
    await updateRecipient(
      tx,
      row.campaign_id,
      row.seq,
      {
        state: 'sent',
        reason: null,
        detail: result.smtpResponse ?? null,
        smtp_code: result.smtpCode ?? null,
        transport: result.transport ?? row.transport,
        provider_message_id: result.providerMessageId ?? null,
        attempts: job.attempts,
        settled_at: now,
      },
      now,
      open,
    );
  } else {
    const error = settlement.error;
    const details = (error?.details ?? {}) as { smtpCode?: number | null; smtpResponse?: string | null };
    const final = settlement.status === 'failed' || settlement.status === 'dead';
    if (!final && settlement.deferred) {
      // Waiting without spending an attempt (breaker open, rate budget): still `sending`, with why.
      if (error) await updateRecipient(tx, row.campaign_id, row.seq, { detail: error.message }, now, open);
      return;
    }
    await updateRecipient(
      tx,
      row.campaign_id,
      row.seq,
      {
        state: final ? 'failed' : 'deferred',
        reason: error?.code ?? null,
        detail: details.smtpResponse ?? error?.message ?? null,
        smtp_code: details.smtpCode ?? null,
        attempts: job.attempts,
        ...(final ? { settled_at: now } : {}),
      },
      now,
      open,
    );
    if (!final) {
      await wakeDispatcher(deps, tx, row.campaign_id, now);
      return;
    }
  }
  await wakeDispatcher(deps, tx, row.campaign_id, now);
  await finishIfSettled(deps, tx, row.campaign_id, now);
}

/** Rows settled here since this process last woke each campaign's dispatcher. */
const settledSinceWake = new Map<string, number>();

/**
 * Brings a waiting dispatcher forward once half its window has settled (counted in this
 * process; the dispatcher's own tick covers what other instances settle), so that a campaign's
 * rate is never bounded by the window divided by the tick, and the dispatcher does not run for
 * every single message either.
 */
async function wakeDispatcher(deps: DispatchDeps, tx: Tx, campaignId: string, now: number): Promise<void> {
  const settled = (settledSinceWake.get(campaignId) ?? 0) + 1;
  if (settled < Math.max(1, Math.floor(deps.window / 2))) {
    settledSinceWake.set(campaignId, settled);
    return;
  }
  settledSinceWake.delete(campaignId);
  await bringJobsForward(
    tx,
    { queue: DISPATCH_QUEUE, key: campaignKey(campaignId), codes: ['CAMPAIGN_WINDOW_FULL'] },
    now,
  );
}
