import type { AppError } from '../../core/errors.js';
import type { OutboundMessage, RefusedRecipient, SendResult } from '../transport.js';
import { HttpProviderTransport } from './http-transport.js';
import {
  authError,
  commonStatusError,
  type ProviderRequest,
  type ProviderResponse,
  parseJson,
  providerError,
  rejectedError,
  takenResult,
  unreadableAnswer,
} from './model.js';

/**
 * Postmark: `POST /email` with `X-Postmark-Server-Token`. Every answer carries `ErrorCode`
 * (0 is success) and `Message`. ErrorCode 406 names inactive recipients (hard bounce, spam
 * complaint, manual suppression): when others got the message it is a per-recipient refusal.
 * Attachments go as `Attachments: [{ Name, Content (base64), ContentType }]`.
 */

const PROVIDER = 'postmark';

/** The JSON body of `POST /email`. With `envelopeTo`, only those recipients (a retry). */
export function postmarkEmailBody(
  message: OutboundMessage,
  envelopeTo: string[] | undefined,
  messageStream: string | undefined,
): Record<string, unknown> {
  const to = envelopeTo ?? message.to;
  const cc = envelopeTo ? [] : message.cc;
  const bcc = envelopeTo ? [] : message.bcc;
  return {
    From: message.from,
    To: to.join(', '),
    ...(cc.length > 0 ? { Cc: cc.join(', ') } : {}),
    ...(bcc.length > 0 ? { Bcc: bcc.join(', ') } : {}),
    ...(message.replyTo ? { ReplyTo: message.replyTo } : {}),
    Subject: message.subject,
    ...(message.html !== undefined ? { HtmlBody: message.html } : {}),
    ...(message.text !== undefined ? { TextBody: message.text } : {}),
    // The Message-ID is Facteur's, as on the SMTP path, so receivers can drop repeats.
    Headers: [
      { Name: 'Message-ID', Value: message.messageId },
      ...Object.entries(message.headers).map(([Name, Value]) => ({ Name, Value })),
    ],
    ...(message.attachments && message.attachments.length > 0
      ? {
          Attachments: message.attachments.map((a) => ({
            Name: a.filename,
            Content: a.content,
            ContentType: a.contentType,
          })),
        }
      : {}),
    ...(messageStream ? { MessageStream: messageStream } : {}),
  };
}

interface PostmarkAnswer {
  ErrorCode?: number;
  Message?: string;
  MessageID?: string;
  To?: string;
  SubmittedAt?: string;
}

/** The addresses of "Found inactive addresses: a@x.com, b@y.com." in a 406 message. */
export function inactiveAddresses(text: string): string[] {
  const match = /inactive addresses?:\s*([\s\S]*?)(?:\.\s|\.$|$)/i.exec(text);
  if (!match) return [];
  return (match[1] as string)
    .split(/[,;\s]+/)
    .map((a) => a.trim().replace(/\.$/, '').toLowerCase())
    .filter((a) => a.includes('@'));
}

/** Reads Postmark's answer to `POST /email`: the result, or throws a classified AppError. */
export function readPostmarkAnswer(response: ProviderResponse, recipients: string[]): SendResult {
  const answer = parseJson(response.body) as PostmarkAnswer | undefined;
  const code = typeof answer?.ErrorCode === 'number' ? answer.ErrorCode : undefined;
  const text = typeof answer?.Message === 'string' ? answer.Message : null;
  const facts = {
    provider: PROVIDER,
    status: response.status,
    providerCode: code === undefined ? null : String(code),
    providerMessage: text,
  };
  const taken = (id: string, refused: RefusedRecipient[]) =>
    takenResult(response, `postmark MessageID ${id}`, recipients, id, refused);
  if (response.status === 200 && code === 0 && typeof answer?.MessageID === 'string') {
    return taken(answer.MessageID, []);
  }
  if (code === 406) {
    const inactive = new Set(inactiveAddresses(text ?? ''));
    const refusal = (address: string): RefusedRecipient => ({
      address,
      smtpCode: null,
      smtpResponse: text,
      providerCode: 'postmark:406',
      permanent: true,
    });
    const refused = recipients.filter((r) => inactive.has(r.toLowerCase())).map(refusal);
    // Postmark sent to the active recipients and gave the message an id: a partial outcome.
    if (typeof answer?.MessageID === 'string' && refused.length > 0 && refused.length < recipients.length)
      return taken(answer.MessageID, refused);
    return failWith(
      providerError('PROVIDER_REJECTED', `postmark refused inactive recipient(s) (406): ${text ?? ''}`, {
        ...facts,
        notTaken: false,
        refusedRecipients: refused.length > 0 ? refused : recipients.map(refusal),
      }),
    );
  }
  if (code === 10 || response.status === 401)
    return failWith(
      authError(PROVIDER, response.status, text, code === undefined ? undefined : String(code)),
    );
  const common = commonStatusError(PROVIDER, response, text);
  if (common) return failWith(common);
  if (code !== undefined && code !== 0) {
    const why =
      code === 300
        ? 'the request is not a valid email (ErrorCode 300)'
        : code === 400
          ? 'the sender signature is not found (ErrorCode 400): add the From address or its domain in Postmark'
          : code === 401
            ? 'the sender signature is not confirmed (ErrorCode 401): confirm it in Postmark'
            : `ErrorCode ${code}`;
    return failWith(rejectedError(`postmark rejected the message: ${why}${text ? `: ${text}` : ''}`, facts));
  }
  return failWith(unreadableAnswer(PROVIDER, response, 'without ErrorCode 0 and a MessageID'));
}

function failWith(error: Error): never {
  throw error;
}

/** Postmark through its API. */
export class PostmarkTransport extends HttpProviderTransport<{
  serverToken: string;
  messageStream: string | undefined;
}> {
  readonly kind = 'postmark';
  protected readonly readSendAnswer = readPostmarkAnswer;

  private headers(): Record<string, string> {
    return {
      accept: 'application/json',
      'content-type': 'application/json',
      'x-postmark-server-token': this.options.serverToken,
    };
  }

  protected async sendRequest(message: OutboundMessage, envelopeTo?: string[]): Promise<ProviderRequest> {
    return {
      method: 'POST',
      path: '/email',
      headers: this.headers(),
      body: JSON.stringify(postmarkEmailBody(message, envelopeTo, this.options.messageStream)),
    };
  }

  protected async verifyRequest(): Promise<ProviderRequest> {
    return { method: 'GET', path: '/server', headers: this.headers() };
  }

  protected verifyFailure(response: ProviderResponse): AppError {
    const answer = parseJson(response.body) as PostmarkAnswer | undefined;
    const text = typeof answer?.Message === 'string' ? answer.Message : null;
    if (answer?.ErrorCode === 10 || response.status === 401)
      return authError(PROVIDER, response.status, text);
    return (
      commonStatusError(PROVIDER, response, text) ?? unreadableAnswer(PROVIDER, response, 'to GET /server')
    );
  }
}
