import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { HttpApp } from '../core/http/server.js';
import { appsScriptPayloadSchema } from './apps-script.js';
import { backtestInputSchema, runBacktest } from './backtest.js';
import { LEDGER_STATES } from './ledger.js';
import { mailboxCreateSchema, mailboxUpdateSchema } from './mailbox-model.js';
import type { Mailbox } from './mailboxes.js';
import type { Inbound } from './service.js';
import { inboundEmailSchema, ledgerEntry, ledgerEntrySchema, ledgerPage } from './views.js';

/** Largest raw message `POST /api/ingress/raw` takes (the default mailbox limit, 25 MB, plus headroom). */
export const RAW_INGRESS_MAX_BYTES = 26 * 1024 * 1024;

const idParams = z.object({ id: z.string().min(1).max(64) });
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const watcherSchema = z.object({
  folder: z.string(),
  state: z.string(),
  connectedSince: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
  lagSeconds: z.number().nullable(),
  recorded: z.number(),
});

const mailboxSchema = z
  .object({
    id: z.string(),
    status: z.enum(['active', 'paused']),
    auth: z.object({
      type: z.enum(['password', 'oauth2']),
      user: z.string(),
      clientId: z.string().optional(),
      tokenUrl: z.string().optional(),
    }),
    watchers: z
      .array(watcherSchema)
      .describe('Watchers of this mailbox running in the instance that answered.'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .catchall(z.unknown())
  .describe('A mailbox: its settings as written (credentials never shown) and its watchers.');

function mailboxView(inbound: Inbound, mailbox: Mailbox): z.infer<typeof mailboxSchema> {
  const watchers = inbound
    .statuses()
    .filter((s) => s.mailboxId === mailbox.id)
    .map((s) => ({
      folder: s.folder,
      state: s.state,
      connectedSince: iso(s.connectedSince),
      lastSuccessAt: iso(s.lastSuccessAt),
      lastError: s.lastError ? { ...s.lastError, at: iso(s.lastError.at) as string } : null,
      lagSeconds: s.lagMs === null ? null : s.lagMs / 1000,
      recorded: s.recorded,
    }));
  return {
    ...mailbox.settings,
    id: mailbox.id,
    status: mailbox.status,
    auth: mailbox.settings.auth,
    watchers,
    createdAt: iso(mailbox.createdAt) as string,
    updatedAt: iso(mailbox.updatedAt) as string,
  };
}

const ingressAnswer = z.object({
  id: z.string().describe('The ledger row recording this push.'),
  state: z.enum(LEDGER_STATES),
  duplicateOf: z
    .string()
    .nullable()
    .describe('When the message was already in the ledger: its first row. It is not handled again.'),
});
const ingressQuery = z.object({
  mailbox: z.string().max(64).optional().describe('A mailbox id whose schedule and allowlist apply.'),
});

/** `/api/mailboxes`, `/api/inbound`, `/api/ingress/*`, `/api/rules/backtest`. */
export function registerInboundRoutes(app: HttpApp, inbound: Inbound): void {
  registerMailboxRoutes(app, inbound);
  registerLedgerRoutes(app, inbound);
  registerIngressRoutes(app, inbound);
}

function registerMailboxRoutes(app: HttpApp, inbound: Inbound): void {
  const tags = ['inbound'];
  app.post(
    '/mailboxes',
    {
      schema: {
        summary:
          'Adds a mailbox to watch; its watcher connects at once. Credentials are sealed and never shown again.',
        tags,
        body: mailboxCreateSchema,
        response: { 201: mailboxSchema },
      },
    },
    async (request, reply) => {
      const mailbox = await inbound.mailboxes.create(request.body);
      reply.header('location', `/api/mailboxes/${mailbox.id}`);
      return reply.status(201).send(mailboxView(inbound, mailbox));
    },
  );
  app.get(
    '/mailboxes',
    {
      schema: {
        summary: 'Every mailbox.',
        tags,
        response: { 200: z.object({ mailboxes: z.array(mailboxSchema) }) },
      },
    },
    async () => ({ mailboxes: (await inbound.mailboxes.list()).map((m) => mailboxView(inbound, m)) }),
  );
  app.get(
    '/mailboxes/:id',
    {
      schema: {
        summary: 'One mailbox and its watchers.',
        tags,
        params: idParams,
        response: { 200: mailboxSchema },
      },
    },
    async (request) => mailboxView(inbound, await inbound.mailboxes.load(request.params.id)),
  );
  app.patch(
    '/mailboxes/:id',
    {
      schema: {
        summary:
          'Changes some settings; the watcher reconnects with them. `auth`, when given, replaces the credentials.',
        tags,
        params: idParams,
        body: mailboxUpdateSchema,
        response: { 200: mailboxSchema },
      },
    },
    async (request) => mailboxView(inbound, await inbound.mailboxes.update(request.params.id, request.body)),
  );
  app.delete(
    '/mailboxes/:id',
    {
      schema: {
        summary: 'Stops watching and deletes a mailbox; its ledger rows stay.',
        tags,
        params: idParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await inbound.mailboxes.remove(request.params.id);
      return reply.status(204).send(null);
    },
  );
  for (const [action, status] of [
    ['pause', 'paused'],
    ['resume', 'active'],
  ] as const) {
    app.post(
      `/mailboxes/:id/${action}`,
      {
        schema: {
          summary:
            action === 'pause'
              ? 'Pauses a mailbox: its watcher disconnects and mail waits on the server.'
              : 'Resumes a mailbox: its watcher reconnects and catches up from where it stopped.',
          tags,
          params: idParams,
          response: { 200: mailboxSchema },
        },
      },
      async (request) => mailboxView(inbound, await inbound.mailboxes.setStatus(request.params.id, status)),
    );
  }
}

function registerLedgerRoutes(app: HttpApp, inbound: Inbound): void {
  const tags = ['inbound'];
  app.get(
    '/inbound',
    {
      schema: {
        summary: 'The inbound ledger, newest first: one row per message received.',
        tags,
        querystring: z.object({
          state: z.enum(LEDGER_STATES).optional(),
          mailbox: z.string().max(64).optional(),
          before: z.string().max(64).optional().describe('Cursor: the `nextBefore` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: {
          200: z.object({ messages: z.array(ledgerEntrySchema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => ledgerPage(inbound.store.db, request.query),
  );
  app.get(
    '/inbound/:id',
    {
      schema: {
        summary: 'One ledger row with its parsed email and the deliveries it raised.',
        tags,
        params: idParams,
        response: {
          200: ledgerEntrySchema.extend({
            email: inboundEmailSchema
              .nullable()
              .describe('Null when the message could not be parsed (`fetched`).'),
            deliveries: z.array(z.unknown()),
          }),
        },
      },
    },
    async (request) => {
      const entry = await ledgerEntry(inbound.store.db, request.params.id);
      if (!entry) throw new AppError('NOT_FOUND', `no inbound message has the id ${request.params.id}`);
      return entry;
    },
  );
  app.post(
    '/rules/backtest',
    {
      schema: {
        summary:
          'Runs a candidate rule set over the last N messages of the ledger and says what each would have matched and sent. Sends nothing.',
        tags: ['rules'],
        body: backtestInputSchema,
        response: {
          200: z.object({ results: z.array(z.unknown()), rules: z.number(), messages: z.number() }),
        },
      },
    },
    async (request) => runBacktest(inbound, request.body),
  );
}

function registerIngressRoutes(app: HttpApp, inbound: Inbound): void {
  const tags = ['ingress'];
  app.addContentTypeParser(
    'message/rfc822',
    { parseAs: 'buffer', bodyLimit: RAW_INGRESS_MAX_BYTES },
    (_request, body, done) => done(null, body),
  );
  const mailboxOf = async (id: string | undefined): Promise<string | null> => {
    if (id === undefined) return null;
    await inbound.mailboxes.load(id);
    return id;
  };
  app.post(
    '/ingress/gmail',
    {
      // The pushed fields are mail text: NUL and unpaired surrogates are replaced and recorded
      // in `replaced` (see withTextRule), not refused, or the script would push it forever.
      config: { mailText: true },
      // Over the general body limit a push would get 413 and the script would retry it forever;
      // its HTML is capped at parse time anyway.
      bodyLimit: RAW_INGRESS_MAX_BYTES,
      schema: {
        summary:
          'Takes a message pushed by the Gmail Apps Script. Answers 200 only once it is durably in the ledger; any other answer means "send it again".',
        tags,
        querystring: ingressQuery,
        body: appsScriptPayloadSchema,
        response: { 200: ingressAnswer },
      },
    },
    async (request) =>
      answer(await inbound.ingestAppsScript(request.body, await mailboxOf(request.query.mailbox))),
  );
  app.post(
    '/ingress/raw',
    {
      bodyLimit: RAW_INGRESS_MAX_BYTES,
      schema: {
        summary:
          'Takes a raw RFC 822 message (Content-Type: message/rfc822); answers once it is durably in the ledger.',
        tags,
        consumes: ['message/rfc822'],
        // The bytes of the message as received, kept verbatim; the parser copes with any bytes.
        body: z.any().meta({ type: 'string', format: 'binary', description: 'The raw message (RFC 5322).' }),
        querystring: ingressQuery,
        response: { 200: ingressAnswer },
      },
    },
    async (request) => {
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new AppError(
          'VALIDATION_FAILED',
          'send the message as the body, with Content-Type: message/rfc822',
          {
            details: [{ in: 'body', field: '', message: 'must be a non-empty message/rfc822 body' }],
          },
        );
      }
      return answer(await inbound.ingestRaw(body, await mailboxOf(request.query.mailbox)));
    },
  );
}

function answer(recorded: { id: string; state: string; duplicateOf: string | null }) {
  return {
    id: recorded.id,
    state: recorded.state as (typeof LEDGER_STATES)[number],
    duplicateOf: recorded.duplicateOf,
  };
}
