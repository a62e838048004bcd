import { execFileSync } from 'node:child_process';
import { createHmac, sign as cryptoSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import type { Registry } from 'prom-client';
import { vi } from 'vitest';
import type { Feedback } from '../../src/campaigns/feedback-model.js';
import { registerFeedbackRoutes } from '../../src/campaigns/provider-feedback/index.js';
import type { Clock } from '../../src/core/clock.js';
import type { FeedbackConfig } from '../../src/core/config/feedback-variables.js';
import { AppError } from '../../src/core/errors.js';
import { createHttpServer } from '../../src/core/http/server.js';
import { parseTargetPolicy, TargetGuard } from '../../src/core/net/ssrf.js';
import { createLogger, createMetricsRegistry, HealthRegistry } from '../../src/core/observability/index.js';
import { signRequest } from '../../src/mail/providers/sigv4.js';
import { makeTestCertificates } from './certificates.js';
import type { TestFacteur } from './facteur.js';

/**
 * Local stand-ins for the provider APIs (Postmark, SendGrid, Mailgun, SES v2), speaking their
 * documented request and response shapes on loopback. Each checks the auth header (SES: the
 * SigV4 signature, recomputed with the known secret), validates the body, records what it
 * accepted, and can be scripted to answer the next sends otherwise: throttled (429), down (503),
 * an invalid recipient, a bad key, no answer at all (`hang`) or a reset after reading the request.
 * Attachments are checked in each provider's documented form and recorded as decoded bytes.
 */

/** What the next send request gets instead of being accepted. */
export type ScriptedAnswer =
  | 'accept'
  | 'rate_limited'
  | 'unavailable'
  | 'invalid_recipient'
  | 'bad_key'
  | 'hang'
  | 'reset';

/** A send the server accepted. */
export interface AcceptedSend {
  id: string;
  /** The parsed body (JSON, or the form fields with repeated names as arrays). */
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  /** SES: the decoded raw MIME. */
  mime?: string;
  /** The files the request carried, decoded (empty when none). */
  attachments: ReceivedAttachment[];
}

/** A file as the provider received it. */
export interface ReceivedAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  /** SendGrid's `disposition`, the MIME part's Content-Disposition (SES); undefined elsewhere. */
  disposition?: string;
}

/** A running provider stand-in. */
export interface ProviderServer {
  readonly kind: 'postmark' | 'sendgrid' | 'mailgun' | 'ses';
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly accepted: AcceptedSend[];
  /** Every send request received (accepted or not). */
  readonly received: number;
  /** Answers for the next send requests, in order; then `accept` again. */
  script(...answers: ScriptedAnswer[]): void;
  /** The FACTEUR_TRANSPORTS item pointing at this server (with the right key unless `key` is given). */
  transportUrl(options?: { key?: string; name?: string }): string;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
interface Exchange {
  request: IncomingMessage;
  body: string;
  /** The body's bytes (multipart). */
  raw: Buffer;
  respond: (status: number, body: Json | string, headers?: Record<string, string>) => void;
}
interface Behaviour {
  /** Null when the auth is right; otherwise the documented refusal. */
  authProblem(exchange: Exchange): boolean;
  /** Validates and answers a send; returns the accepted send, or undefined when it answered an error. */
  send(
    exchange: Exchange,
    scripted: ScriptedAnswer,
  ): AcceptedSend | undefined | Promise<AcceptedSend | undefined>;
  isSend(request: IncomingMessage): boolean;
  transportUrl(url: string, key: string | undefined, name: string | undefined): string;
}

async function startProviderServer(
  kind: ProviderServer['kind'],
  behaviour: Behaviour,
): Promise<ProviderServer> {
  const accepted: AcceptedSend[] = [];
  const queue: ScriptedAnswer[] = [];
  const sockets = new Set<Socket>();
  let received = 0;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const exchange: Exchange = {
        request,
        body: raw.toString('utf8'),
        raw,
        respond: (status, body, headers = {}) => {
          const text = typeof body === 'string' ? body : JSON.stringify(body);
          response.writeHead(status, {
            'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
            ...headers,
          });
          response.end(text);
        },
      };
      if (behaviour.authProblem(exchange)) return;
      if (!behaviour.isSend(request)) return exchange.respond(200, { ok: true });
      received++;
      const scripted = queue.shift() ?? 'accept';
      if (scripted === 'hang') return; // no answer: the client times out
      if (scripted === 'reset') return request.socket.destroy();
      try {
        const send = await behaviour.send(exchange, scripted);
        if (send) accepted.push(send);
      } catch (error) {
        if (!response.headersSent) exchange.respond(500, `stand-in failed: ${String(error)}`);
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    kind,
    url,
    accepted,
    get received() {
      return received;
    },
    script: (...answers) => queue.push(...answers),
    transportUrl: (options = {}) => behaviour.transportUrl(url, options.key, options.name),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const query = (url: string, name: string | undefined, extra = ''): string =>
  `?api_base=${encodeURIComponent(url)}${name ? `&name=${name}` : ''}${extra}`;

const parseJson = (text: string): Json | undefined => {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
};

/** Strict base64 (the alphabet, padded to a multiple of 4), as the providers require. */
const isBase64 = (value: unknown): value is string =>
  typeof value === 'string' && value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value);

const isAddress = (value: unknown): boolean =>
  typeof value === 'string' && /^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?$/.test(value.trim());

/** Postmark `POST /email` with `X-Postmark-Server-Token`. `inactive`: addresses Postmark has marked inactive. */
export function startPostmarkServer(
  options: { token?: string; inactive?: string[] } = {},
): Promise<ProviderServer> {
  const token = options.token ?? 'postmark-server-token';
  const inactive = new Set((options.inactive ?? []).map((a) => a.toLowerCase()));
  const invalid = (respond: Exchange['respond'], message: string) =>
    respond(422, { ErrorCode: 300, Message: message });
  return startProviderServer('postmark', {
    isSend: (request) => request.method === 'POST' && request.url === '/email',
    authProblem: ({ request, respond }) => {
      if (request.headers['x-postmark-server-token'] === token) return false;
      respond(401, {
        ErrorCode: 10,
        Message:
          'The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token.',
      });
      return true;
    },
    send: ({ body, request, respond }, scripted) => {
      if (scripted === 'rate_limited')
        return void respond(429, { ErrorCode: 429, Message: 'Rate limit exceeded.' });
      if (scripted === 'unavailable') return void respond(503, 'Service Unavailable');
      if (scripted === 'bad_key')
        return void respond(401, { ErrorCode: 10, Message: 'Bad or missing API token' });
      const email = parseJson(body);
      if (
        !email ||
        typeof email.From !== 'string' ||
        typeof email.To !== 'string' ||
        typeof email.Subject !== 'string'
      )
        return void invalid(respond, 'Invalid JSON or missing From, To, Subject');
      if (email.TextBody === undefined && email.HtmlBody === undefined)
        return void invalid(respond, 'Provide either email TextBody or HtmlBody or both.');
      if (!Array.isArray(email.Headers))
        return void invalid(respond, 'Headers must be an array of {Name, Value}');
      // Attachments: [{ Name, Content (base64), ContentType }]
      const attachments: ReceivedAttachment[] = [];
      if (email.Attachments !== undefined) {
        if (!Array.isArray(email.Attachments)) return void invalid(respond, 'Attachments must be an array');
        for (const item of email.Attachments as Json[]) {
          if (typeof item?.Name !== 'string' || item.Name === '')
            return void invalid(respond, 'Attachment Name is required');
          if (typeof item.ContentType !== 'string' || item.ContentType === '')
            return void invalid(respond, `Attachment '${item.Name}' has no ContentType`);
          if (!isBase64(item.Content))
            return void invalid(respond, `Attachment '${item.Name}' Content must be base64-encoded`);
          attachments.push({
            filename: item.Name,
            contentType: item.ContentType,
            content: Buffer.from(item.Content, 'base64'),
          });
        }
      }
      const recipients = [email.To, email.Cc, email.Bcc]
        .filter((v): v is string => typeof v === 'string')
        .flatMap((v) => v.split(','))
        .map((v) => v.trim());
      const bad = recipients.find((r) => !isAddress(r));
      if (scripted === 'invalid_recipient' || bad)
        return void invalid(
          respond,
          `Error parsing 'To': Illegal email address '${bad ?? recipients[0]}'. It must contain the '@' symbol.`,
        );
      const bare = recipients.map((r) => (/<([^>]+)>/.exec(r)?.[1] ?? r).toLowerCase());
      const found = bare.filter((r) => inactive.has(r));
      const id = randomUUID();
      const inactiveMessage = `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ${found.join(', ')}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.`;
      if (found.length > 0 && found.length === bare.length)
        return void respond(422, { ErrorCode: 406, Message: inactiveMessage });
      const answer = { To: email.To, SubmittedAt: new Date().toISOString(), MessageID: id };
      respond(
        200,
        found.length > 0
          ? { ...answer, ErrorCode: 406, Message: inactiveMessage }
          : { ...answer, ErrorCode: 0, Message: 'OK' },
      );
      return { id, body: email, headers: request.headers, attachments };
    },
    transportUrl: (url, key, name) =>
      `postmark://${encodeURIComponent(key ?? token)}@api.postmarkapp.com${query(url, name)}`,
  });
}

/** SendGrid `POST /v3/mail/send` with `Authorization: Bearer`. */
export function startSendgridServer(options: { apiKey?: string } = {}): Promise<ProviderServer> {
  const apiKey = options.apiKey ?? 'SG.test-key';
  const errors = (
    respond: Exchange['respond'],
    status: number,
    message: string,
    field: string | null = null,
  ) => respond(status, { errors: [{ message, field, help: null }] });
  return startProviderServer('sendgrid', {
    isSend: (request) => request.method === 'POST' && request.url === '/v3/mail/send',
    authProblem: ({ request, respond }) => {
      if (request.headers.authorization === `Bearer ${apiKey}`) return false;
      errors(respond, 401, 'The provided authorization grant is invalid, expired, or revoked');
      return true;
    },
    send: ({ body, request, respond }, scripted) => {
      if (scripted === 'rate_limited') return void errors(respond, 429, 'too many requests');
      if (scripted === 'unavailable') return void respond(503, '');
      if (scripted === 'bad_key')
        return void errors(respond, 401, 'The provided authorization grant is invalid, expired, or revoked');
      const mail = parseJson(body);
      const personalization = Array.isArray(mail?.personalizations)
        ? (mail.personalizations[0] as Json | undefined)
        : undefined;
      const to = Array.isArray(personalization?.to) ? (personalization.to as Array<{ email?: unknown }>) : [];
      if (!mail || to.length === 0)
        return void errors(
          respond,
          400,
          'The to array is required for all personalization objects',
          'personalizations.0.to',
        );
      if (typeof (mail.from as Json | undefined)?.email !== 'string')
        return void errors(respond, 400, 'The from object must be provided for every email send.', 'from');
      if (typeof mail.subject !== 'string')
        return void errors(respond, 400, 'The subject is required.', 'subject');
      const content = Array.isArray(mail.content)
        ? (mail.content as Array<{ type?: unknown; value?: unknown }>)
        : [];
      if (content.length === 0 || content.some((c) => typeof c.value !== 'string' || c.value === ''))
        return void errors(
          respond,
          400,
          'Unless a valid template_id is provided, the content parameter is required.',
          'content',
        );
      if (content.length > 1 && content[0]?.type !== 'text/plain')
        return void errors(respond, 400, 'The text/plain content type must be first.', 'content');
      const all = ['to', 'cc', 'bcc'].flatMap((k) =>
        Array.isArray(personalization?.[k]) ? (personalization[k] as Array<{ email?: unknown }>) : [],
      );
      const bad = all.findIndex((r) => !isAddress(r.email));
      if (scripted === 'invalid_recipient' || bad >= 0)
        return void errors(
          respond,
          400,
          'Does not contain a valid address.',
          `personalizations.0.to.${Math.max(bad, 0)}.email`,
        );
      // attachments: [{ content (base64), filename, type?, disposition? }]
      const attachments: ReceivedAttachment[] = [];
      if (mail.attachments !== undefined) {
        if (!Array.isArray(mail.attachments))
          return void errors(respond, 400, 'The attachments must be an array.', 'attachments');
        for (const [index, item] of (mail.attachments as Json[]).entries()) {
          const field = `attachments.${index}`;
          if (typeof item?.content !== 'string' || item.content === '')
            return void errors(respond, 400, 'The attachment content is required.', `${field}.content`);
          if (!isBase64(item.content))
            return void errors(
              respond,
              400,
              'The attachment content must be base64 encoded.',
              `${field}.content`,
            );
          if (typeof item.filename !== 'string' || item.filename === '')
            return void errors(
              respond,
              400,
              'The attachment filename parameter is required.',
              `${field}.filename`,
            );
          if (item.type !== undefined && (typeof item.type !== 'string' || /[;\r\n]/.test(item.type)))
            return void errors(
              respond,
              400,
              "The attachment type cannot contain ';', or CRLF characters.",
              `${field}.type`,
            );
          if (
            item.disposition !== undefined &&
            item.disposition !== 'attachment' &&
            item.disposition !== 'inline'
          )
            return void errors(
              respond,
              400,
              'The disposition of your attachment can be either "inline" or "attachment".',
              `${field}.disposition`,
            );
          attachments.push({
            filename: item.filename,
            contentType: typeof item.type === 'string' ? item.type : 'application/octet-stream',
            content: Buffer.from(item.content, 'base64'),
            disposition: typeof item.disposition === 'string' ? item.disposition : 'attachment',
          });
        }
      }
      const id = randomUUID().replace(/-/g, '').slice(0, 22);
      respond(202, '', { 'x-message-id': id });
      return { id, body: mail, headers: request.headers, attachments };
    },
    transportUrl: (url, key, name) =>
      `sendgrid://${encodeURIComponent(key ?? apiKey)}@api.sendgrid.com${query(url, name)}`,
  });
}

/**
 * Mailgun `POST /v3/DOMAIN/messages`, form-encoded or multipart/form-data, Basic `api:KEY`.
 * Files come only as multipart `attachment` parts (a plain `attachment` field is refused).
 */
export function startMailgunServer(
  options: { apiKey?: string; domain?: string } = {},
): Promise<ProviderServer> {
  const apiKey = options.apiKey ?? 'key-mailgun-test';
  const domain = options.domain ?? 'mg.example.com';
  return startProviderServer('mailgun', {
    isSend: (request) => request.method === 'POST' && /^\/v3\/[^/]+\/messages$/.test(request.url ?? ''),
    authProblem: ({ request, respond }) => {
      if (request.headers.authorization === `Basic ${Buffer.from(`api:${apiKey}`).toString('base64')}`)
        return false;
      respond(401, 'Forbidden');
      return true;
    },
    send: async ({ body, raw, request, respond }, scripted) => {
      if (scripted === 'rate_limited') return void respond(429, { message: 'Too many requests' });
      if (scripted === 'unavailable') return void respond(503, { message: 'Service Unavailable' });
      if (scripted === 'bad_key') return void respond(401, 'Forbidden');
      if (request.url !== `/v3/${domain}/messages`)
        return void respond(404, { message: `Domain not found: ${request.url?.split('/')[2]}` });
      const contentType = String(request.headers['content-type']);
      let form: URLSearchParams;
      const attachments: ReceivedAttachment[] = [];
      if (contentType.startsWith('application/x-www-form-urlencoded')) {
        form = new URLSearchParams(body);
      } else if (contentType.startsWith('multipart/form-data')) {
        // Parsed by the platform's own multipart reader, independent of the transport's encoder.
        let parts: FormData;
        try {
          parts = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
        } catch {
          return void respond(400, { message: 'malformed multipart/form-data body' });
        }
        form = new URLSearchParams();
        for (const [name, value] of parts.entries()) {
          if (typeof value === 'string') form.append(name, value);
          else if (name !== 'attachment' && name !== 'inline')
            return void respond(400, { message: `unexpected file in field '${name}'` });
          else if (name === 'attachment')
            attachments.push({
              filename: value.name,
              contentType: value.type,
              content: Buffer.from(await value.arrayBuffer()),
            });
        }
      } else return void respond(400, { message: 'expected a form' });
      if (form.has('attachment'))
        return void respond(400, {
          message: 'attachment must be a file: use multipart/form-data encoding when sending attachments',
        });
      const fields: Record<string, unknown> = {};
      for (const key of new Set(form.keys())) {
        const values = form.getAll(key);
        fields[key] = values.length > 1 || ['to', 'cc', 'bcc'].includes(key) ? values : values[0];
      }
      if (!form.get('from')) return void respond(400, { message: "'from' parameter is missing" });
      if (form.getAll('to').length === 0) return void respond(400, { message: "'to' parameter is missing" });
      if (!form.get('text') && !form.get('html'))
        return void respond(400, { message: "Need at least one of 'text' or 'html' parameters specified" });
      const bad = [...form.getAll('to'), ...form.getAll('cc'), ...form.getAll('bcc')].find(
        (r) => !isAddress(r),
      );
      if (scripted === 'invalid_recipient' || bad)
        return void respond(400, {
          message: 'to parameter is not a valid address. please check documentation',
        });
      const id = `<${randomUUID()}@${domain}>`;
      respond(200, { id, message: 'Queued. Thank you.' });
      return { id, body: fields, headers: request.headers, attachments };
    },
    transportUrl: (url, key, name) =>
      `mailgun://${encodeURIComponent(key ?? apiKey)}@api.mailgun.net/${domain}${query(url, name)}`,
  });
}

/** SES v2 `POST /v2/email/outbound-emails`, SigV4 checked with the known secret. */
export function startSesServer(
  options: { accessKeyId?: string; secretAccessKey?: string; region?: string } = {},
): Promise<ProviderServer> {
  const accessKeyId = options.accessKeyId ?? 'AKIAFACTEURTEST';
  const secretAccessKey = options.secretAccessKey ?? 'facteur/test+secret';
  const region = options.region ?? 'eu-west-1';
  const error = (respond: Exchange['respond'], status: number, type: string, message: string) =>
    respond(
      status,
      { message },
      { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/` },
    );
  return startProviderServer('ses', {
    isSend: (request) => request.method === 'POST' && request.url === '/v2/email/outbound-emails',
    authProblem: ({ request, body, respond }) => {
      const auth =
        /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
          String(request.headers.authorization ?? ''),
        );
      const amzDate = String(request.headers['x-amz-date'] ?? '');
      if (!auth || auth[1] !== accessKeyId) {
        error(
          respond,
          403,
          'UnrecognizedClientException',
          'The security token included in the request is invalid.',
        );
        return true;
      }
      const signed = (auth[5] as string).split(';');
      const headers = Object.fromEntries(signed.map((name) => [name, String(request.headers[name] ?? '')]));
      const expected = signRequest({
        method: request.method ?? 'GET',
        path: (request.url ?? '/').split('?')[0] as string,
        query: (request.url ?? '').split('?')[1] ?? '',
        headers,
        body,
        region: auth[3] as string,
        service: auth[4] as string,
        accessKeyId,
        secretAccessKey,
        amzDate,
      });
      const valid =
        signed.includes('host') &&
        signed.includes('x-amz-date') &&
        auth[2] === amzDate.slice(0, 8) &&
        auth[3] === region &&
        auth[4] === 'ses' &&
        expected.signature === auth[6];
      if (valid) return false;
      error(
        respond,
        403,
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
      return true;
    },
    send: async ({ body, request, respond }, scripted) => {
      if (scripted === 'rate_limited')
        return void error(respond, 429, 'TooManyRequestsException', 'Too Many Requests');
      if (scripted === 'unavailable') return void respond(503, { message: 'Service Unavailable' });
      if (scripted === 'bad_key')
        return void error(
          respond,
          403,
          'InvalidSignatureException',
          'The request signature we calculated does not match.',
        );
      const input = parseJson(body);
      const destination = input?.Destination as Json | undefined;
      const to = Array.isArray(destination?.ToAddresses) ? (destination.ToAddresses as unknown[]) : [];
      const raw = ((input?.Content as Json | undefined)?.Raw as Json | undefined)?.Data;
      if (!input || typeof input.FromEmailAddress !== 'string' || to.length === 0 || typeof raw !== 'string')
        return void error(
          respond,
          400,
          'BadRequestException',
          'FromEmailAddress, Destination and Content.Raw.Data are required',
        );
      if (!isBase64(raw))
        return void error(respond, 400, 'BadRequestException', 'Content.Raw.Data must be base64-encoded');
      const mime = Buffer.from(raw, 'base64').toString('utf8');
      if (!/^Message-ID: <[^>]+>$/im.test(mime) || !/^Subject: /im.test(mime))
        return void error(
          respond,
          400,
          'BadRequestException',
          'the raw message has no Message-ID or Subject header',
        );
      const all = ['ToAddresses', 'CcAddresses', 'BccAddresses'].flatMap((k) =>
        Array.isArray(destination?.[k]) ? (destination[k] as unknown[]) : [],
      );
      if (scripted === 'invalid_recipient' || all.some((r) => !isAddress(r)))
        return void error(
          respond,
          400,
          'MessageRejected',
          'Email address is not verified. The following identities failed the check in region EU-WEST-1: nobody@invalid',
        );
      // The files are MIME parts of the raw message, read back by mailparser.
      const parsed = await simpleParser(Buffer.from(raw, 'base64'));
      const attachments: ReceivedAttachment[] = parsed.attachments.map((a) => ({
        filename: a.filename ?? '',
        contentType: a.contentType,
        content: a.content,
        disposition: a.contentDisposition,
      }));
      const id = `0102018f${randomUUID().replace(/-/g, '')}-000000`;
      respond(200, { MessageId: id });
      return { id, body: input, headers: request.headers, mime, attachments };
    },
    transportUrl: (url, key, name) =>
      `ses://${accessKeyId}:${encodeURIComponent(key ?? secretAccessKey)}@email.${region}.amazonaws.com${query(url, name)}`,
  });
}

/** Each stand-in by the transport kind it speaks, for the tests that run over all four. */
export const providerStarters = {
  postmark: startPostmarkServer,
  sendgrid: startSendgridServer,
  mailgun: startMailgunServer,
  ses: startSesServer,
} as const;
export type ProviderKind = keyof typeof providerStarters;
export const PROVIDER_KINDS = Object.keys(providerStarters) as ProviderKind[];

/** Reads message `id` through the API until `check` holds (15 s at most) and returns it. */
export function settledMessage<M>(app: TestFacteur, id: string, check: (message: M) => boolean): Promise<M> {
  return vi.waitFor(
    async () => {
      const message = (await app.request<M>('GET', `/api/messages/${id}`)).body;
      if (!check(message)) throw new Error(`not yet: ${JSON.stringify(message)}`);
      return message;
    },
    { timeout: 15_000, interval: 50 },
  );
}

// --- The providers' bounce webhooks (campaigns/provider-feedback) ---------------------------

/**
 * SendGrid's Signed Event Webhook as the test side holds it: an ECDSA P-256 key pair made here,
 * the public key as SendGrid shows it (base64 DER), and the signature SendGrid would send for a
 * timestamp and raw body (base64 DER ECDSA over SHA-256 of timestamp + body).
 */
export function sendgridSigner(): { publicKey: string; sign: (timestamp: string, body: string) => string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    sign: (timestamp, body) =>
      cryptoSign('sha256', Buffer.from(timestamp + body, 'utf8'), privateKey).toString('base64'),
  };
}

/** Mailgun's `signature` object for a timestamp (epoch seconds) and token, under `signingKey`. */
export function mailgunSignature(
  signingKey: string,
  timestamp: number,
  token = randomBytes(25).toString('hex'),
): { timestamp: string; token: string; signature: string } {
  const signature = createHmac('sha256', signingKey).update(`${timestamp}${token}`).digest('hex');
  return { timestamp: String(timestamp), token, signature };
}

/** A running stand-in for SNS: the signing certificate and the subscribe URL, over HTTPS on loopback. */
export interface SnsStandIn {
  /** `127.0.0.1:PORT`, for FACTEUR_FEEDBACK_SNS_HOSTS. */
  readonly host: string;
  /** The CA that signed the HTTPS server's certificate (for the client to trust). */
  readonly ca: string;
  readonly topicArn: string;
  readonly certUrl: string;
  /** How many times the signing certificate was fetched. */
  readonly certFetches: number;
  /** Tokens of the subscriptions confirmed (GET SubscribeURL). */
  readonly confirmed: string[];
  /** Make the subscribe URL answer 500. */
  failConfirmations: boolean;
  /** A signed Notification carrying `message` (JSON-encoded), like SNS's HTTPS delivery. */
  notification(message: unknown, options?: SnsSignOptions): Record<string, string>;
  /** A signed SubscriptionConfirmation for the topic. */
  subscriptionConfirmation(options?: SnsSignOptions): Record<string, string>;
  close(): Promise<void>;
}

/** How a stand-in message is signed: the version (default 1), another topic, cert URL or subscribe URL. */
export interface SnsSignOptions {
  version?: '1' | '2';
  topicArn?: string;
  certUrl?: string;
  subject?: string;
  /** A SubscriptionConfirmation's SubscribeURL (default: the stand-in's). */
  subscribeUrl?: string;
}

/**
 * Starts the SNS stand-in in `dir`: an RSA key and self-signed certificate made with openssl
 * (SNS signs with RSA), served at `/SimpleNotificationService-test.pem` over HTTPS with a
 * certificate for 127.0.0.1 from test/support/certificates.ts. The canonical string is written
 * here from AWS's documentation, independently of the code under test.
 */
export async function startSnsStandIn(dir: string): Promise<SnsStandIn> {
  const certificates = makeTestCertificates(dir);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-keyout',
      'sns.key',
      '-out',
      'sns.crt',
    ].concat(['-subj', '/CN=sns.amazonaws.com']),
    { cwd: dir, stdio: 'pipe' },
  );
  const signingKey = readFileSync(join(dir, 'sns.key'), 'utf8');
  const signingCert = readFileSync(join(dir, 'sns.crt'), 'utf8');
  const confirmed: string[] = [];
  let certFetches = 0;
  const state = { failConfirmations: false };
  const server = createHttpsServer(certificates.good, (request, response) => {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    if (url.pathname === '/SimpleNotificationService-test.pem') {
      certFetches++;
      response.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return void response.end(signingCert);
    }
    if (url.searchParams.get('Action') === 'ConfirmSubscription') {
      if (state.failConfirmations) {
        response.writeHead(500);
        return void response.end('InternalFailure');
      }
      confirmed.push(url.searchParams.get('Token') ?? '');
      response.writeHead(200, { 'content-type': 'text/xml' });
      return void response.end(
        '<ConfirmSubscriptionResponse><ConfirmSubscriptionResult/></ConfirmSubscriptionResponse>',
      );
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ses-bounces';
  const certUrl = `https://${host}/SimpleNotificationService-test.pem`;
  const sign = (fields: Record<string, string>, names: string[], version: '1' | '2'): string => {
    const text = names
      .filter((name) => fields[name] !== undefined)
      .map((name) => `${name}\n${fields[name]}\n`)
      .join('');
    return cryptoSign(version === '1' ? 'sha1' : 'sha256', Buffer.from(text, 'utf8'), signingKey).toString(
      'base64',
    );
  };
  const envelope = (type: string, options: SnsSignOptions): Record<string, string> => ({
    Type: type,
    MessageId: randomUUID(),
    TopicArn: options.topicArn ?? topicArn,
    Timestamp: new Date().toISOString(),
    SignatureVersion: options.version ?? '1',
    SigningCertURL: options.certUrl ?? certUrl,
  });
  return {
    host,
    ca: certificates.ca,
    topicArn,
    certUrl,
    get certFetches() {
      return certFetches;
    },
    confirmed,
    get failConfirmations() {
      return state.failConfirmations;
    },
    set failConfirmations(value: boolean) {
      state.failConfirmations = value;
    },
    notification(message, options = {}) {
      const fields: Record<string, string> = {
        ...envelope('Notification', options),
        Message: JSON.stringify(message),
        ...(options.subject !== undefined ? { Subject: options.subject } : {}),
        UnsubscribeURL: `https://${host}/?Action=Unsubscribe&SubscriptionArn=${topicArn}:1`,
      };
      const names = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'];
      return { ...fields, Signature: sign(fields, names, options.version ?? '1') };
    },
    subscriptionConfirmation(options = {}) {
      const token = randomBytes(32).toString('hex');
      const arn = options.topicArn ?? topicArn;
      const fields: Record<string, string> = {
        ...envelope('SubscriptionConfirmation', options),
        Token: token,
        Message: `You have chosen to subscribe to the topic ${arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
        SubscribeURL:
          options.subscribeUrl ??
          `https://${host}/?Action=ConfirmSubscription&TopicArn=${arn}&Token=${token}`,
      };
      const names = ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
      return { ...fields, Signature: sign(fields, names, options.version ?? '1') };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An SES Bounce (or Complaint) event as SES publishes it to SNS. */
export function sesEvent(
  type: 'Bounce' | 'Complaint' | 'Delivery',
  recipients: string[],
  options: {
    bounceType?: 'Permanent' | 'Transient' | 'Undetermined';
    messageId?: string;
    messageIdHeader?: string;
  } = {},
): Record<string, unknown> {
  const timestamp = '2024-03-14T16:33:54.000Z';
  const mail = {
    timestamp,
    source: 'club@example.fr',
    messageId: options.messageId ?? '0100018e3e5f1c2a-1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e-000000',
    destination: recipients,
    headersTruncated: false,
    headers: [
      { name: 'From', value: 'club@example.fr' },
      ...(options.messageIdHeader ? [{ name: 'Message-ID', value: options.messageIdHeader }] : []),
    ],
  };
  if (type === 'Bounce')
    return {
      notificationType: 'Bounce',
      bounce: {
        bounceType: options.bounceType ?? 'Permanent',
        bounceSubType: 'General',
        bouncedRecipients: recipients.map((emailAddress) => ({
          emailAddress,
          action: 'failed',
          status: '5.1.1',
          diagnosticCode: 'smtp; 550 5.1.1 user unknown',
        })),
        timestamp,
        feedbackId: '0100018e3e5f2b3c-feedback-000000',
        reportingMTA: 'dsn; a1-2.smtp-out.eu-west-1.amazonses.com',
      },
      mail,
    };
  if (type === 'Complaint')
    return {
      notificationType: 'Complaint',
      complaint: {
        complainedRecipients: recipients.map((emailAddress) => ({ emailAddress })),
        timestamp,
        feedbackId: '0100018e3e5f2b3c-feedback-000001',
        complaintFeedbackType: 'abuse',
      },
      mail,
    };
  return { notificationType: 'Delivery', delivery: { timestamp, recipients }, mail };
}

/** A plain HTTP server with the feedback routes only, `apply` recording what it is given. */
export interface FeedbackApp {
  url: string;
  /** The API key the server takes (`Authorization: Bearer ...`). */
  key: string;
  /** Every batch handed to `apply`. */
  applied: Feedback[][];
  /** Every log line, as JSON text. */
  logLines: string[];
  /** Makes the next `apply` calls throw (a database outage). */
  failApply: boolean;
  metrics: Registry;
  /** POSTs `body` (JSON unless a string) to `/api/feedback/{provider}`. */
  post(
    provider: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    body: Record<string, unknown> & { error?: { code: string; message: string } };
  }>;
  close(): Promise<void>;
}

/** The feedback configuration with nothing set, as parseBootConfig gives it. */
export const NO_FEEDBACK_CONFIG: FeedbackConfig = {
  postmark: undefined,
  sendgrid: undefined,
  mailgun: undefined,
  ses: undefined,
  snsHosts: null,
  maxAgeMs: 15 * 60_000,
};

/**
 * Starts the feedback routes on the real HTTP server (auth, error handling, input rules) on
 * loopback, without a database: `apply` is a stand-in that records its batches.
 */
export async function startFeedbackApp(
  config: Partial<FeedbackConfig>,
  options: { clock: Clock; snsCa?: string },
): Promise<FeedbackApp> {
  const key = 'fk_feedback_test_key_0000000000000';
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const metrics = createMetricsRegistry();
  const state = { failApply: false };
  const applied: Feedback[][] = [];
  const http = await createHttpServer({
    logger,
    metrics,
    health: new HealthRegistry(),
    bodyLimitBytes: 1024 * 1024,
    version: 'test',
    verifyKey: async (given) =>
      given === key ? { kind: 'api_key', id: 'key-1', name: 'test', role: 'operator' } : undefined,
    registerApiRoutes: (api) =>
      registerFeedbackRoutes(api, {
        apply: async (items) => {
          if (state.failApply) throw new AppError('DATABASE_UNAVAILABLE', 'the database is down');
          applied.push(items);
          return { applied: items.length };
        },
        clock: options.clock,
        logger,
        guard: new TargetGuard(parseTargetPolicy('127.0.0.0/8')),
        config: { ...NO_FEEDBACK_CONFIG, ...config },
        metrics,
        ...(options.snsCa ? { sns: { ca: options.snsCa, timeoutMs: 5000 } } : {}),
      }),
  });
  await http.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
  return {
    url,
    key,
    applied,
    logLines,
    metrics,
    get failApply() {
      return state.failApply;
    },
    set failApply(value: boolean) {
      state.failApply = value;
    },
    async post(provider, body, headers = {}) {
      const response = await fetch(`${url}/api/feedback/${provider}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : {} };
    },
    close: () => http.close(),
  };
}
