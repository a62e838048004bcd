import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import type { Logger } from '../core/observability/index.js';
import { recipientsForFeedback, updateRecipient } from './campaign-store.js';
import type { Feedback } from './feedback-model.js';
import { addressKey, normaliseAddress, type SuppressionReason } from './model.js';
import { addSuppression } from './store.js';

/**
 * Applies feedback (bounces, complaints, unsubscribes) from every source the same way: the
 * ledger row of the message it names becomes `bounced` for a hard bounce, and the address goes
 * on the suppression list (hard bounce, complaint, unsubscribe) at once, so later campaigns skip
 * it with the reason. A soft bounce is noted on the row and suppresses nothing.
 */

const SUPPRESSES: Partial<Record<Feedback['kind'], SuppressionReason>> = {
  hard_bounce: 'hard_bounce',
  complaint: 'complaint',
  unsubscribe: 'unsubscribed',
};

/** What applying a batch did. */
export interface FeedbackResult {
  /** Items that changed a ledger row or the suppression list. */
  applied: number;
  /** Ledger rows moved to `bounced`. */
  bounced: number;
  /** Addresses newly on the suppression list. */
  suppressed: number;
}

function detailOf(item: Feedback): string {
  return [item.status, item.diagnostic].filter(Boolean).join(' ').slice(0, 1000) || item.kind;
}

/** Applies one item in the caller's transaction. */
export async function applyFeedbackIn(tx: Tx, item: Feedback, now: number): Promise<FeedbackResult> {
  const result: FeedbackResult = { applied: 0, bounced: 0, suppressed: 0 };
  const rows = await recipientsForFeedback(tx.db, {
    ...(item.messageIdHeader ? { messageIdHeader: item.messageIdHeader.replace(/^<|>$/g, '') } : {}),
    ...(item.providerMessageId ? { providerMessageId: item.providerMessageId } : {}),
  });
  // A redacted report (no address) names its recipient through the message alone.
  const address = item.address ?? (rows.length === 1 ? rows[0]?.address : undefined);
  if (address === undefined) return result;
  const key = addressKey(address);
  // A message has one recipient; a DSN for another address of the same message names nobody here.
  for (const row of rows.filter((r) => r.address_key === key || rows.length === 1)) {
    const patch =
      item.kind === 'hard_bounce'
        ? { state: 'bounced', reason: item.status ?? 'hard_bounce', detail: detailOf(item) }
        : { detail: `${item.kind}: ${detailOf(item)}` };
    const moved = await updateRecipient(tx, row.campaign_id, row.seq, patch, now, [
      'sending',
      'deferred',
      'sent',
      'failed',
    ]);
    if (moved) result.applied = 1;
    if (moved && item.kind === 'hard_bounce') result.bounced += 1;
  }
  const reason = SUPPRESSES[item.kind];
  const normalised = normaliseAddress(address);
  if (reason && !('problem' in normalised)) {
    const added = await addSuppression(
      tx.db,
      { key, address: normalised.address, reason, source: item.source, detail: detailOf(item) },
      now,
    );
    if (added.created) {
      result.suppressed += 1;
      result.applied = 1;
    }
  }
  return result;
}

/** Applies a batch, one transaction; used by the bounce mailbox, the providers' webhooks and unsubscribe. */
export async function applyFeedback(
  deps: { store: Store; clock: Clock; logger: Logger },
  items: readonly Feedback[],
): Promise<FeedbackResult> {
  const total: FeedbackResult = { applied: 0, bounced: 0, suppressed: 0 };
  if (items.length === 0) return total;
  await deps.store.transaction(async (tx) => {
    const now = deps.clock.now();
    for (const item of items) {
      const one = await applyFeedbackIn(tx, item, now);
      total.applied += one.applied;
      total.bounced += one.bounced;
      total.suppressed += one.suppressed;
    }
  });
  deps.logger.info({ event: 'campaign.feedback', items: items.length, ...total }, 'feedback applied');
  return total;
}
