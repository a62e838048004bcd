import { z } from 'zod';
import { sha256Hex } from '../core/crypto/index.js';
import { parseMailbox } from '../core/email-address.js';
import { AppError } from '../core/errors.js';

export { addressProblem, formatMailbox, type Mailbox, parseMailbox } from '../core/email-address.js';

/**
 * Outbound messages: what a send request may contain, how addresses and headers are checked
 * (no header injection, no malformed recipients reaching the SMTP server), and how SMTP
 * failures are classified. Pure: no I/O.
 */

/** Message states as the API shows them. */
export type MessageStatus = 'queued' | 'sending' | 'sent' | 'failed';

const mailboxString = z.string().superRefine((value, ctx) => {
  const parsed = parseMailbox(value);
  if ('problem' in parsed)
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value.slice(0, 80))} ${parsed.problem}` });
});

/** Headers Facteur sets itself; a request may not override them. */
export const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'sender',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'return-path',
]);

/** Most recipients (to + cc + bcc) one message may have. */
export const MAX_RECIPIENTS = 100;

/** Why a header name may not be used, or undefined when it may. */
export function headerNameProblem(name: string): string | undefined {
  if (!/^[!-9;-~]{1,76}$/.test(name))
    return 'is not a valid header name (printable ASCII without spaces or colons)';
  if (RESERVED_HEADERS.has(name.toLowerCase()))
    return 'is set by Facteur from the message fields and cannot be given as a header';
  return undefined;
}

const headerValue = z
  .string()
  .max(998, 'is longer than 998 characters')
  .refine((v) => !/[\r\n]/.test(v), 'must not contain line breaks');

/** The body of `POST /api/messages` (and of `facteur send`). */
export const messageInputSchema = z
  .strictObject({
    from: mailboxString.optional().describe('Sender; FACTEUR_MAIL_FROM when omitted.'),
    to: z
      .array(mailboxString)
      .min(1, 'needs at least one recipient')
      .max(MAX_RECIPIENTS)
      .describe('Recipients: "addr" or "Name <addr>".'),
    cc: z.array(mailboxString).max(MAX_RECIPIENTS).optional(),
    bcc: z.array(mailboxString).max(MAX_RECIPIENTS).optional(),
    replyTo: mailboxString.optional(),
    subject: z
      .string()
      .min(1, 'must not be empty')
      .max(998, 'is longer than 998 characters')
      .refine((v) => !/[\r\n]/.test(v), 'must not contain line breaks'),
    text: z.string().optional().describe('Plain-text body. At least one of text and html is required.'),
    html: z.string().optional().describe('HTML body.'),
    headers: z
      .record(z.string(), headerValue)
      .superRefine((headers, ctx) => {
        const names = Object.keys(headers);
        if (names.length > 50) ctx.addIssue({ code: 'custom', message: 'has more than 50 headers' });
        for (const name of names) {
          const problem = headerNameProblem(name);
          if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
        }
      })
      .optional()
      .describe('Extra headers, e.g. {"X-Campaign": "daily-report"}.'),
    idempotencyKey: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .describe('Sending again with the same key returns the same message and sends nothing.'),
  })
  .superRefine((input, ctx) => {
    if (input.text === undefined && input.html === undefined) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'text or html is required' });
    }
    const total = input.to.length + (input.cc?.length ?? 0) + (input.bcc?.length ?? 0);
    if (total > MAX_RECIPIENTS) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `has ${total} recipients with cc and bcc; at most ${MAX_RECIPIENTS}`,
      });
    }
  });

/** A validated send request. */
export type MessageInput = z.infer<typeof messageInputSchema>;

/** A stable digest of a request (idempotency key excluded), to detect a key reused with a different body. */
export function requestHash(input: MessageInput): string {
  const { idempotencyKey: _ignored, ...rest } = input;
  return sha256Hex(canonicalJson(rest));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A Message-ID in the sender's domain (kept stable across retries so receivers can drop repeats). */
export function newMessageIdHeader(id: string, from: string): string {
  const parsed = parseMailbox(from);
  const domain = 'address' in parsed ? (parsed.address.split('@').pop() ?? 'facteur.local') : 'facteur.local';
  const safeDomain = /^[A-Za-z0-9.-]+$/.test(domain) ? domain : 'facteur.local';
  return `<${id}@${safeDomain}>`;
}

/** The fields of a library error that classification looks at. */
export interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message: string;
}

const AUTH_REPLY_CODES = new Set([530, 534, 535, 538]);
const CONNECT_CODES = new Set([
  'ECONNECTION',
  'ESOCKET',
  'EDNS',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** The reply code at the start of an SMTP response line, if any. */
export function replyCodeOf(response: string | undefined): number | undefined {
  const match = /^([2-5]\d\d)[\s-]/.exec(response ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * Classifies an SMTP failure: 4xx are transient (retried), 5xx are permanent (failed with the
 * server's reply), authentication failures are retried so that fixing the password lets queued
 * mail through, network and timeout failures are retried.
 */
export function classifySmtpFailure(failure: SmtpFailure): AppError {
  const smtpCode = failure.responseCode ?? replyCodeOf(failure.response);
  const details = {
    smtpCode: smtpCode ?? null,
    smtpResponse: failure.response ?? null,
    command: failure.command ?? null,
  };
  const reply = failure.response ? `: ${failure.response}` : '';
  if (failure.code === 'EAUTH' || (smtpCode !== undefined && AUTH_REPLY_CODES.has(smtpCode))) {
    return new AppError(
      'SMTP_AUTH',
      `the SMTP server refused authentication${reply || `: ${failure.message}`}`,
      { details },
    );
  }
  if (smtpCode !== undefined && smtpCode >= 400 && smtpCode < 500) {
    return new AppError('SMTP_TRANSIENT', `temporary SMTP failure${reply}`, { details });
  }
  if (smtpCode !== undefined && smtpCode >= 500) {
    return new AppError('SMTP_REJECTED', `the SMTP server rejected the message${reply}`, { details });
  }
  if (failure.code === 'ETIMEDOUT' || /timeout|timed out|never received/i.test(failure.message)) {
    return new AppError('SMTP_TIMEOUT', `the SMTP server did not answer in time: ${failure.message}`, {
      details,
    });
  }
  if (
    failure.code === 'ETLS' ||
    /\b(TLS|SSL|certificate|CERT_|self[- ]signed)\b/i.test(`${failure.code ?? ''} ${failure.message}`)
  ) {
    return new AppError('SMTP_TLS', `TLS with the SMTP server failed: ${failure.message}`, { details });
  }
  if (failure.code !== undefined && CONNECT_CODES.has(failure.code)) {
    return new AppError('SMTP_CONNECT', `cannot reach the SMTP server: ${failure.message}`, { details });
  }
  return new AppError('SMTP_PROTOCOL', `SMTP conversation failed: ${failure.message}`, { details });
}

/** Whether a failure says the server is unreachable (what the circuit breaker counts), rather than it answering no. */
export function isConnectivityFailure(error: AppError): boolean {
  return error.code === 'SMTP_CONNECT' || error.code === 'SMTP_TIMEOUT' || error.code === 'SMTP_TLS';
}

/** The queue of message sends: one job per message. */
export const SEND_QUEUE = 'mail.send';
