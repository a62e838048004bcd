import { randomUUID } from 'node:crypto';
import type { AppError } from '../../core/errors.js';
import type { MessageAttachment, OutboundMessage, SendResult } from '../transport.js';
import { HttpProviderTransport } from './http-transport.js';
import {
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
 * Mailgun: `POST /v3/DOMAIN/messages`, form-encoded, Basic auth `api:KEY`. A taken message is
 * `200 { id, message: "Queued. Thank you." }`; errors are `{ message }` (401 is a plain
 * "Forbidden"). Extra headers go as `h:Name` fields, Facteur's Message-ID as `h:Message-Id`.
 * A message with attachments goes as multipart/form-data instead, each file an `attachment`
 * part (Mailgun takes files only that way). Mailgun reports no per-recipient outcome at send time.
 */

const PROVIDER = 'mailgun';

/** The form fields of `POST /v3/DOMAIN/messages`, in order (repeated names allowed). */
export function mailgunFormFields(message: OutboundMessage, envelopeTo?: string[]): Array<[string, string]> {
  const fields: Array<[string, string]> = [['from', message.from]];
  for (const to of envelopeTo ?? message.to) fields.push(['to', to]);
  if (!envelopeTo) {
    for (const cc of message.cc) fields.push(['cc', cc]);
    for (const bcc of message.bcc) fields.push(['bcc', bcc]);
  }
  fields.push(['subject', message.subject]);
  if (message.text !== undefined) fields.push(['text', message.text]);
  if (message.html !== undefined) fields.push(['html', message.html]);
  if (message.replyTo) fields.push(['h:Reply-To', message.replyTo]);
  fields.push(['h:Message-Id', message.messageId]);
  for (const [name, value] of Object.entries(message.headers)) fields.push([`h:${name}`, value]);
  return fields;
}

/** `name` or `filename` inside a quoted Content-Disposition parameter (as browsers escape them). */
function quoted(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * A multipart/form-data body (RFC 7578): the text fields, then one `attachment` part per file
 * with its filename, content type and decoded bytes. `boundary` must occur in no part.
 */
export function mailgunMultipart(
  fields: Array<[string, string]>,
  attachments: readonly MessageAttachment[],
  boundary: string,
): Buffer {
  const parts: Buffer[] = [];
  const head = (disposition: string, type?: string) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`,
      'utf8',
    );
  for (const [name, value] of fields) {
    parts.push(head(`name="${quoted(name)}"`), Buffer.from(value, 'utf8'), Buffer.from('\r\n'));
  }
  for (const file of attachments) {
    const type = file.contentType.replace(/[\r\n]/g, ' ').trim() || 'application/octet-stream';
    parts.push(
      head(`name="attachment"; filename="${quoted(file.filename)}"`, type),
      Buffer.from(file.content, 'base64'),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

/** The body and content type of a send: a form, or multipart/form-data when there are files. */
export function mailgunSendBody(
  message: OutboundMessage,
  envelopeTo?: string[],
): { contentType: string; body: string | Buffer } {
  const fields = mailgunFormFields(message, envelopeTo);
  const files = message.attachments ?? [];
  if (files.length === 0)
    return {
      contentType: 'application/x-www-form-urlencoded',
      body: new URLSearchParams(fields).toString(),
    };
  for (;;) {
    const boundary = `facteur-${randomUUID()}`;
    const body = mailgunMultipart(fields, files, boundary);
    // A part holding the boundary would end early: then again with another one.
    if (occurrences(body, boundary) === fields.length + files.length + 1)
      return { contentType: `multipart/form-data; boundary=${boundary}`, body };
  }
}

function occurrences(haystack: Buffer, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) count++;
  return count;
}

/** Reads Mailgun's answer: the result, or throws a classified AppError. */
export function readMailgunAnswer(response: ProviderResponse, recipients: string[]): SendResult {
  const answer = parseJson(response.body) as { id?: unknown; message?: unknown } | undefined;
  const text =
    typeof answer?.message === 'string' ? answer.message : response.body.trim().slice(0, 300) || null;
  if (response.status === 200 && typeof answer?.id === 'string')
    return takenResult(response, `mailgun ${text ?? 'queued'}`, recipients, answer.id);
  const facts = { provider: PROVIDER, status: response.status, providerMessage: text };
  // 401 and 403 are a refused key, as for every provider (commonStatusError).
  const common = commonStatusError(PROVIDER, response, text);
  if (common) throw common;
  const why: Record<number, string> = {
    400: 'rejected the message (400)',
    402: 'refused to send: the account needs payment or is restricted (402)',
    404: 'does not know this sending domain (404); check the domain after the host in FACTEUR_TRANSPORTS and the region (EU: api.eu.mailgun.net)',
    413: 'refused the message as too large (413)',
  };
  const reason = why[response.status];
  if (reason) throw rejectedError(`mailgun ${reason}${text ? `: ${text}` : ''}`, facts);
  throw unreadableAnswer(PROVIDER, response, 'instead of 200 with an id');
}

/** Mailgun through its v3 API. */
export class MailgunTransport extends HttpProviderTransport<{ apiKey: string; domain: string }> {
  readonly kind = 'mailgun';
  protected readonly readSendAnswer = readMailgunAnswer;

  private authorization(): string {
    return `Basic ${Buffer.from(`api:${this.options.apiKey}`).toString('base64')}`;
  }

  protected async sendRequest(message: OutboundMessage, envelopeTo?: string[]): Promise<ProviderRequest> {
    const { contentType, body } = mailgunSendBody(message, envelopeTo);
    return {
      method: 'POST',
      path: `/v3/${encodeURIComponent(this.options.domain)}/messages`,
      headers: {
        authorization: this.authorization(),
        'content-type': contentType,
        accept: 'application/json',
      },
      body,
    };
  }

  protected async verifyRequest(): Promise<ProviderRequest> {
    return {
      method: 'GET',
      path: `/v3/domains/${encodeURIComponent(this.options.domain)}`,
      headers: { authorization: this.authorization(), accept: 'application/json' },
    };
  }

  protected verifyFailure(response: ProviderResponse): AppError {
    const text = response.body.trim().slice(0, 300) || null;
    if (response.status === 404)
      return providerError(
        'PROVIDER_REJECTED',
        `mailgun does not know the domain ${this.options.domain} (404)`,
        { provider: PROVIDER, status: 404, providerMessage: text, notTaken: true },
      );
    return (
      commonStatusError(PROVIDER, response, text) ??
      unreadableAnswer(PROVIDER, response, 'to GET /v3/domains')
    );
  }
}
