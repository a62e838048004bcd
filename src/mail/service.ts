import type { Clock } from '../core/clock.js';
import type { IdempotentInsert, Store, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { attemptsForSchedule, enqueueJob, enqueueJobs } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import {
  type MessageInput,
  type MessageStatus,
  newMessageIdHeader,
  requestHash,
  SEND_QUEUE,
} from './model.js';
import { findMessageByIdempotencyKey, insertMessage, insertMessages, type MessageRow } from './store.js';
import type { MessageAttachment } from './transport.js';

/** The queue that sends messages. */
export { SEND_QUEUE };

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
  /** Where the message came from, so that a feature following its sends (reports) skips the others at once. */
  source?: MessageOrigin['source'];
}

/**
 * A succeeded send job's result, as its followers (a report run's `send` stage, a campaign's
 * ledger) read it from the settlement. `alreadySent`: the message had gone out on an earlier run.
 */
export interface SendJobResult {
  smtpCode?: number | null;
  smtpResponse?: string;
  transport?: string;
  providerMessageId?: string;
  alreadySent?: boolean;
}

/** Where a message came from. */
export interface MessageOrigin {
  source: 'api' | 'cli' | 'alert' | 'inbound' | 'report' | 'campaign' | 'access';
  apiKeyId?: string;
}

/** The answer to an accepted send. */
export interface AcceptedMessage {
  id: string;
  status: MessageStatus;
  /** False when an earlier request with the same idempotency key already created it. */
  created: boolean;
}

/** Rolls back a message whose idempotency key another request took meanwhile; carries the winner. */
class IdempotencyRace extends Error {
  constructor(readonly winner: MessageRow) {
    super('idempotency key taken');
  }
}

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
      const recorded = await recordMessage(tx, deps, { id, input, from, hash, origin, now });
      // The job enqueued with it must go too: roll this request's part back.
      if (!recorded.created) throw new IdempotencyRace(recorded.row);
    });
  } catch (error) {
    if (!(error instanceof IdempotencyRace)) throw error;
    return replayedAnswer(error.winner, hash);
  }
  deps.logger.debug({ event: 'message.accepted', messageId: id, source: origin.source }, 'message accepted');
  return { id, status: 'queued', created: true };
}

/**
 * Inserts a message and its send job inside the caller's transaction (the outbox): used by the
 * API and by modules that send mail as part of their own writes (alerts). When the idempotency
 * key is already taken, answers the message holding it (`created: false`); the caller rolls back.
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
    /** Files Facteur attaches itself (a report's CSV, a campaign's files); the API takes none. */
    attachments?: MessageAttachment[];
    /** The send job's priority (bulk mail below transactional) and concurrency key. */
    job?: { priority?: number; concurrencyKey?: string };
  },
): Promise<IdempotentInsert<MessageRow>> {
  const { id, input, from, hash, origin, now } = message;
  const { job } = await enqueueJob<SendJobPayload>(
    tx,
    {
      queue: SEND_QUEUE,
      payload: { messageId: id, source: origin.source },
      // No idempotency key: the job is created with its message, in one transaction.
      maxAttempts: attemptsForSchedule(deps.retryScheduleMs),
      ...(message.job?.priority !== undefined ? { priority: message.job.priority } : {}),
      ...(message.job?.concurrencyKey !== undefined ? { concurrencyKey: message.job.concurrencyKey } : {}),
    },
    now,
  );
  const row = newMessageRow(id, input, from, hash, job.id, origin, now);
  if (message.attachments && message.attachments.length > 0)
    row.attachments = JSON.stringify(message.attachments);
  return insertMessage(tx, row);
}

/** One message of a bulk write: the input, its sender and where it comes from. */
export interface BulkMessage {
  id: string;
  input: MessageInput;
  from: string;
  hash: string;
  attachments?: MessageAttachment[];
}

/**
 * Inserts many messages and their send jobs inside the caller's transaction, a few statements
 * for the lot (a campaign's window): the same rows `recordMessage` writes one by one, without
 * idempotency keys. Answers the rows in order.
 */
export async function recordMessages(
  tx: Tx,
  deps: Pick<MailDeps, 'retryScheduleMs'>,
  messages: readonly BulkMessage[],
  origin: MessageOrigin,
  job: { priority?: number; concurrencyKey?: string },
  now: number,
): Promise<MessageRow[]> {
  if (messages.length === 0) return [];
  const maxAttempts = attemptsForSchedule(deps.retryScheduleMs);
  const jobIds = await enqueueJobs<SendJobPayload>(
    tx,
    messages.map((m) => ({
      queue: SEND_QUEUE,
      payload: { messageId: m.id, source: origin.source },
      maxAttempts,
      ...(job.priority !== undefined ? { priority: job.priority } : {}),
      ...(job.concurrencyKey !== undefined ? { concurrencyKey: job.concurrencyKey } : {}),
    })),
    now,
  );
  const rows = messages.map((m, i) => {
    const row = newMessageRow(m.id, m.input, m.from, m.hash, jobIds[i] as string, origin, now);
    if (m.attachments && m.attachments.length > 0) row.attachments = JSON.stringify(m.attachments);
    return row;
  });
  await insertMessages(tx, rows);
  return rows;
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
    attachments: null,
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
