import { createHash } from 'node:crypto';
import type { Feedback } from '../campaigns/index.js';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { type Job, JobDeferral, oneByOne, type QueueDefinition } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import { scheduleStateAt } from '../core/schedule.js';
import { truncateText } from '../core/text.js';
import { type MailDeps, recordMessage } from '../mail/index.js';
import type { RuleStore } from '../rules/index.js';
import { type Decision, type Evaluation, evaluateRules, senderAllowed } from '../rules/index.js';
import type { Webhooks } from '../webhooks/index.js';
import { storedEmail } from './email.js';
import { type FeedbackHandler, handOverFeedback } from './feedback.js';
import { ACK_READY_CHANNEL, type LedgerState, ROUTE_QUEUE } from './ledger.js';
import { mailboxSchedule } from './mailbox-model.js';
import type { Mailbox } from './mailboxes.js';
import {
  getLedgerEmail,
  getLedgerRow,
  linkEvent,
  lockLedgerState,
  noteRoutingFailed,
  saveRouting,
  subjectGroupTaken,
} from './store.js';

/**
 * The `inbound.route` job: runs the rules over one recorded message and turns the decisions into
 * webhook events and forwarded emails, in one transaction with the ledger row's new state. For
 * a message of a bounce mailbox it hands the bounces and complaints over instead (feedback.ts).
 * Outside its mailbox's schedule the job waits (a deferral, no attempt spent) until it opens.
 * A run that finds the row already routed does nothing, so a crash between the commit and the
 * job's settlement never routes a message twice.
 */

/** Payload of a route job. */
export interface RouteJobPayload {
  inboundId: string;
  /**
   * Present for a message of a bounce mailbox: what it reports, read at arrival. The job hands
   * it to `feedback` instead of running the rules (inbound/feedback.ts).
   */
  feedback?: Feedback[];
}

/** Dependencies of routing. */
export interface RouteDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** A mailbox as routing reads it (schedule, allowlist), from a cache. */
  mailbox(id: string): Promise<Mailbox | undefined>;
  rules: RuleStore;
  webhooks: Webhooks;
  mail: Pick<MailDeps, 'retryScheduleMs' | 'defaultFrom'>;
  /**
   * Takes the bounces and complaints read from each message of a bounce mailbox, at least once
   * (it must be idempotent); what it throws is retried like routing. Default none: such a
   * message then fails its route job with `INBOUND_FEEDBACK_FAILED`, for a replay once set.
   */
  feedback?: FeedbackHandler;
}

/** The `inbound.route` queue. */
export function routeQueue(deps: RouteDeps): QueueDefinition<RouteJobPayload> {
  return {
    name: ROUTE_QUEUE,
    concurrency: 4,
    retry: { kind: 'exponential', initialDelayMs: 5_000, maxDelayMs: 600_000, jitter: 0.1 },
    handle: (job) => routeMessage(deps, job),
    // A run that failed for good (a template that does not render, a row that vanished)
    // says so on the ledger row, which stays `parsed`: replaying the job routes it again.
    onSettled: oneByOne<RouteJobPayload>(async (tx, job, settlement) => {
      if (settlement.status !== 'failed' && settlement.status !== 'dead') return;
      await noteRoutingFailed(
        tx,
        job.payload.inboundId,
        {
          code: settlement.error?.code ?? 'INTERNAL',
          message: `routing failed (job ${job.id}): ${settlement.error?.message ?? 'unknown error'}`,
        },
        deps.clock.now(),
      );
    }),
  };
}

/** What was decided for a row, before it is written. */
interface Routing {
  state: LedgerState;
  skipReason: string | null;
  evaluation: Evaluation | null;
}

/** Routes the message of `job`; returns a summary stored as the job's result. */
async function routeMessage(deps: RouteDeps, job: Job<RouteJobPayload>): Promise<unknown> {
  const { store, clock } = deps;
  const row = await getLedgerRow(store.db, job.payload.inboundId);
  if (!row)
    throw new AppError('NOT_FOUND', `inbound message ${job.payload.inboundId} no longer exists`, {
      retryable: false,
    });
  if (row.state !== 'parsed') return { alreadyRouted: row.state };
  const now = clock.now();
  const mailbox = row.mailbox_id ? await deps.mailbox(row.mailbox_id) : undefined;
  waitForSchedule(mailbox, now);
  if (job.payload.feedback) return handOverFeedback(deps, row, mailbox, job.payload.feedback, now);
  const email = storedEmail(row.email as string);
  const routing = await decide(
    deps,
    { id: row.id, source: row.source, receivedAt: Number(row.received_at) },
    email,
    mailbox,
    now,
  );
  const written = await store.groupTransaction((tx) => applyRouting(deps, tx, row, routing, now));
  return written ? { state: written.state, deliveries: written.deliveries } : { alreadyRouted: true };
}

/** Defers the job while the mailbox's schedule is closed. */
function waitForSchedule(mailbox: Mailbox | undefined, now: number): void {
  const schedule = mailbox ? mailboxSchedule(mailbox.settings) : null;
  if (!mailbox || !schedule) return;
  const state = scheduleStateAt(schedule, now);
  if (state.open) return;
  const reason = `the schedule of mailbox ${mailbox.settings.name} is closed (${state.reason.replace('_', ' ')})`;
  throw new JobDeferral(state.opensAt, reason, new AppError('INBOUND_SCHEDULE_CLOSED', reason));
}

async function decide(
  deps: RouteDeps,
  row: { id: string; source: string; receivedAt: number },
  email: InboundEmail,
  mailbox: Mailbox | undefined,
  now: number,
): Promise<Routing> {
  if (mailbox && !senderAllowed(mailbox.settings.senderAllowlist, email.from?.address)) {
    return { state: 'skipped', skipReason: 'sender_not_allowed', evaluation: null };
  }
  const { rules, settings } = await deps.rules.current();
  const endpoints = await deps.webhooks.endpoints.all();
  const evaluation = evaluateRules(rules, settings, email, {
    now,
    emailId: row.id,
    source: row.source as 'imap' | 'gmail' | 'raw',
    receivedAt: row.receivedAt,
    endpointSchedule: (id) => {
      const endpoint = endpoints.get(id);
      if (!endpoint) return null;
      const { timeZone, timeWindow, absenceWeekdays } = endpoint.settings;
      return { timeZone, window: timeWindow, absenceWeekdays };
    },
  });
  if (evaluation.outcome === 'skipped') {
    return { state: 'skipped', skipReason: evaluation.skipReason ?? 'no_action', evaluation };
  }
  return { state: evaluation.outcome, skipReason: null, evaluation };
}

/** Writes the routing of one row; undefined when another run routed it first. */
async function applyRouting(
  deps: RouteDeps,
  tx: Tx,
  row: { id: string; uid: number | null; subject: string; mailbox_id: string | null },
  routing: Routing,
  now: number,
): Promise<{ state: LedgerState; ackState: string; deliveries: number } | undefined> {
  if ((await lockLedgerState(tx, row.id)) !== 'parsed') return undefined;
  const evaluation = routing.evaluation;
  let { state, skipReason } = routing;
  const group = evaluation?.subjectGroup ?? null;
  if (group && (await subjectGroupTaken(tx, group, row.id))) {
    state = 'skipped';
    skipReason = 'duplicate_subject_group';
  }
  const problems: string[] = [];
  let deliveries = 0;
  if (state !== 'skipped' && evaluation) {
    deliveries = await applyDecisions(deps, tx, row.id, evaluation.decisions, problems, now);
  }
  // Nothing to deliver: a matched message is delivered as soon as it is routed, unless an action
  // could not be carried out (an endpoint deleted since): then it stays matched, unmarked, with
  // the error, for someone to look at.
  const failed = problems.length > 0;
  if (state === 'matched' && deliveries === 0 && !failed) state = 'delivered';
  const imap = row.uid !== null;
  const ackState =
    !imap || (failed && deliveries === 0)
      ? 'none'
      : deliveries > 0 && state !== 'skipped'
        ? 'waiting'
        : 'pending';
  await saveRouting(tx, row.id, {
    state,
    skip_reason: skipReason,
    tags: JSON.stringify(evaluation?.tags ?? []),
    matched_rules: JSON.stringify(evaluation?.matchedRules ?? []),
    subject_group: state === 'skipped' ? null : group,
    error_code: problems.length > 0 ? 'INBOUND_ACTION_FAILED' : null,
    error_message: problems.length > 0 ? problems.join('; ') : null,
    ack_state: ackState,
    updated_at: now,
  });
  if (ackState === 'pending' && row.mailbox_id) tx.notify(ACK_READY_CHANNEL, row.mailbox_id);
  return { state, ackState, deliveries };
}

/** Publishes the webhook events and records the forwards; returns the deliveries created. */
async function applyDecisions(
  deps: RouteDeps,
  tx: Tx,
  inboundId: string,
  decisions: readonly Decision[],
  problems: string[],
  now: number,
): Promise<number> {
  const endpoints = await deps.webhooks.endpoints.all(tx.db);
  let deliveries = 0;
  for (const decision of decisions) {
    if (decision.kind === 'forward') {
      await forward(deps, tx, inboundId, decision, now);
      continue;
    }
    const endpoint = endpoints.get(decision.endpointId);
    if (!endpoint) {
      problems.push(`endpoint ${decision.endpointId} (rule ${decision.ruleId ?? 'default'}) does not exist`);
      continue;
    }
    const hash = createHash('sha256').update(JSON.stringify(decision.payload)).digest('hex');
    const published = await deps.webhooks.publishIn(tx, now, [endpoint], {
      type: decision.eventType,
      payload: decision.payload,
      hash,
      source: 'inbound',
      scope: 'inbound',
      ignoreWindow: decision.ignoreWindow,
    });
    if (!published) continue;
    await linkEvent(tx, inboundId, published.event.id);
    deliveries += published.deliveries.length;
  }
  return deliveries;
}

async function forward(
  deps: RouteDeps,
  tx: Tx,
  inboundId: string,
  decision: Extract<Decision, { kind: 'forward' }>,
  now: number,
): Promise<void> {
  const email = JSON.parse((await getLedgerEmail(tx.db, inboundId)) ?? '{}') as InboundEmail;
  const text = email.text || '(no text body)';
  await recordMessage(tx, deps.mail, {
    id: uuidv7(),
    input: {
      to: decision.to,
      subject: truncateText(decision.subject.replace(/[\r\n]+/g, ' '), 998) || '(no subject)',
      text,
      ...(email.html ? { html: email.html } : {}),
      headers: { 'X-Facteur-Inbound-Id': inboundId },
    },
    from: deps.mail.defaultFrom,
    hash: createHash('sha256')
      .update(`forward:${inboundId}:${decision.to.join(',')}`)
      .digest('hex'),
    origin: { source: 'inbound' },
    now,
  });
}
