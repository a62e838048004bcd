import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { type Job, oneByOne, type Settlement } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import { acceptMessage, type MailDeps, recordMessage } from '../mail/index.js';
import { createCampaign } from './campaign-create.js';
import { type CampaignPatch, editCampaign } from './campaign-edit.js';
import { registerCampaignMetrics } from './campaign-metrics.js';
import {
  type CampaignContent,
  type CampaignInput,
  type CampaignStatus,
  type Progress,
  progressOf,
  type RenderedMessage,
  renderFor,
  templateContext,
} from './campaign-model.js';
import {
  type CampaignRow,
  getCampaignRow,
  getRecipient,
  moveRecipients,
  recipientByKey,
  recipientsInState,
  settledSince,
  stateCounts,
  updateCampaign,
} from './campaign-store.js';
import { type DispatchDeps, dispatchQueue, enqueueDispatch, followCampaignSend } from './dispatch.js';
import { applyFeedback, type FeedbackResult } from './feedback.js';
import type { Feedback } from './feedback-model.js';
import type { ListRegistry } from './lists.js';
import { addressKey } from './model.js';
import { signUnsubscribe, unsubscribeKey, verifyUnsubscribe } from './unsubscribe-token.js';

/** Dependencies of campaigns. */
export interface CampaignsDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  mail: MailDeps;
  lists: ListRegistry;
  secretKey: Buffer;
  /** The base URL recipients reach Facteur at (unsubscribe links); read when a link is made. */
  publicUrl: () => string;
  /** Rows in flight at most per campaign. */
  window: number;
  stallAfterMs: number;
  /** Where the per-campaign metrics are registered (the server's registry; none in the CLI). */
  metrics?: Registry;
  /** Publishes a Facteur event (`facteur.campaign.*`) to subscribed endpoints, in the caller's transaction. */
  publish(tx: Tx, type: string, data: Record<string, unknown>, now: number): Promise<void>;
}

/** What a create answered. */
export interface CreatedCampaign {
  campaign: CampaignRow;
  created: boolean;
  /** Recipients given (list + inline), written, and left out as duplicates. */
  recipients: { given: number; written: number; duplicates: number };
}

/** Where a campaign came from. */
export interface CampaignOrigin {
  source: 'api' | 'cli';
  apiKeyId?: string;
}

const FINAL_CAMPAIGN: ReadonlySet<CampaignStatus> = new Set(['cancelled', 'finished']);
const RATE_WINDOW_MS = 60_000;

/** Campaigns: create, start, pause, resume, cancel, retry the failed rows, progress, feedback. */
export class Campaigns {
  readonly dispatch: DispatchDeps;
  private readonly linkKey: Buffer;

  constructor(readonly deps: CampaignsDeps) {
    this.linkKey = unsubscribeKey(deps.secretKey);
    if (deps.metrics) registerCampaignMetrics(deps.metrics, deps.store.db);
    this.dispatch = {
      store: deps.store,
      clock: deps.clock,
      logger: deps.logger,
      mail: deps.mail,
      window: deps.window,
      stallAfterMs: deps.stallAfterMs,
      unsubscribeUrl: (campaignId, seq) =>
        `${deps.publicUrl().replace(/\/+$/, '')}/u/${signUnsubscribe(this.linkKey, campaignId, seq)}`,
      onEnded: (tx, campaign, ending, now) => this.onEnded(tx, campaign, ending, now),
    };
  }

  /** The dispatch queue, for the engine. */
  queues() {
    return [dispatchQueue(this.dispatch)];
  }

  /** Follows campaign messages' send jobs (register with `engine.follow(SEND_QUEUE, ...)`). */
  readonly followSend = oneByOne(
    (tx: Tx, job: Job<{ messageId: string; source?: string }>, settlement: Settlement) =>
      followCampaignSend(this.dispatch, tx, job, settlement),
  );

  /** Creates a campaign with its ledger in one transaction; starts it when asked. */
  create(input: CampaignInput, origin: CampaignOrigin): Promise<CreatedCampaign> {
    return createCampaign(this.deps, input, origin);
  }

  /** Edits a draft or scheduled campaign (content, name, owner, start); else CAMPAIGN_NOT_EDITABLE. */
  edit(id: string, patch: CampaignPatch): Promise<CampaignRow> {
    return editCampaign(this.deps, id, patch);
  }

  /** One campaign, or NOT_FOUND. */
  async load(id: string): Promise<CampaignRow> {
    const row = await getCampaignRow(this.deps.store.db, id);
    if (!row) throw new AppError('NOT_FOUND', `no campaign with id ${id}`);
    return row;
  }

  /** Counts per state, rate and ETA. */
  async progress(row: CampaignRow): Promise<Progress> {
    const db = this.deps.store.db;
    const now = this.deps.clock.now();
    const [counts, recent] = await Promise.all([
      stateCounts(db, row.id),
      settledSince(db, row.id, now - RATE_WINDOW_MS),
    ]);
    return progressOf(Number(row.total), counts, recent, RATE_WINDOW_MS, row.status === 'running');
  }

  /**
   * Changes the status: `start` (a draft or scheduled one, now), `pause`, `resume`, `cancel`.
   * Answers the campaign as it now is; a change that does not apply to its status is CAMPAIGN_STATE.
   */
  async transition(id: string, action: 'start' | 'pause' | 'resume' | 'cancel'): Promise<CampaignRow> {
    const { store, clock } = this.deps;
    const before = await this.load(id);
    const allowed: Record<typeof action, CampaignStatus[]> = {
      start: ['draft', 'scheduled'],
      pause: ['running', 'scheduled'],
      resume: ['paused'],
      cancel: ['draft', 'scheduled', 'running', 'paused'],
    };
    const changed = await store.transaction(async (tx) => {
      const now = clock.now();
      if (action === 'cancel') {
        if (!(await updateCampaign(tx, id, { status: 'cancelled', finished_at: now }, now, allowed.cancel)))
          return false;
        await moveRecipients(tx, id, ['queued'], { state: 'skipped', reason: 'cancelled' }, now);
        const row = await getCampaignRow(tx.db, id);
        if (row) await this.onEnded(tx, row, 'cancelled', now);
        return true;
      }
      const status: CampaignStatus = action === 'pause' ? 'paused' : 'running';
      const patch =
        status === 'running' && before.started_at === null ? { status, started_at: now } : { status };
      if (!(await updateCampaign(tx, id, patch, now, allowed[action]))) return false;
      if (status === 'running') await enqueueDispatch(tx, id, now, now);
      return true;
    });
    if (!changed) {
      const current = await this.load(id);
      throw new AppError('CAMPAIGN_STATE', `cannot ${action} a campaign that is ${current.status}`, {
        details: { status: current.status, allowedFrom: allowed[action] },
      });
    }
    this.deps.logger.info({ event: `campaign.${action}`, campaignId: id }, `campaign ${action}`);
    return this.load(id);
  }

  /** Queues the failed rows again (a new message each); the campaign runs again until they are final. */
  async retryFailed(id: string): Promise<{ campaign: CampaignRow; requeued: number }> {
    const { store, clock } = this.deps;
    const before = await this.load(id);
    if (before.status === 'cancelled' || before.status === 'draft')
      throw new AppError(
        'CAMPAIGN_STATE',
        `cannot retry the failed rows of a campaign that is ${before.status}`,
        {
          details: { status: before.status, allowedFrom: ['scheduled', 'running', 'paused', 'finished'] },
        },
      );
    const requeued = await store.transaction(async (tx) => {
      const now = clock.now();
      const moved = await moveRecipients(
        tx,
        id,
        ['failed'],
        {
          state: 'queued',
          reason: null,
          detail: null,
          smtp_code: null,
          message_id: null,
          message_id_header: null,
          settled_at: null,
        },
        now,
      );
      if (moved === 0) return 0;
      if (
        await updateCampaign(tx, id, { status: 'running', finished_at: null }, now, ['finished', 'running'])
      )
        await enqueueDispatch(tx, id, now, now);
      return moved;
    });
    return { campaign: await this.load(id), requeued };
  }

  /** Renders the campaign for one of its recipients (by address) or the first one. */
  async preview(id: string, address?: string): Promise<RenderedMessage & { to: string; from: string }> {
    const row = await this.load(id);
    const db = this.deps.store.db;
    let recipient = (await recipientsInState(db, id, { limit: 1 }))[0];
    if (address !== undefined) {
      recipient = await recipientByKey(db, id, addressKey(address));
      if (!recipient) throw new AppError('NOT_FOUND', `${address} is not a recipient of campaign ${id}`);
    }
    if (!recipient) throw new AppError('NOT_FOUND', `campaign ${id} has no recipients`);
    const content = JSON.parse(row.content) as CampaignContent;
    const context = templateContext(
      { address: recipient.address, name: recipient.name, fields: JSON.parse(recipient.fields) },
      row,
      this.dispatch.unsubscribeUrl(id, recipient.seq),
    );
    try {
      return {
        to: recipient.address,
        from: content.from ?? this.deps.mail.defaultFrom,
        ...renderFor(content, context),
      };
    } catch (error) {
      throw new AppError(
        'VALIDATION_FAILED',
        `the template fails for ${recipient.address}: ${String((error as Error).message)}`,
        {
          details: [
            {
              in: 'body',
              field: String((error as Error).message).split(':')[0] ?? 'template',
              message: (error as Error).message,
            },
          ],
        },
      );
    }
  }

  /** Sends the campaign, rendered for one recipient (or the first), to `to` only, through the outbox. */
  async test(id: string, to: string, as?: string): Promise<{ messageId: string }> {
    const preview = await this.preview(id, as);
    const row = await this.load(id);
    const content = JSON.parse(row.content) as CampaignContent;
    const accepted = await acceptMessage(
      this.deps.mail,
      {
        to: [to],
        from: preview.from,
        subject: `[test] ${preview.subject}`,
        ...(preview.html !== undefined ? { html: preview.html } : {}),
        ...(preview.text !== undefined ? { text: preview.text } : {}),
        ...(content.replyTo ? { replyTo: content.replyTo } : {}),
        headers: { 'X-Facteur-Campaign-Test': id },
      },
      { source: 'api' },
    );
    return { messageId: accepted.id };
  }

  /** Applies feedback from any source (bounce mailbox, providers' webhooks). */
  applyFeedback(items: readonly Feedback[]): Promise<FeedbackResult> {
    return applyFeedback(this.deps, items);
  }

  /** The ledger row a signed unsubscribe token names, or null when the token is not valid. */
  async unsubscribeTarget(token: string): Promise<{ campaign: CampaignRow; address: string } | null> {
    const named = verifyUnsubscribe(this.linkKey, token);
    if (!named) return null;
    const [campaign, row] = await Promise.all([
      getCampaignRow(this.deps.store.db, named.campaignId),
      getRecipient(this.deps.store.db, named.campaignId, named.seq),
    ]);
    return campaign && row ? { campaign, address: row.address } : null;
  }

  /** Records a one-click unsubscribe: the address goes on the suppression list at once. */
  async unsubscribe(token: string): Promise<{ address: string } | null> {
    const target = await this.unsubscribeTarget(token);
    if (!target) return null;
    await this.applyFeedback([
      {
        kind: 'unsubscribe',
        address: target.address,
        source: 'unsubscribe',
        diagnostic: `campaign ${target.campaign.name}`,
      },
    ]);
    return { address: target.address };
  }

  /** A campaign finished, stalled or was cancelled: its event and the owner's email with the counts. */
  private async onEnded(
    tx: Tx,
    campaign: CampaignRow,
    ending: 'finished' | 'stalled' | 'cancelled',
    now: number,
  ): Promise<void> {
    const counts = await stateCounts(tx.db, campaign.id);
    const data = {
      campaignId: campaign.id,
      name: campaign.name,
      status: ending,
      total: Number(campaign.total),
      counts,
    };
    await this.deps.publish(tx, `facteur.campaign.${ending}`, data, now);
    if (!campaign.owner_email) return;
    const lines = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) => `${state}: ${n}`)
      .join('\n');
    await recordMessage(tx, this.deps.mail, {
      id: uuidv7(),
      input: {
        to: [campaign.owner_email],
        subject: `[Facteur] Campaign ${campaign.name} ${ending}`,
        text: `Campaign ${campaign.name} (${campaign.id}) ${ending}.\n\n${lines}\n\nWho did not get it: GET /api/campaigns/${campaign.id}/recipients?state=failed\n`,
      },
      from: this.deps.mail.defaultFrom,
      hash: `${campaign.id}:${ending}`,
      origin: { source: 'alert' },
      now,
    });
  }

  /** Whether a campaign is over (its stream ends). */
  static isOver(row: CampaignRow): boolean {
    return FINAL_CAMPAIGN.has(row.status as CampaignStatus);
  }
}
