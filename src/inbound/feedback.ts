import type { Feedback } from '../campaigns/index.js';
import type { Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { senderAllowed } from '../rules/index.js';
import { ACK_READY_CHANNEL, type LedgerState } from './ledger.js';
import type { Mailbox } from './mailboxes.js';
import { type LedgerRow, lockLedgerState, saveRouting } from './store.js';

/**
 * What the route job does with a message of a bounce mailbox (`purpose: "bounces"`): instead
 * of running the rules, it hands the bounces and complaints read from the message at arrival
 * (carried in the job's payload) to the `feedback` handler, then writes the outcome on the
 * ledger row. The handler runs before the row is written, so a handler that throws leaves the
 * row `parsed` and the job is retried on the route queue's schedule; a crash between the two
 * hands the same items over again, which is why the handler must be idempotent.
 */

/** Where a piece of feedback was read: the mailbox and its ledger row. */
export interface FeedbackOrigin {
  mailboxId: string;
  inboundMessageId: string;
}

/** Takes the feedback of one message (campaigns' ledger and suppression list). At least once. */
export type FeedbackHandler = (items: Feedback[], origin: FeedbackOrigin) => Promise<void>;

/** What handing feedback over needs. */
export interface FeedbackDeps {
  store: Store;
  /** Default none: a message with feedback then fails its route job (`INBOUND_FEEDBACK_FAILED`). */
  feedback?: FeedbackHandler | undefined;
}

/** The ledger tags of a handed-over message: one per kind found, `feedback:hard_bounce`. */
export function feedbackTags(items: readonly Feedback[]): string[] {
  return [...new Set(items.map((item) => `feedback:${item.kind}`))];
}

/**
 * Hands the feedback of `row` over and records it: `delivered` (tagged with the kinds found)
 * once the handler took it, `skipped` as `no_feedback` when the message reports nothing (an
 * auto-reply, a delivery success) and as `sender_not_allowed` when the mailbox's allowlist
 * refuses its sender (then nothing is handed over: a forged bounce must not suppress anyone).
 */
export async function handOverFeedback(
  deps: FeedbackDeps,
  row: Pick<LedgerRow, 'id' | 'uid' | 'mailbox_id' | 'from_address'>,
  mailbox: Mailbox | undefined,
  items: Feedback[],
  now: number,
): Promise<unknown> {
  let state: LedgerState = 'delivered';
  let skipReason: string | null = null;
  if (mailbox && !senderAllowed(mailbox.settings.senderAllowlist, row.from_address)) {
    state = 'skipped';
    skipReason = 'sender_not_allowed';
  } else if (items.length === 0) {
    state = 'skipped';
    skipReason = 'no_feedback';
  } else {
    await callHandler(deps, items, { mailboxId: row.mailbox_id ?? '', inboundMessageId: row.id });
  }
  const ackState = row.uid !== null ? 'pending' : 'none';
  const written = await deps.store.groupTransaction(async (tx) => {
    if ((await lockLedgerState(tx, row.id)) !== 'parsed') return false;
    await saveRouting(tx, row.id, {
      state,
      skip_reason: skipReason,
      tags: JSON.stringify(state === 'delivered' ? feedbackTags(items) : []),
      matched_rules: '[]',
      subject_group: null,
      error_code: null,
      error_message: null,
      ack_state: ackState,
      updated_at: now,
    });
    if (ackState === 'pending' && row.mailbox_id) tx.notify(ACK_READY_CHANNEL, row.mailbox_id);
    return true;
  });
  if (!written) return { alreadyRouted: true };
  return { state, feedback: state === 'delivered' ? items.length : 0 };
}

/** Calls the handler; what it throws that is not an AppError becomes a retryable one. */
async function callHandler(deps: FeedbackDeps, items: Feedback[], origin: FeedbackOrigin): Promise<void> {
  if (!deps.feedback) {
    throw new AppError(
      'INBOUND_FEEDBACK_FAILED',
      `message ${origin.inboundMessageId} of a bounce mailbox reports ${items.length} bounces or complaints, but no feedback handler is configured`,
      { retryable: false },
    );
  }
  try {
    await deps.feedback(items, origin);
  } catch (error) {
    if (error instanceof AppError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new AppError(
      'INBOUND_FEEDBACK_FAILED',
      `the feedback of message ${origin.inboundMessageId} could not be handed over: ${message}`,
      { cause: error },
    );
  }
}
