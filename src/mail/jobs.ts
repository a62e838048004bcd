import type { Kysely } from 'kysely';
import type { Database, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import {
  type Job,
  type JobContext,
  JobDeferral,
  type QueueDefinition,
  type SettledJob,
  type Settlement,
} from '../core/jobs/index.js';
import type { TransportChain } from './failover.js';
import { type MailDeps, SEND_QUEUE, type SendJobPayload, type SendJobResult } from './service.js';
import {
  type AttemptRow,
  getMessageRow,
  getMessageRows,
  insertAttempt,
  insertAttemptRows,
  interruptOpenAttempts,
  MAY_HAVE_TAKEN,
  type MessageRow,
  markMessagesSent,
  setPendingRecipients,
  updateMessageStatus,
} from './store.js';
import type { MessageAttachment, OutboundMessage, RefusedRecipient } from './transport.js';

/** The `mail.send` queue: one job per message, retried on the configured schedule. */
export function sendQueue(
  deps: MailDeps & { transports: TransportChain; concurrency: number },
): QueueDefinition<SendJobPayload> {
  return {
    name: SEND_QUEUE,
    concurrency: deps.concurrency,
    retry: { kind: 'schedule', delaysMs: deps.retryScheduleMs, jitter: 0.1 },
    handle: (job, context) => deliverMessage(deps, job, context),
    onSettled: (tx, settled) => onSendSettled(deps, tx, settled),
    onClaimed: (db, jobs) => readAhead(db, jobs),
    onReplayed: (tx, job) => onSendReplayed(deps, tx, job),
  };
}

/**
 * What a run did, for its settlement: the attempt with its outcome, and what it changes on the
 * message (sent; or the recipients the next attempt goes to, with `firstSent` when some have it).
 */
interface SendRun {
  attempt: AttemptRow;
  effect: { kind: 'sent' } | { kind: 'pending'; recipients: string[]; firstSent: boolean } | null;
}

/**
 * Runs waiting for their settlement, as in webhooks/delivery.ts (a WeakMap: no leak if a run is
 * never settled here). A job settled without one (recovered after a crash, put back at the
 * shutdown deadline) was cut short: its settlement records an `interrupted` attempt.
 */
const runs = new WeakMap<Job, SendRun>();

/**
 * Runs that have not handed their message to a transport yet (waiting for a budget's token):
 * cut short there, they record no `interrupted` attempt, since nothing can have been sent.
 */
const notHandedOver = new WeakSet<Job>();

/** Messages read for their claimed jobs in one query, taken by the job's handler. */
const readAheadRows = new WeakMap<Job, MessageRow>();

async function readAhead(db: Kysely<Database>, jobs: readonly Job<SendJobPayload>[]): Promise<void> {
  const rows = new Map(
    (
      await getMessageRows(
        db,
        jobs.map((job) => job.payload.messageId),
      )
    ).map((r) => [r.id, r]),
  );
  for (const job of jobs) {
    const row = rows.get(job.payload.messageId);
    if (row) readAheadRows.set(job, row);
  }
}

/**
 * The send job: one attempt to hand the message to the SMTP server. Nothing is written before
 * the send: the attempt, its outcome and the message's new state are written by `onSendSettled`
 * in the batched settlement transaction. A message already sent is not sent again. Recipients
 * refused with a 4xx while others were taken get the next attempt, alone; recipients refused
 * with a 5xx are recorded and dropped.
 */
export async function deliverMessage(
  deps: MailDeps & { transports: TransportChain },
  job: Job<SendJobPayload>,
  context: JobContext,
): Promise<SendJobResult> {
  const { store, clock, transports } = deps;
  const message = readAheadRows.get(job) ?? (await getMessageRow(store.db, job.payload.messageId));
  readAheadRows.delete(job);
  if (!message)
    throw new AppError('NOT_FOUND', `message ${job.payload.messageId} no longer exists`, {
      retryable: false,
    });
  if (message.status === 'sent') return { alreadySent: true };

  const attempt = newAttempt(message, clock.now());
  const envelopeTo =
    message.pending_recipients === null ? undefined : (JSON.parse(message.pending_recipients) as string[]);
  // Every breaker open, or a budget's token far off: the chain throws a JobDeferral (no attempt
  // spent). Aborted (shutdown deadline, lost lease): it rethrows, and the settlement records the
  // attempt interrupted if the message had been handed over.
  notHandedOver.add(job);
  const outcome = await transports.send(outboundMessage(message), {
    signal: context.signal,
    // Campaigns are enqueued below 0: transactional mail gets the budgets' tokens first.
    urgent: job.priority >= 0,
    onHandOver: () => notHandedOver.delete(job),
    deferredByBudget: job.lastError?.code === 'BUDGET_EXHAUSTED',
    ...(envelopeTo ? { envelopeTo } : {}),
  });
  attempt.transport = outcome.transport;
  if (!outcome.ok) {
    const error = toSendError(outcome.error);
    runs.set(job, failedRun(attempt, error, clock.now()));
    // A rate-limit reply: the message waits for the transport's next token, no attempt spent.
    if (outcome.retryAt !== undefined) throw new JobDeferral(outcome.retryAt, error.message, error);
    throw error;
  }
  const { result } = outcome;
  const deferred = result.rejected.filter(isDeferredRefusal);
  Object.assign(attempt, {
    outcome: deferred.length > 0 ? 'partial' : 'sent',
    finished_at: clock.now(),
    smtp_code: result.smtpCode,
    smtp_response: result.smtpResponse,
    accepted: JSON.stringify(result.accepted),
    rejected: JSON.stringify(result.rejected),
    provider_message_id: result.providerMessageId ?? null,
  });
  runs.set(job, {
    attempt,
    // Some recipients have it: sentAt says when it first went out; the rest wait for the retry.
    effect:
      deferred.length > 0
        ? { kind: 'pending', recipients: deferred.map((r) => r.address), firstSent: true }
        : { kind: 'sent' },
  });
  if (deferred.length > 0) {
    const first = deferred[0] as RefusedRecipient;
    throw new AppError(
      'SMTP_TRANSIENT',
      `${deferred.length} recipient(s) deferred by the server, retrying them: ${first.smtpResponse ?? ''}`,
      {
        details: { smtpCode: first.smtpCode, smtpResponse: first.smtpResponse, refusedRecipients: deferred },
      },
    );
  }
  context.logger.info(
    {
      event: 'message.sent',
      messageId: message.id,
      transport: outcome.transport,
      passedOver: outcome.passedOver,
      providerMessageId: result.providerMessageId,
      smtpCode: result.smtpCode,
      refused: result.rejected.length,
    },
    'message sent',
  );
  // The job's result: what followers of the send (a report run's `send` stage) show.
  return {
    smtpCode: result.smtpCode,
    smtpResponse: result.smtpResponse,
    transport: outcome.transport,
    ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
  };
}

/** The attempt a run starts, before the server answers. */
function newAttempt(message: MessageRow, now: number): AttemptRow {
  return {
    id: uuidv7(),
    message_id: message.id,
    number: Number(message.attempt_count) + 1,
    started_at: now,
    finished_at: null,
    outcome: 'in_progress',
    smtp_code: null,
    smtp_response: null,
    error_code: null,
    error_message: null,
    accepted: null,
    rejected: null,
    transport: null,
    provider_message_id: null,
  };
}

function outboundMessage(message: MessageRow): OutboundMessage {
  return {
    from: message.from_address,
    to: JSON.parse(message.to_addresses) as string[],
    cc: JSON.parse(message.cc_addresses) as string[],
    bcc: JSON.parse(message.bcc_addresses) as string[],
    ...(message.reply_to ? { replyTo: message.reply_to } : {}),
    subject: message.subject,
    ...(message.text_body !== null ? { text: message.text_body } : {}),
    ...(message.html_body !== null ? { html: message.html_body } : {}),
    headers: JSON.parse(message.headers) as Record<string, string>,
    messageId: message.message_id_header,
    ...(message.attachments ? { attachments: JSON.parse(message.attachments) as MessageAttachment[] } : {}),
  };
}

/**
 * A refusal worth retrying: a 4xx, or no readable code at all (when unsure, nothing is dropped).
 * A provider's refusal says itself whether it is final.
 */
function isDeferredRefusal(refused: RefusedRecipient): boolean {
  if (refused.permanent !== undefined) return !refused.permanent;
  return refused.smtpCode === null || refused.smtpCode < 500;
}

function toSendError(thrown: unknown): AppError {
  if (thrown instanceof AppError) return thrown;
  return new AppError('SMTP_PROTOCOL', String((thrown as Error)?.message ?? thrown), { cause: thrown });
}

/**
 * A failed attempt. When every recipient was refused, those refused with a 4xx are kept for the
 * next attempt and those refused with a 5xx are dropped.
 */
function failedRun(attempt: AttemptRow, error: AppError, now: number): SendRun {
  const details = (error.details ?? {}) as {
    smtpCode?: number | null;
    smtpResponse?: string | null;
    refusedRecipients?: RefusedRecipient[];
  };
  const refused = details.refusedRecipients ?? [];
  const deferred = refused.filter(isDeferredRefusal);
  return {
    attempt: {
      ...attempt,
      outcome: error.retryable ? 'transient_failure' : 'permanent_failure',
      finished_at: now,
      smtp_code: details.smtpCode ?? null,
      smtp_response: details.smtpResponse ?? null,
      error_code: error.code,
      error_message: error.message,
      rejected: refused.length > 0 ? JSON.stringify(refused) : null,
    },
    effect:
      deferred.length > 0 && deferred.length < refused.length
        ? { kind: 'pending', recipients: deferred.map((r) => r.address), firstSent: false }
        : null,
  };
}

/**
 * Records the runs' attempts and mirrors the settled jobs onto their messages, in the settlement
 * transaction: one commit per batch of sends, and the sent ones (nearly all) in two statements
 * for the whole batch, one inserting their attempts and one marking their messages sent.
 */
export async function onSendSettled(
  deps: Pick<MailDeps, 'clock'>,
  tx: Tx,
  settled: readonly SettledJob<SendJobPayload>[],
): Promise<void> {
  const now = deps.clock.now();
  const sent: AttemptRow[] = [];
  for (const { job, settlement } of settled) {
    // Read, never taken: a batch that fails is applied again item by item, and must find the run
    // again (the WeakMaps forget it with the job).
    const run = runs.get(job);
    if (run?.effect?.kind === 'sent') sent.push(run.attempt);
    else await settleOne(tx, job, settlement, run, now);
  }
  await insertAttemptRows(tx, sent);
  await markMessagesSent(
    tx,
    sent.map((attempt) => ({ messageId: attempt.message_id, attemptCount: attempt.number })),
    now,
  );
}

/** A run that did not send (or sent to some only), or no run at all: its attempt and the message's new state. */
async function settleOne(
  tx: Tx,
  job: Job<SendJobPayload>,
  settlement: Settlement,
  run: SendRun | undefined,
  now: number,
): Promise<void> {
  const { messageId } = job.payload;
  const error =
    'error' in settlement && settlement.error
      ? { code: settlement.error.code, message: settlement.error.message }
      : undefined;
  if (run) {
    await insertAttempt(tx, run.attempt, now);
    if (run.effect?.kind === 'pending') {
      await setPendingRecipients(tx, messageId, run.effect.recipients, now, {
        firstSent: run.effect.firstSent,
      });
    }
  } else if (
    !notHandedOver.has(job) &&
    (error?.code === 'JOB_LEASE_EXPIRED' || error?.code === 'JOB_INTERRUPTED')
  )
    await recordInterruptedAttempt(tx, job, error, now);
  if (settlement.status === 'succeeded') return;
  await updateMessageStatus(
    tx,
    messageId,
    settlement.status === 'queued'
      ? { status: 'queued', now, nextAttemptAt: settlement.runAt, ...(error ? { error } : {}) }
      : { status: 'failed', now, nextAttemptAt: null, error: error ?? null },
  );
}

/** A run that ended without an outcome of its own (crash, lost lease, shutdown deadline). */
async function recordInterruptedAttempt(
  tx: Tx,
  job: Job<SendJobPayload>,
  error: { code: string; message: string },
  now: number,
): Promise<void> {
  const { messageId } = job.payload;
  // An attempt an earlier version opened before sending is the one that was cut short.
  if ((await interruptOpenAttempts(tx, messageId, now, error)) > 0) return;
  const message = await getMessageRow(tx.db, messageId);
  if (!message || message.status === 'sent') return;
  await insertAttempt(
    tx,
    {
      ...newAttempt(message, job.startedAt ?? now),
      outcome: 'interrupted',
      finished_at: now,
      error_code: error.code,
      error_message: `${error.message}; ${MAY_HAVE_TAKEN}`,
    },
    now,
  );
}

/** A replayed send job puts its message back in the queue. */
export async function onSendReplayed(
  deps: Pick<MailDeps, 'clock'>,
  tx: Tx,
  job: Job<SendJobPayload>,
): Promise<void> {
  const now = deps.clock.now();
  await updateMessageStatus(tx, job.payload.messageId, { status: 'queued', now, nextAttemptAt: now });
}
