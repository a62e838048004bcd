import { z } from 'zod';
import type { Store } from '../core/db/index.js';
import type { Principal } from '../core/http/auth.js';
import { idempotencyKeyOf } from '../core/http/input.js';
import { FRAMED_BODY_HEADERS } from '../core/http/pages.js';
import type { HttpApp } from '../core/http/server.js';
import { getCaught, getCaughtHtml, listCaught } from './catcher.js';
import { clearCaught } from './catcher-store.js';
import { messageInputSchema } from './model.js';
import { acceptMessage, type MailDeps } from './service.js';
import { ATTEMPT_OUTCOMES } from './store.js';
import { getMessage, listMessages } from './views.js';

const statusSchema = z.enum(['queued', 'sending', 'sent', 'failed']);
const errorSchema = z.object({ code: z.string(), message: z.string() });

const attemptSchema = z.object({
  number: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  outcome: z.enum(ATTEMPT_OUTCOMES),
  smtpCode: z.number().int().nullable().describe('The SMTP reply code, e.g. 250, 451, 550.'),
  smtpResponse: z.string().nullable().describe('The SMTP reply text as the server sent it.'),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  accepted: z.array(z.string()).nullable(),
  rejected: z
    .array(
      z.object({
        address: z.string(),
        smtpCode: z.number().int().nullable(),
        smtpResponse: z.string().nullable(),
        providerCode: z.string().optional().describe("A provider API's refusal code, e.g. postmark:406."),
        permanent: z.boolean().optional().describe('Set for provider refusals: dropped (true) or retried.'),
      }),
    )
    .nullable()
    .describe(
      'Recipients the server refused, each with its reply. 4xx ones get the next attempt (outcome partial).',
    ),
  transport: z
    .string()
    .nullable()
    .describe('The transport of FACTEUR_TRANSPORTS the attempt went through (smtp, postmark, ...).'),
  providerMessageId: z
    .string()
    .nullable()
    .describe('The id the provider API gave the message (Postmark MessageID, SES MessageId, ...).'),
});

const messageSummarySchema = z.object({
  id: z.string(),
  status: statusSchema,
  messageId: z.string().describe('The Message-ID header, stable across retries.'),
  from: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  bcc: z.array(z.string()),
  replyTo: z.string().nullable(),
  subject: z.string(),
  headers: z.record(z.string(), z.string()),
  idempotencyKey: z.string().nullable(),
  jobId: z.string(),
  source: z.string(),
  attemptCount: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastError: errorSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  sentAt: z.string().nullable(),
});

const caughtSummarySchema = z.object({
  id: z.string(),
  messageId: z.string().nullable(),
  from: z.string().nullable(),
  to: z.array(z.string()),
  subject: z.string().nullable(),
  size: z.number().int(),
  receivedAt: z.string(),
});

/**
 * A caught message is someone else's HTML: it may style itself (mail is styled inline) and show
 * images it carries, and nothing else: no script, no request to anywhere, an opaque origin.
 */
const idParams = z.object({ id: z.string().min(1).max(64) });
const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.string().max(64).optional().describe('Cursor: the `nextBefore` of the previous page.'),
};

/** Whether the caller may read a sign-in message's body in the catcher (admins only). */
function isAdmin(principal: Principal | undefined): boolean {
  return principal?.role === 'admin';
}

/** `/api/messages`: accept a send, read its state. */
export function registerMessageRoutes(app: HttpApp, deps: MailDeps): void {
  app.post(
    '/messages',
    {
      config: { workLedger: true },
      schema: {
        summary: 'Accepts a message for sending. Answers 202 once it is durably recorded.',
        description:
          'The message is sent by a background job with retries. An `idempotencyKey` (or an `Idempotency-Key` header) makes the call safe to repeat: the same key returns the same message and sends nothing again.',
        tags: ['messages'],
        body: messageInputSchema,
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        response: {
          202: z.object({ id: z.string(), status: statusSchema }),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const key = idempotencyKeyOf(request.headers['idempotency-key'], body.idempotencyKey);
      const input = key !== undefined ? { ...body, idempotencyKey: key } : body;
      const accepted = await acceptMessage(deps, input, {
        source: 'api',
        ...(request.principal ? { apiKeyId: request.principal.id } : {}),
      });
      reply.header('location', `/api/messages/${accepted.id}`);
      if (!accepted.created) reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({ id: accepted.id, status: accepted.status });
    },
  );

  app.get(
    '/messages/:id',
    {
      schema: {
        summary: 'One message: status, Message-ID, every attempt with the SMTP reply.',
        tags: ['messages'],
        params: idParams,
        response: { 200: messageSummarySchema.extend({ attempts: z.array(attemptSchema) }) },
      },
    },
    async (request) => getMessage(deps, request.params.id),
  );

  app.get(
    '/messages',
    {
      schema: {
        summary: 'Messages, newest first.',
        tags: ['messages'],
        querystring: z.object({
          status: statusSchema.optional(),
          q: z
            .string()
            .trim()
            .min(1, 'must not be empty')
            .max(200, 'is longer than 200 characters')
            .optional()
            .describe(
              'Search: a substring of the subject, the sender or a recipient (ASCII letters in any case), or the exact id or Message-ID.',
            ),
          ...pageQuery,
        }),
        response: {
          200: z.object({ messages: z.array(messageSummarySchema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => {
      const { status, q, limit, before } = request.query;
      return listMessages(deps, {
        limit,
        ...(status ? { status } : {}),
        ...(q ? { q } : {}),
        ...(before ? { before } : {}),
      });
    },
  );
}

/** `/api/catcher/messages`: what the built-in mail catcher received. */
export function registerCatcherRoutes(app: HttpApp, deps: { store: Store }): void {
  app.get(
    '/catcher/messages',
    {
      schema: {
        summary: 'Messages received by the built-in mail catcher, newest first.',
        tags: ['catcher'],
        querystring: z.object(pageQuery),
        response: {
          200: z.object({ messages: z.array(caughtSummarySchema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const rows = await listCaught(deps.store.db, { limit: limit + 1, ...(before ? { before } : {}) });
      const messages = rows.slice(0, limit);
      return { messages, nextBefore: rows.length > limit ? (messages.at(-1)?.id ?? null) : null };
    },
  );

  app.get(
    '/catcher/messages/:id',
    {
      schema: {
        summary: 'One caught message with its raw source.',
        tags: ['catcher'],
        params: idParams,
        response: {
          200: caughtSummarySchema.extend({ raw: z.string().describe('The message source (RFC 5322).') }),
        },
      },
    },
    async (request) => getCaught(deps.store.db, request.params.id, isAdmin(request.principal)),
  );

  app.get(
    '/catcher/messages/:id/html',
    {
      schema: {
        summary: "One caught message's body as an HTML page (the dashboard shows it in a sandboxed frame).",
        description:
          'The HTML part (inline images as data: URLs), else the text part. The answer carries a CSP of its own: no scripts, no requests anywhere (remote images and tracking pixels stay blocked), sandboxed, framed only by Facteur itself.',
        tags: ['catcher'],
        params: idParams,
        produces: ['text/html'],
      },
    },
    async (request, reply) => {
      const html = await getCaughtHtml(deps.store.db, request.params.id, isAdmin(request.principal));
      return reply.headers(FRAMED_BODY_HEADERS).send(html);
    },
  );

  app.delete(
    '/catcher/messages',
    {
      schema: {
        summary: 'Deletes every caught message.',
        tags: ['catcher'],
        response: { 200: z.object({ deleted: z.number().int() }) },
      },
    },
    async () => ({ deleted: await clearCaught(deps.store.db) }),
  );
}
