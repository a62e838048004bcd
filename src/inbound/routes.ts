import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { HttpApp } from '../core/http/server.js';
import { registerSettingsRoutes } from '../core/settings/index.js';
import { appsScriptPayloadSchema } from './apps-script.js';
import { backtestInputSchema, runBacktest } from './backtest.js';
import { LEDGER_STATES } from './ledger.js';
import { MAILBOX_PURPOSES, mailboxPurpose } from './mailbox-model.js';
import { registerMailboxStream } from './mailbox-stream.js';
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
    purpose: z
      .enum(MAILBOX_PURPOSES)
      .describe(
        '`rules`: the routing rules run over its mail. `bounces`: its mail is read as bounces and complaints for campaigns.',
      ),
    watchers: z
      .array(watcherSchema)
      .describe('Watchers of this mailbox running in the instance that answered.'),
    version: z
      .number()
      .int()
      .describe('Raised by every change; send it back as `If-Match` to change this version only.'),
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
    purpose: mailboxPurpose(mailbox.settings),
    watchers,
    version: mailbox.version,
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

/**
 * `/api/mailboxes` (and its event stream), `/api/inbound`, `/api/ingress/*`,
 * `/api/rules/backtest`; `isShuttingDown` ends the mailbox streams at shutdown (default: never).
 */
export function registerInboundRoutes(
  app: HttpApp,
  inbound: Inbound,
  isShuttingDown: () => boolean = () => false,
): void {
  registerMailboxStream(app, inbound, (mailbox) => mailboxView(inbound, mailbox), isShuttingDown);
  registerMailboxRoutes(app, inbound);
  registerLedgerRoutes(app, inbound);
  registerIngressRoutes(app, inbound);
}

function registerMailboxRoutes(app: HttpApp, inbound: Inbound): void {
  registerSettingsRoutes(app, {
    path: '/mailboxes',
    listKey: 'mailboxes',
    tags: ['inbound'],
    collection: inbound.mailboxes,
    view: (mailbox) => mailboxView(inbound, mailbox),
    viewSchema: mailboxSchema,
    summaries: {
      create:
        'Adds a mailbox to watch; its watcher connects at once. Credentials are sealed and never shown again.',
      list: 'Every mailbox.',
      get: 'One mailbox and its watchers.',
      patch:
        'Changes some settings; the watcher reconnects with them. `auth`, when given, replaces the credentials.',
      delete: 'Stops watching and deletes a mailbox; its ledger rows stay.',
      pause: 'Pauses a mailbox: its watcher disconnects and mail waits on the server.',
      resume: 'Resumes a mailbox: its watcher reconnects and catches up from where it stopped.',
    },
  });
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
      config: { mailText: true, workLedger: true },
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
      config: { workLedger: true },
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
