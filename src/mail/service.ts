import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import {
  attemptsForSchedule,
  enqueueJob,
  type Job,
  type JobContext,
  JobDeferral,
  type Settlement,
} from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import { type MessageInput, type MessageStatus, newMessageIdHeader, requestHash } from './model.js';
import {
  type AttemptOutcome,
  type AttemptRow,
  findMessageByIdempotencyKey,
  finishAttempt,
  getMessageRow,
  insertMessage,
  interruptOpenAttempts,
  listAttempts,
  listMessageRows,
  type MessageRow,
  markMessageSent,
  setPendingRecipients,
  startAttempt,
  updateMessageStatus,
} from './store.js';
import type { OutboundMessage, RefusedRecipient, SendResult, SmtpTransport } from './transport.js';

/** The queue that sends messages. */
export const SEND_QUEUE = 'mail.send';

/** Dependencies of the mail use cases. */
export interface MailDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Sender used when a request has no `from`. */
  defaultFrom: string;
  /** Delays before each retry; attempts allowed = length + 1. */
  retryScheduleMs: readonly number[];
}

/** Payload of a send job. */
export interface SendJobPayload {
  messageId: string;
}

/** Where a message came from. */
export interface MessageOrigin {
  source: 'api' | 'cli' | 'alert' | 'inbound';
  apiKeyId?: string;
}

/** The answer to an accepted send. */
export interface AcceptedMessage {
  id: string;
  status: MessageStatus;
  /** False when an earlier request with the same idempotency key already created it. */
  created: boolean;
}

class IdempotencyRace extends Error {}

/**
 * Records a message and its send job in one transaction (the outbox), so the answer `202` means
 * the message is durably accepted. A repeated idempotency key returns the first message; the
 * same key with a different body is a conflict.
 */
export async function acceptMessage(
  deps: MailDeps,
  input: MessageInput,
  origin: MessageOrigin,
): Promise<AcceptedMessage> {
  const hash = requestHash(input);
  const key = input.idempotencyKey;
  const scope = idempotencyScope(origin);
  if (key !== undefined) {
    const existing = await findMessageByIdempotencyKey(deps.store.db, scope, key);
    if (existing) return replayedAnswer(existing, hash);
  }
  const id = uuidv7();
  const now = deps.clock.now();
  const from = input.from ?? deps.defaultFrom;
  try {
    // Group commit: requests arriving together share one commit, each answered once it is durable.
    await deps.store.groupTransaction(async (tx) => {
      const inserted = await recordMessage(tx, deps, { id, input, from, hash, origin, now });
      if (!inserted) throw new IdempotencyRace();
    });
  } catch (error) {
    if (!(error instanceof IdempotencyRace) || key === undefined) throw error;
    const winner = await findMessageByIdempotencyKey(deps.store.db, scope, key);
    if (!winner) throw error;
    return replayedAnswer(winner, hash);
  }
  deps.logger.debug({ event: 'message.accepted', messageId: id, source: origin.source }, 'message accepted');
  return { id, status: 'queued', created: true };
}

/**
 * Inserts a message and its send job inside the caller's transaction (the outbox): used by the
 * API and by modules that send mail as part of their own writes (alerts). False when the
 * idempotency key is already taken.
 */
export async function recordMessage(
  tx: Tx,
  deps: Pick<MailDeps, 'retryScheduleMs'>,
  message: {
    id: string;
    input: MessageInput;
    from: string;
    hash: string;
    origin: MessageOrigin;
    now: number;
  },
): Promise<boolean> {
  const { id, input, from, hash, origin, now } = message;
  const { job } = await enqueueJob<SendJobPayload>(
    tx,
    {
      queue: SEND_QUEUE,
      payload: { messageId: id },
      // No idempotency key: the job is created with its message, in one transaction.
      maxAttempts: attemptsForSchedule(deps.retryScheduleMs),
    },
    now,
  );
  return insertMessage(tx, newMessageRow(id, input, from, hash, job.id, origin, now));
}

/** Idempotency keys belong to the API key that used them (or to the CLI). */
function idempotencyScope(origin: MessageOrigin): string {
  return origin.apiKeyId ?? origin.source;
}

function replayedAnswer(existing: MessageRow, hash: string): AcceptedMessage {
  if (existing.request_hash !== hash) {
    throw new AppError(
      'IDEMPOTENCY_CONFLICT',
      `the idempotency key was already used for message ${existing.id} with a different body`,
      {
        details: { messageId: existing.id },
      },
    );
  }
  return { id: existing.id, status: existing.status as MessageStatus, created: false };
}

function newMessageRow(
  id: string,
  input: MessageInput,
  from: string,
  hash: string,
  jobId: string,
  origin: MessageOrigin,
  now: number,
): MessageRow {
  return {
    id,
    status: 'queued',
    from_address: from,
    to_addresses: JSON.stringify(input.to),
    cc_addresses: JSON.stringify(input.cc ?? []),
    bcc_addresses: JSON.stringify(input.bcc ?? []),
    reply_to: input.replyTo ?? null,
    subject: input.subject,
    text_body: input.text ?? null,
    html_body: input.html ?? null,
    headers: JSON.stringify(input.headers ?? {}),
    message_id_header: newMessageIdHeader(id, from),
    idempotency_scope: idempotencyScope(origin),
    idempotency_key: input.idempotencyKey ?? null,
    request_hash: hash,
    job_id: jobId,
    api_key_id: origin.apiKeyId ?? null,
    source: origin.source,
    pending_recipients: null,
    attempt_count: 0,
    next_attempt_at: null,
    last_error_code: null,
    last_error_message: null,
    created_at: now,
    updated_at: now,
    sent_at: null,
  };
}

/**
 * The send job: one attempt to hand the message to the SMTP server, recorded before and after.
 * A message already sent is not sent again (a worker may die after the server took it but before
 * the job was settled). Recipients refused with a 4xx while others were taken get the next
 * attempt, alone; recipients refused with a 5xx are recorded and dropped.
 */
export async function deliverMessage(
  deps: MailDeps & { transport: SmtpTransport },
  job: Job<SendJobPayload>,
  context: JobContext,
): Promise<unknown> {
  const { store, clock, transport } = deps;
  const message = await getMessageRow(store.db, job.payload.messageId);
  if (!message)
    throw new AppError('NOT_FOUND', `message ${job.payload.messageId} no longer exists`, {
      retryable: false,
    });
  if (message.status === 'sent') return { alreadySent: true };
  const permit = transport.reserveSend();
  if (!permit.ok) {
    const error = new AppError(
      'SMTP_UNAVAILABLE',
      'the SMTP circuit breaker is open after repeated connection failures',
    );
    throw new JobDeferral(permit.retryAt, error.message, error);
  }

  const attemptId = uuidv7();
  const number = Number(message.attempt_count) + 1;
  const envelopeTo =
    message.pending_recipients === null ? undefined : (JSON.parse(message.pending_recipients) as string[]);
  await store.transaction((tx) => startAttempt(tx, message.id, attemptId, number, clock.now()));
  let result: SendResult;
  try {
    result = await transport.send(outboundMessage(message), {
      signal: context.signal,
      ...(envelopeTo ? { envelopeTo } : {}),
    });
  } catch (thrown) {
    // Aborted (shutdown deadline, lost lease): the engine settles the job and closes the attempt.
    if (context.signal.aborted) throw thrown;
    return recordFailedAttempt(deps, message.id, attemptId, toSendError(thrown));
  }
  const deferred = result.rejected.filter(isDeferredRefusal);
  await store.transaction(async (tx) => {
    await finishAttempt(tx, attemptId, {
      outcome: deferred.length > 0 ? 'partial' : 'sent',
      now: clock.now(),
      ...result,
    });
    if (deferred.length > 0) {
      // Some recipients have it: sentAt says when it first went out; the rest wait for the retry.
      await setPendingRecipients(
        tx,
        message.id,
        deferred.map((r) => r.address),
        clock.now(),
        { firstSent: true },
      );
    } else {
      await markMessageSent(tx, message.id, clock.now());
    }
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
      smtpCode: result.smtpCode,
      refused: result.rejected.length,
    },
    'message sent',
  );
  return { smtpCode: result.smtpCode, smtpResponse: result.smtpResponse };
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
  };
}

/** A refusal worth retrying: a 4xx, or no readable code at all (when unsure, nothing is dropped). */
function isDeferredRefusal(refused: RefusedRecipient): boolean {
  return refused.smtpCode === null || refused.smtpCode < 500;
}

function toSendError(thrown: unknown): AppError {
  if (thrown instanceof AppError) return thrown;
  return new AppError('SMTP_PROTOCOL', String((thrown as Error)?.message ?? thrown), { cause: thrown });
}

/**
 * Records a failed attempt and rethrows. When every recipient was refused, those refused with a
 * 4xx are kept for the next attempt and those refused with a 5xx are dropped.
 */
async function recordFailedAttempt(
  deps: MailDeps,
  messageId: string,
  attemptId: string,
  error: AppError,
): Promise<never> {
  const details = (error.details ?? {}) as {
    smtpCode?: number | null;
    smtpResponse?: string | null;
    refusedRecipients?: RefusedRecipient[];
  };
  const refused = details.refusedRecipients ?? [];
  const deferred = refused.filter(isDeferredRefusal);
  await deps.store.transaction(async (tx) => {
    await finishAttempt(tx, attemptId, {
      outcome: error.retryable ? 'transient_failure' : 'permanent_failure',
      now: deps.clock.now(),
      smtpCode: details.smtpCode ?? null,
      smtpResponse: details.smtpResponse ?? null,
      errorCode: error.code,
      errorMessage: error.message,
      ...(refused.length > 0 ? { rejected: refused } : {}),
    });
    if (deferred.length > 0 && deferred.length < refused.length) {
      await setPendingRecipients(
        tx,
        messageId,
        deferred.map((r) => r.address),
        deps.clock.now(),
      );
    }
  });
  throw error;
}

/** Mirrors a settled send job onto its message, in the same transaction. */
export async function onSendSettled(
  deps: Pick<MailDeps, 'clock'>,
  tx: Tx,
  job: Job<SendJobPayload>,
  settlement: Settlement,
): Promise<void> {
  const now = deps.clock.now();
  const { messageId } = job.payload;
  if (settlement.status === 'succeeded') return;
  const error = settlement.error
    ? { code: settlement.error.code, message: settlement.error.message }
    : undefined;
  // An attempt still open here was cut short (shutdown deadline, lost lease): say so.
  if (error) await interruptOpenAttempts(tx, messageId, now, error);
  if (settlement.status === 'queued') {
    await updateMessageStatus(tx, messageId, {
      status: 'queued',
      now,
      nextAttemptAt: settlement.runAt,
      ...(error ? { error } : {}),
    });
    return;
  }
  await updateMessageStatus(tx, messageId, {
    status: 'failed',
    now,
    nextAttemptAt: null,
    error: error ?? null,
  });
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

/** An attempt as the API shows it. */
export interface AttemptView {
  number: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  outcome: AttemptOutcome;
  smtpCode: number | null;
  smtpResponse: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  accepted: string[] | null;
  /** Recipients the server refused, each with its reply. */
  rejected: RefusedRecipient[] | null;
}

/** A message as the API shows it. */
export interface MessageView {
  id: string;
  status: MessageStatus;
  messageId: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string | null;
  subject: string;
  headers: Record<string, string>;
  idempotencyKey: string | null;
  jobId: string;
  source: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  attempts: AttemptView[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

function attemptView(row: AttemptRow): AttemptView {
  return {
    number: Number(row.number),
    startedAt: new Date(Number(row.started_at)).toISOString(),
    finishedAt: iso(row.finished_at),
    durationMs: row.finished_at === null ? null : Number(row.finished_at) - Number(row.started_at),
    outcome: row.outcome as AttemptOutcome,
    smtpCode: row.smtp_code === null ? null : Number(row.smtp_code),
    smtpResponse: row.smtp_response,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    accepted: row.accepted === null ? null : (JSON.parse(row.accepted) as string[]),
    rejected: row.rejected === null ? null : (JSON.parse(row.rejected) as RefusedRecipient[]),
  };
}

function messageView(row: MessageRow, attempts: AttemptRow[]): MessageView {
  return {
    id: row.id,
    status: row.status as MessageStatus,
    messageId: row.message_id_header,
    from: row.from_address,
    to: JSON.parse(row.to_addresses) as string[],
    cc: JSON.parse(row.cc_addresses) as string[],
    bcc: JSON.parse(row.bcc_addresses) as string[],
    replyTo: row.reply_to,
    subject: row.subject,
    headers: JSON.parse(row.headers) as Record<string, string>,
    idempotencyKey: row.idempotency_key,
    jobId: row.job_id,
    source: row.source,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: iso(row.next_attempt_at),
    lastError: row.last_error_code
      ? { code: row.last_error_code, message: row.last_error_message ?? '' }
      : null,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
    sentAt: iso(row.sent_at),
    attempts: attempts.map(attemptView),
  };
}

/** A message with every attempt; NOT_FOUND when there is none. */
export async function getMessage(deps: Pick<MailDeps, 'store'>, id: string): Promise<MessageView> {
  const row = await getMessageRow(deps.store.db, id);
  if (!row) throw new AppError('NOT_FOUND', `no message has the id ${id}`);
  return messageView(row, await listAttempts(deps.store.db, id));
}

/** Messages, newest first, without their attempts. */
export async function listMessages(
  deps: Pick<MailDeps, 'store'>,
  filter: { status?: MessageStatus; before?: string; limit: number },
): Promise<{ messages: Omit<MessageView, 'attempts'>[]; nextBefore: string | null }> {
  // One row more than asked tells whether another page exists.
  const rows = await listMessageRows(deps.store.db, { ...filter, limit: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  const messages = page.map((row) => {
    const { attempts: _omitted, ...view } = messageView(row, []);
    return view;
  });
  return { messages, nextBefore: rows.length > filter.limit ? (page.at(-1)?.id ?? null) : null };
}
