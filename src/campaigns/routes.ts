import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { HttpApp } from '../core/http/server.js';
import { registerSettingsRoutes } from '../core/settings/index.js';
import { CSV_MAX_BYTES, importCsv } from './csv-import.js';
import type { ContactList } from './lists.js';
import { contactsImportSchema, SUPPRESSION_REASONS, suppressionCreateSchema } from './model.js';
import type { Audiences } from './service.js';
import {
  type ContactRecord,
  contactCounts,
  listContacts,
  listSuppressions,
  type SuppressionRecord,
} from './store.js';

/** `/api/lists` (with contacts and CSV import) and `/api/suppressions`. */

const iso = (ms: number): string => new Date(ms).toISOString();
const idParams = z.object({ id: z.string().min(1).max(64) });
const tags = ['audiences'];

const listSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    contactCount: z.number().int().describe('Contacts in the list.'),
    version: z.number().int().describe('Raised by every change; send it back as `If-Match`.'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .describe('A list of contacts.');

const attribute = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const contactSchema = z.object({
  id: z.string(),
  address: z.string().describe('Normalised: trimmed, domain lower-cased and in ASCII.'),
  given: z.string().describe('As it was given.'),
  name: z.string().nullable(),
  attributes: z.record(z.string(), attribute),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const reportSchema = z.object({
  encoding: z.enum(['utf-8', 'latin1']).nullable(),
  delimiter: z.string().nullable(),
  rows: z.number().int(),
  imported: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  duplicatesInFile: z.number().int(),
  invalid: z.number().int(),
  errors: z.array(
    z.object({
      line: z.number().int().optional().describe('CSV: the physical line where the record starts.'),
      index: z.number().int().optional().describe('JSON: the position in `contacts`.'),
      field: z.string(),
      message: z.string(),
    }),
  ),
  errorsTruncated: z.boolean(),
});

const suppressionSchema = z.object({
  address: z.string(),
  reason: z.enum(SUPPRESSION_REASONS),
  source: z.string(),
  detail: z.string().nullable(),
  createdAt: z.string(),
});

function contactView(c: ContactRecord): z.infer<typeof contactSchema> {
  return {
    id: c.id,
    address: c.address,
    given: c.given,
    name: c.name,
    attributes: c.attributes,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}

function suppressionView(s: SuppressionRecord): z.infer<typeof suppressionSchema> {
  return {
    address: s.address,
    reason: s.reason,
    source: s.source,
    detail: s.detail,
    createdAt: iso(s.createdAt),
  };
}

/** The list as the API shows it; `contactCount` is filled in before the answer is sent. */
function listView(list: ContactList): z.infer<typeof listSchema> {
  return {
    id: list.id,
    ...list.settings,
    contactCount: 0,
    version: list.version,
    createdAt: iso(list.createdAt),
    updatedAt: iso(list.updatedAt),
  };
}

/** Registers the audience routes. */
export function registerAudienceRoutes(app: HttpApp, audiences: Audiences): void {
  const db = audiences.deps.store.db;
  // The settings routes build views synchronously; the count of each list's contacts is a
  // query, so it is filled in here, in the scope of these routes only.
  app.register(async (scope) => {
    scope.addHook('preSerialization', async (_request, _reply, payload: unknown) => {
      const views: Array<{ id: string; contactCount: number }> = [];
      const body = payload as { lists?: unknown; id?: unknown; contactCount?: unknown } | null;
      if (body && Array.isArray(body.lists)) views.push(...(body.lists as typeof views));
      else if (body && typeof body.id === 'string' && typeof body.contactCount === 'number')
        views.push(body as (typeof views)[number]);
      if (views.length === 0) return payload;
      const counts = await contactCounts(
        db,
        views.map((v) => v.id),
      );
      for (const view of views) view.contactCount = counts.get(view.id) ?? 0;
      return payload;
    });
    registerSettingsRoutes(scope as unknown as HttpApp, {
      path: '/lists',
      listKey: 'lists',
      tags,
      collection: audiences.lists,
      view: listView,
      viewSchema: listSchema,
      summaries: {
        create: 'Creates a list of contacts.',
        list: 'Every list, with its contact count.',
        get: 'One list, with its contact count.',
        patch: 'Renames a list or changes its description.',
        delete: 'Deletes a list and all its contacts.',
      },
    });
  });
  registerContactRoutes(app, audiences);
  registerSuppressionRoutes(app, audiences);
}

function registerContactRoutes(app: HttpApp, audiences: Audiences): void {
  const db = audiences.deps.store.db;
  app.get(
    '/lists/:id/contacts',
    {
      schema: {
        summary: "A page of a list's contacts, newest first.",
        tags,
        params: idParams,
        querystring: z.object({
          q: z.string().max(320).optional().describe('A substring of the address or the name, in any case.'),
          before: z.string().max(64).optional().describe('Cursor: the `nextBefore` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: { 200: z.object({ contacts: z.array(contactSchema), nextBefore: z.string().nullable() }) },
      },
    },
    async (request) => {
      await audiences.lists.load(request.params.id);
      const { limit, q, before } = request.query;
      const rows = await listContacts(db, request.params.id, {
        limit,
        ...(q ? { q } : {}),
        ...(before ? { before } : {}),
      });
      return {
        contacts: rows.map(contactView),
        nextBefore: rows.length === limit ? (rows.at(-1) as ContactRecord).id : null,
      };
    },
  );
  app.post(
    '/lists/:id/contacts',
    {
      schema: {
        summary:
          'Adds or updates up to 10,000 contacts given as JSON; answers the import report (bad ones are listed by index and not imported).',
        tags,
        params: idParams,
        body: contactsImportSchema,
        response: { 200: reportSchema },
      },
    },
    async (request) => audiences.importContacts(request.params.id, request.body),
  );
  app.delete(
    '/lists/:id/contacts/:address',
    {
      schema: {
        summary: 'Removes a contact from a list, by address (normalised: any case).',
        tags,
        params: z.object({ id: z.string().min(1).max(64), address: z.string().min(1).max(320) }),
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await audiences.removeContact(request.params.id, request.params.address);
      return reply.status(204).send(null);
    },
  );
  registerImportRoute(app, audiences);
}

function registerImportRoute(app: HttpApp, audiences: Audiences): void {
  // The file is streamed to the parser, never buffered: the parser gets the request itself.
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
  const column = z.string().max(1000).optional();
  app.post(
    '/lists/:id/import',
    {
      bodyLimit: CSV_MAX_BYTES,
      schema: {
        summary:
          'Imports contacts from a CSV file (Content-Type: text/csv, up to 200 MiB, streamed); answers the import report, each bad row with its line.',
        tags,
        consumes: ['text/csv'],
        body: z
          .any()
          .meta({ type: 'string', format: 'binary', description: 'The CSV file, header line first.' }),
        params: idParams,
        querystring: z.object({
          email: column.describe('The address column (default: email, e-mail, mail, courriel or adresse).'),
          name: column.describe(
            'The name column, or several joined with a space (`Prénom,Nom`); default: name, nom or full name.',
          ),
          attributes: column.describe(
            'Columns kept as attributes, comma-separated (default: every other column).',
          ),
          encoding: z.enum(['auto', 'utf-8', 'latin1']).default('auto'),
          delimiter: z
            .enum(['auto', ',', ';', '\t', 'tab', '|'])
            .default('auto')
            .describe('`auto` sniffs the header line.'),
          onDuplicate: z
            .enum(['update', 'skip'])
            .default('update')
            .describe('A contact already in the list: `update` it with the row, or `skip` the row.'),
        }),
        response: { 200: reportSchema },
      },
    },
    async (request) => {
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Partial<Readable>)[Symbol.asyncIterator] !== 'function') {
        throw new AppError(
          'VALIDATION_FAILED',
          'send the CSV file as the body, with Content-Type: text/csv',
          {
            details: [{ in: 'body', field: '', message: 'must be a text/csv body' }],
          },
        );
      }
      const { delimiter, ...query } = request.query;
      return importCsv(audiences, request.params.id, body, {
        ...query,
        delimiter: delimiter === 'tab' ? '\t' : delimiter,
      });
    },
  );
}

function registerSuppressionRoutes(app: HttpApp, audiences: Audiences): void {
  const db = audiences.deps.store.db;
  app.get(
    '/suppressions',
    {
      schema: {
        summary: 'The suppression list, newest first: addresses no campaign sends to.',
        tags,
        querystring: z.object({
          reason: z.enum(SUPPRESSION_REASONS).optional(),
          q: z.string().max(320).optional().describe('A substring of the address, in any case.'),
          before: z.string().max(400).optional().describe('Cursor: the `nextBefore` of the previous page.'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: {
          200: z.object({ suppressions: z.array(suppressionSchema), nextBefore: z.string().nullable() }),
        },
      },
    },
    async (request) => {
      const { reason, q, before, limit } = request.query;
      const cursor = before ? parseCursor(before) : undefined;
      const rows = await listSuppressions(db, {
        limit,
        ...(reason ? { reason } : {}),
        ...(q ? { q } : {}),
        ...(cursor ? { before: cursor } : {}),
      });
      const last = rows.at(-1);
      return {
        suppressions: rows.map(suppressionView),
        nextBefore: rows.length === limit && last ? `${last.createdAt}:${last.key}` : null,
      };
    },
  );
  app.post(
    '/suppressions',
    {
      schema: {
        summary:
          'Adds an address to the suppression list (reason `manual` by default). An address already there keeps its first reason and time (200); a new one answers 201.',
        tags,
        body: suppressionCreateSchema,
        response: { 200: suppressionSchema, 201: suppressionSchema },
      },
    },
    async (request, reply) => {
      const { record, created } = await audiences.suppress(request.body);
      return reply.status(created ? 201 : 200).send(suppressionView(record));
    },
  );
  app.delete(
    '/suppressions/:address',
    {
      schema: {
        summary: 'Takes an address off the suppression list.',
        tags,
        params: z.object({ address: z.string().min(1).max(320) }),
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await audiences.unsuppress(request.params.address);
      return reply.status(204).send(null);
    },
  );
}

function parseCursor(before: string): { at: number; key: string } {
  const colon = before.indexOf(':');
  const at = Number(before.slice(0, colon));
  if (colon <= 0 || !Number.isSafeInteger(at))
    throw new AppError('VALIDATION_FAILED', 'before is not a cursor this route gave', {
      details: [
        { in: 'querystring', field: 'before', message: 'must be the `nextBefore` of a previous page' },
      ],
    });
  return { at, key: before.slice(colon + 1) };
}
