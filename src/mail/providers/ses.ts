import type { AppError } from '../../core/errors.js';
import { composeMime } from '../mime.js';
import type { OutboundMessage, SendResult } from '../transport.js';
import { HttpProviderTransport } from './http-transport.js';
import {
  authError,
  commonStatusError,
  type ProviderRequest,
  type ProviderResponse,
  parseJson,
  providerError,
  rejectedError,
  retryAfterMs,
  takenResult,
  unreadableAnswer,
} from './model.js';
import { amzDate, signRequest } from './sigv4.js';

/**
 * Amazon SES, API v2: `POST /v2/email/outbound-emails` signed with SigV4 (service `ses`), the
 * message as raw MIME from Facteur's composer (mime.ts), the bytes the SMTP path sends, so
 * headers and Message-ID are the same whichever transport sends. The envelope is given as
 * `Destination` (Bcc is not in the MIME). Errors name their type in `x-amzn-ErrorType` (or the
 * body's `__type`).
 */

const PROVIDER = 'ses';

/** The JSON body of SendEmail (v2) with raw content. */
export function sesSendEmailBody(
  message: OutboundMessage,
  mime: Buffer,
  envelopeTo?: string[],
): Record<string, unknown> {
  const destination = envelopeTo
    ? { ToAddresses: envelopeTo }
    : {
        ToAddresses: message.to,
        ...(message.cc.length > 0 ? { CcAddresses: message.cc } : {}),
        ...(message.bcc.length > 0 ? { BccAddresses: message.bcc } : {}),
      };
  return {
    FromEmailAddress: message.from,
    Destination: destination,
    ...(message.replyTo ? { ReplyToAddresses: [message.replyTo] } : {}),
    Content: { Raw: { Data: mime.toString('base64') } },
  };
}

/** The error type of an SES answer: `x-amzn-ErrorType` up to its colon, or the body's `__type`. */
export function sesErrorType(response: ProviderResponse): string | null {
  const header = response.headers['x-amzn-errortype'];
  const body = parseJson(response.body) as { __type?: unknown } | undefined;
  const raw = header ?? (typeof body?.__type === 'string' ? body.__type : undefined);
  if (!raw) return null;
  // `MessageRejected:http://internal.amazon.com/...` or `com.amazon.ses#MessageRejected`.
  return (raw.split(':')[0] as string).split('#').pop() ?? null;
}

const THROTTLED = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'ThrottlingException',
  'Throttling',
]);
const BAD_AUTH = new Set([
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'SignatureDoesNotMatchException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'IncompleteSignatureException',
  'AccessDeniedException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
]);
const REJECTED: Record<string, string> = {
  MessageRejected: 'rejected the message (MessageRejected; e.g. an unverified address in the sandbox)',
  MailFromDomainNotVerifiedException: 'refused the sender: its MAIL FROM domain is not verified',
  BadRequestException: 'rejected the request (BadRequestException)',
  NotFoundException: 'does not know a resource the request names (NotFoundException)',
  AccountSuspendedException: 'refused to send: the account is suspended',
};

/** Reads the SES answer: the result, or throws a classified AppError. */
export function readSesAnswer(response: ProviderResponse, recipients: string[]): SendResult {
  const answer = parseJson(response.body) as
    | { MessageId?: unknown; message?: unknown; Message?: unknown }
    | undefined;
  if (response.status === 200 && typeof answer?.MessageId === 'string')
    return takenResult(response, `ses MessageId ${answer.MessageId}`, recipients, answer.MessageId);
  const type = sesErrorType(response);
  const text =
    typeof answer?.message === 'string'
      ? answer.message
      : typeof answer?.Message === 'string'
        ? answer.Message
        : null;
  const facts = { provider: PROVIDER, status: response.status, providerCode: type, providerMessage: text };
  if (type && THROTTLED.has(type))
    throw providerError(
      'PROVIDER_RATE_LIMITED',
      `ses is throttling sends (${type})${text ? `: ${text}` : ''}`,
      {
        ...facts,
        notTaken: true,
        retryAfterMs: retryAfterMs(response.headers['retry-after']),
      },
    );
  if (type === 'SendingPausedException')
    throw providerError(
      'PROVIDER_UNAVAILABLE',
      `ses sending is paused for the account or configuration set${text ? `: ${text}` : ''}`,
      {
        ...facts,
        notTaken: true,
      },
    );
  if (type === 'AccountSuspendedException' || (type && BAD_AUTH.has(type)))
    throw authError(PROVIDER, response.status, `${type}${text ? `: ${text}` : ''}`, type);
  const rejected = type ? REJECTED[type] : undefined;
  if (rejected) throw rejectedError(`ses ${rejected}${text ? `: ${text}` : ''}`, facts);
  const common = commonStatusError(PROVIDER, response, text);
  if (common) throw common;
  if (response.status === 400)
    throw rejectedError(
      `ses rejected the message (400${type ? ` ${type}` : ''})${text ? `: ${text}` : ''}`,
      facts,
    );
  throw unreadableAnswer(PROVIDER, response, 'without a MessageId');
}

/** Amazon SES through its v2 API. */
export class SesTransport extends HttpProviderTransport<{
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}> {
  readonly kind = 'ses';
  protected readonly readSendAnswer = readSesAnswer;

  /** A signed request; the signature covers host, content-type and x-amz-date. */
  private signed(method: 'GET' | 'POST', path: string, body: string): ProviderRequest {
    const prefix = this.apiBase.pathname.replace(/\/+$/, '');
    const headers: Record<string, string> = {
      host: this.apiBase.host,
      'x-amz-date': amzDate(this.deps.clock.now()),
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    };
    const { accessKeyId, secretAccessKey, region } = this.options;
    const { authorization } = signRequest({
      method,
      path: `${prefix}${path}`,
      headers,
      body,
      service: 'ses',
      amzDate: headers['x-amz-date'] as string,
      accessKeyId,
      secretAccessKey,
      region,
    });
    const { host: _host, ...sent } = headers; // undici sets Host from the origin itself
    return { method, path, headers: { ...sent, authorization }, ...(method === 'POST' ? { body } : {}) };
  }

  protected async sendRequest(message: OutboundMessage, envelopeTo?: string[]): Promise<ProviderRequest> {
    const mime = composeMime(message, new Date(this.deps.clock.now()));
    return this.signed(
      'POST',
      '/v2/email/outbound-emails',
      JSON.stringify(sesSendEmailBody(message, mime, envelopeTo)),
    );
  }

  protected async verifyRequest(): Promise<ProviderRequest> {
    return this.signed('GET', '/v2/email/account', '');
  }

  protected verifyFailure(response: ProviderResponse): AppError {
    readSesAnswer(response, []); // throws the classified error of any answer but 200
    return unreadableAnswer(PROVIDER, response, 'to GET /v2/email/account');
  }
}
