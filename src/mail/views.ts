import type { Kysely } from 'kysely';
import type { Database } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { runningSince } from '../core/jobs/index.js';
import type { MessageStatus } from './model.js';
import type { MailDeps } from './service.js';
import {
  type AttemptOutcome,
  type AttemptRow,
  getMessageRow,
  listAttempts,
  listMessageRows,
  type MessageRow,
} from './store.js';
import type { RefusedRecipient } from './transport.js';

/** How the API shows messages and their attempts. */

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
  /** The transport the attempt went through (null for attempts older than transports). */
  transport: string | null;
  /** The id the provider API gave the message, when a provider took it. */
  providerMessageId: string | null;
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
    transport: row.transport ?? null,
    providerMessageId: row.provider_message_id ?? null,
  };
}

/**
 * The API form of a message. `sendingSince`: when the run sending it now started (its job is
 * running), shown as status `sending` with an `in_progress` attempt; nothing of a run is stored
 * before it settles.
 */
function messageView(row: MessageRow, attempts: AttemptRow[], sendingSince: number | null): MessageView {
  const sending = sendingSince !== null;
  return {
    id: row.id,
    status: sending ? 'sending' : (row.status as MessageStatus),
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
    nextAttemptAt: sending ? null : iso(row.next_attempt_at),
    lastError: row.last_error_code
      ? { code: row.last_error_code, message: row.last_error_message ?? '' }
      : null,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
    sentAt: iso(row.sent_at),
    attempts: [
      ...attempts.map(attemptView),
      ...(sending ? [openAttemptView(Number(row.attempt_count) + 1, sendingSince)] : []),
    ],
  };
}

function openAttemptView(number: number, startedAt: number): AttemptView {
  return {
    number,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: null,
    durationMs: null,
    outcome: 'in_progress',
    smtpCode: null,
    smtpResponse: null,
    errorCode: null,
    errorMessage: null,
    accepted: null,
    rejected: null,
    transport: null,
    providerMessageId: null,
  };
}

/** When the runs sending these messages started, for those whose job is running now. */
async function sendingSince(db: Kysely<Database>, rows: readonly MessageRow[]): Promise<Map<string, number>> {
  return runningSince(
    db,
    rows.filter((row) => row.status === 'queued').map((row) => row.job_id),
  );
}

/** A message with every attempt; NOT_FOUND when there is none. */
export async function getMessage(deps: Pick<MailDeps, 'store'>, id: string): Promise<MessageView> {
  const { db } = deps.store;
  // The message and its attempts are two reads; an attempt settled between them would show
  // beside the message as it was before it. The message counts its attempts: read it again
  // until the two agree (the settlement writes both in one transaction).
  for (let tries = 1; ; tries++) {
    const row = await getMessageRow(db, id);
    if (!row) throw new AppError('NOT_FOUND', `no message has the id ${id}`);
    const attempts = await listAttempts(db, id);
    if (attempts.length !== Number(row.attempt_count) && tries < 5) continue;
    const since = (await sendingSince(db, [row])).get(row.job_id) ?? null;
    return messageView(row, attempts, since);
  }
}

/** Messages, newest first, without their attempts. */
export async function listMessages(
  deps: Pick<MailDeps, 'store'>,
  filter: { status?: MessageStatus; q?: string; before?: string; limit: number },
): Promise<{ messages: Omit<MessageView, 'attempts'>[]; nextBefore: string | null }> {
  const { db } = deps.store;
  // One row more than asked tells whether another page exists.
  const rows = await listMessageRows(deps.store, { ...filter, limit: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  const running = await sendingSince(db, page);
  const messages = page.map((row) => {
    const { attempts: _omitted, ...view } = messageView(row, [], running.get(row.job_id) ?? null);
    return view;
  });
  return { messages, nextBefore: rows.length > filter.limit ? (page.at(-1)?.id ?? null) : null };
}
