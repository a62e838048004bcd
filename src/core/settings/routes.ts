import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HttpApp } from '../http/server.js';
import type { WriteActor } from './audit.js';
import type { SettingsCollection } from './collection.js';
import type { SettingsRecord } from './contract.js';

/**
 * The HTTP resource over a settings collection, the same for every kind: create, list, read,
 * patch, delete, and where the kind has them pause/resume and order, with their OpenAPI
 * schemas. Every answer about one record carries its version as `ETag`; a change may name the
 * version it is based on with `If-Match` and is refused (412 VERSION_MISMATCH) when the record
 * moved on.
 */

const idParams = z.object({ id: z.string().min(1).max(64) });
const ifMatchHeaders = z.object({
  'if-match': z
    .string()
    .regex(/^(W\/)?"?\d{1,12}"?$/, 'must be a version as the ETag gives it, e.g. "3"')
    .optional()
    .describe('The version this change is based on (the ETag of the record read); refused when it moved on.'),
});

/** What a resource declares; the rest is the same for every kind. */
// biome-ignore lint/suspicious/noExplicitAny: the routes work for any kind's settings and secrets
export interface SettingsResource<C, P, R extends SettingsRecord<any, any>> {
  /** Path under /api, e.g. `/endpoints`. */
  path: string;
  /** The key of the list answer, e.g. `endpoints`. */
  listKey: string;
  tags: string[];
  // biome-ignore lint/suspicious/noExplicitAny: see above
  collection: SettingsCollection<any, any, C, P, R>;
  /** The record as the API shows it (secrets masked or left out). */
  view(record: R): unknown;
  viewSchema: z.ZodType;
  summaries: {
    create: string;
    list: string;
    get: string;
    patch: string;
    delete: string;
    pause?: string;
    resume?: string;
    order?: string;
  };
  /** The 201 answer when it shows more than the view (an endpoint's secret, shown once). */
  created?: { schema: z.ZodType; body(record: R): unknown };
  /** Extra query of the create route (a rule's `position`). */
  createQuery?: z.ZodObject;
  /** Checks a create body or patch against other features' data (a rule's endpoints exist). */
  check?(body: Partial<C> | P): Promise<void>;
  /** The list answer when it holds more than the records (the rule settings). */
  list?: { schema: z.ZodType; body(records: R[]): Promise<unknown> | unknown };
}

/** The version named by `If-Match`, if any. */
function ifVersion(header: string | undefined): { ifVersion?: number } {
  if (header === undefined) return {};
  return { ifVersion: Number(header.replace(/^W\//, '').replaceAll('"', '')) };
}

/**
 * Who makes a change, for the audit log: the collection records it, with the record before and
 * after, in the change's transaction; `auditedByDomain` keeps the HTTP layer from recording it again.
 */
function actorOf(request: FastifyRequest): WriteActor {
  return {
    ...(request.principal ? { principal: request.principal } : {}),
    address: request.ip,
    requestId: request.id,
    ...(request.auditRecorder ? { recorder: request.auditRecorder } : {}),
  };
}
const audited = { auditedByDomain: true };

function tagged<R extends { version: number }>(reply: FastifyReply, record: R): R {
  reply.header('etag', `"${record.version}"`);
  return record;
}

/** Registers the resource's routes on `app` (mounted under /api). */
// biome-ignore lint/suspicious/noExplicitAny: see SettingsResource
export function registerSettingsRoutes<C, P, R extends SettingsRecord<any, any>>(
  app: HttpApp,
  resource: SettingsResource<C, P, R>,
): void {
  const { path, tags, collection, summaries } = resource;
  const { kind } = collection;
  const one = `${path}/:id`;

  app.post(
    path,
    {
      config: audited,
      schema: {
        summary: summaries.create,
        tags,
        body: kind.createSchema,
        ...(resource.createQuery ? { querystring: resource.createQuery } : {}),
        response: { 201: resource.created?.schema ?? resource.viewSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as C;
      await resource.check?.(body);
      const position = (request.query as { position?: number } | undefined)?.position;
      const options = { actor: actorOf(request), ...(position === undefined ? {} : { position }) };
      const record = tagged(reply, await collection.create(body, options));
      reply.header('location', `/api${path}/${record.id}`);
      return reply.status(201).send(resource.created ? resource.created.body(record) : resource.view(record));
    },
  );

  app.get(
    path,
    {
      schema: {
        summary: summaries.list,
        tags,
        response: {
          200: resource.list?.schema ?? z.object({ [resource.listKey]: z.array(resource.viewSchema) }),
        },
      },
    },
    async () => {
      const records = await collection.list();
      if (resource.list) return resource.list.body(records);
      return { [resource.listKey]: records.map((r) => resource.view(r)) };
    },
  );

  if (summaries.order) {
    app.put(
      `${path}/order`,
      {
        config: audited,
        schema: {
          summary: summaries.order,
          tags,
          body: z.strictObject({ ids: z.array(z.string().min(1).max(64)).max(1000) }),
          response: { 200: z.object({ [resource.listKey]: z.array(resource.viewSchema) }) },
        },
      },
      async (request) => ({
        [resource.listKey]: (await collection.reorder(request.body.ids, { actor: actorOf(request) })).map(
          (r) => resource.view(r),
        ),
      }),
    );
  }

  app.get(
    one,
    { schema: { summary: summaries.get, tags, params: idParams, response: { 200: resource.viewSchema } } },
    async (request, reply) => resource.view(tagged(reply, await collection.load(request.params.id))),
  );

  app.patch(
    one,
    {
      config: audited,
      schema: {
        summary: summaries.patch,
        tags,
        params: idParams,
        headers: ifMatchHeaders,
        body: kind.patchSchema,
        response: { 200: resource.viewSchema },
      },
    },
    async (request, reply) => {
      const patch = request.body as P;
      await resource.check?.(patch);
      const options = { ...ifVersion(request.headers['if-match']), actor: actorOf(request) };
      return resource.view(tagged(reply, await collection.update(request.params.id, patch, options)));
    },
  );

  app.delete(
    one,
    {
      config: audited,
      schema: {
        summary: summaries.delete,
        tags,
        params: idParams,
        headers: ifMatchHeaders,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const options = { ...ifVersion(request.headers['if-match']), actor: actorOf(request) };
      await collection.remove(request.params.id, options);
      return reply.status(204).send(null);
    },
  );

  for (const [action, status] of [
    ['pause', 'paused'],
    ['resume', 'active'],
  ] as const) {
    const summary = summaries[action];
    if (!summary) continue;
    app.post(
      `${one}/${action}`,
      {
        config: audited,
        schema: {
          summary,
          tags,
          params: idParams,
          headers: ifMatchHeaders,
          response: { 200: resource.viewSchema },
        },
      },
      async (request, reply) => {
        const options = { ...ifVersion(request.headers['if-match']), actor: actorOf(request) };
        return resource.view(tagged(reply, await collection.setStatus(request.params.id, status, options)));
      },
    );
  }
}
