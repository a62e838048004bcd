import type { AppError } from '../../core/errors.js';
import type { OutboundMessage, SendResult } from '../transport.js';
import { HttpProviderTransport } from './http-transport.js';
import {
  commonStatusError,
  emailObject,
  type ProviderRequest,
  type ProviderResponse,
  parseJson,
  rejectedError,
  takenResult,
  unreadableAnswer,
} from './model.js';

/**
 * SendGrid: `POST /v3/mail/send` with `Authorization: Bearer`. A taken message is `202` with an
 * empty body and its id in `X-Message-Id`; errors are `{ errors: [{ message, field, help }] }`.
 * SendGrid reports no per-recipient outcome at send time: the message is taken or refused whole.
 * Attachments go as `attachments: [{ content (base64), filename, type, disposition }]`.
 */

const PROVIDER = 'sendgrid';

/** The JSON body of `POST /v3/mail/send`. With `envelopeTo`, only those recipients (a retry). */
export function sendgridMailBody(message: OutboundMessage, envelopeTo?: string[]): Record<string, unknown> {
  const to = envelopeTo ?? message.to;
  const cc = envelopeTo ? [] : message.cc;
  const bcc = envelopeTo ? [] : message.bcc;
  const content: Array<{ type: string; value: string }> = [];
  // text/plain must come before text/html (SendGrid refuses the other order).
  if (message.text !== undefined) content.push({ type: 'text/plain', value: message.text || ' ' });
  if (message.html !== undefined) content.push({ type: 'text/html', value: message.html || ' ' });
  return {
    personalizations: [
      {
        to: to.map(emailObject),
        ...(cc.length > 0 ? { cc: cc.map(emailObject) } : {}),
        ...(bcc.length > 0 ? { bcc: bcc.map(emailObject) } : {}),
      },
    ],
    from: emailObject(message.from),
    ...(message.replyTo ? { reply_to: emailObject(message.replyTo) } : {}),
    subject: message.subject,
    content,
    headers: { 'Message-ID': message.messageId, ...message.headers },
    ...(message.attachments && message.attachments.length > 0
      ? {
          attachments: message.attachments.map((a) => ({
            content: a.content,
            filename: a.filename,
            type: bareMediaType(a.contentType),
            disposition: 'attachment',
          })),
        }
      : {}),
  };
}

/**
 * `text/csv; charset=utf-8` as `text/csv`: SendGrid refuses an attachment type holding `;` or
 * a line break (400, `attachments.N.type`).
 */
export function bareMediaType(contentType: string): string {
  return /^\s*([^;\s]+)/.exec(contentType)?.[1] ?? 'application/octet-stream';
}

/** The messages of a SendGrid error body, joined. */
export function sendgridErrorText(body: string): string | null {
  const answer = parseJson(body) as { errors?: Array<{ message?: unknown; field?: unknown }> } | undefined;
  if (!Array.isArray(answer?.errors)) return body.trim().slice(0, 300) || null;
  return (
    answer.errors
      .map(
        (e) =>
          `${typeof e.message === 'string' ? e.message : 'error'}${typeof e.field === 'string' && e.field ? ` (${e.field})` : ''}`,
      )
      .join('; ') || null
  );
}

/** Reads SendGrid's answer: the result, or throws a classified AppError. */
export function readSendgridAnswer(response: ProviderResponse, recipients: string[]): SendResult {
  if (response.status === 202 || response.status === 200) {
    const id = response.headers['x-message-id'];
    return takenResult(response, `sendgrid X-Message-Id ${id ?? '(none)'}`, recipients, id || undefined);
  }
  const text = sendgridErrorText(response.body);
  const facts = { provider: PROVIDER, status: response.status, providerMessage: text };
  // A 403 is also SendGrid's answer for a From that is not a verified Sender Identity.
  if (response.status === 403 && /sender identity|from address/i.test(text ?? ''))
    throw rejectedError(
      `sendgrid refused the sender (403): ${text}; verify the From address or its domain in SendGrid`,
      facts,
    );
  // 401 and 403 are a refused key, as for every provider (commonStatusError).
  const common = commonStatusError(PROVIDER, response, text);
  if (common) throw common;
  if (response.status === 413)
    throw rejectedError(`sendgrid refused the message as too large (413)${text ? `: ${text}` : ''}`, facts);
  if (response.status === 400)
    throw rejectedError(`sendgrid rejected the message (400): ${text ?? 'no reason given'}`, facts);
  throw unreadableAnswer(PROVIDER, response, 'instead of 202');
}

/** SendGrid through its v3 API. */
export class SendgridTransport extends HttpProviderTransport<{ apiKey: string }> {
  readonly kind = 'sendgrid';
  protected readonly readSendAnswer = readSendgridAnswer;

  private headers(): Record<string, string> {
    return {
      authorization: `Bearer ${this.options.apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json',
    };
  }

  protected async sendRequest(message: OutboundMessage, envelopeTo?: string[]): Promise<ProviderRequest> {
    return {
      method: 'POST',
      path: '/v3/mail/send',
      headers: this.headers(),
      body: JSON.stringify(sendgridMailBody(message, envelopeTo)),
    };
  }

  protected async verifyRequest(): Promise<ProviderRequest> {
    return { method: 'GET', path: '/v3/scopes', headers: this.headers() };
  }

  protected verifyFailure(response: ProviderResponse): AppError {
    const text = sendgridErrorText(response.body);
    return (
      commonStatusError(PROVIDER, response, text) ?? unreadableAnswer(PROVIDER, response, 'to GET /v3/scopes')
    );
  }
}
