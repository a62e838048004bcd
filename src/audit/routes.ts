import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { CURSOR_PATTERN, decodeCursor } from './model.js';
import type { AuditLog } from './service.js';

/** `GET /api/audit`: the audit log, newest first, filtered, a page at a time (admin only). */

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A time given as an ISO 8601 date-time with its offset, or as epoch milliseconds. */
const timeParam = z
  .string()
  .max(40)
  .transform((raw, ctx) => {
    const ms = /^\d{1,15}$/.test(raw) ? Number(raw) : ISO_TIME.test(raw) ? Date.parse(raw) : Number.NaN;
    if (Number.isFinite(ms) && ms >= 0) return ms;
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 time with its offset (2026-01-05T09:00:00Z) or epoch milliseconds',
    });
    return z.NEVER;
  });

const text = (what: string) => z.string().min(1).max(200).optional().describe(what);

const auditQuery = z.strictObject({
  action: text('Only this action, e.g. `settings.endpoint.updated` or `http.POST /api/campaigns/:id/start`.'),
  actorId: text("Only this actor's entries (a user id, an API key id)."),
  targetType: text('Only entries about this kind of thing, e.g. `endpoint`, `user`, `campaigns`.'),
  targetId: text('Only entries about this one (with or without `targetType`).'),
  since: timeParam.optional().describe('Entries at or after this time (ISO 8601 or epoch ms).'),
  until: timeParam.optional().describe('Entries before this time (ISO 8601 or epoch ms).'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .max(100)
    .regex(CURSOR_PATTERN, 'must be the `nextCursor` of the previous page')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
});

const actorSchema = z.object({
  kind: z.enum(['user', 'api_key', 'route_token', 'system', 'anonymous']),
  id: z.string().nullable(),
  name: z.string().nullable().describe("A key's name, a user's email (or the email a failed login tried)."),
  role: z.string().nullable(),
});

const entrySchema = z.object({
  id: z.string(),
  at: z.string().describe('When (ISO 8601, UTC).'),
  actor: actorSchema,
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string().nullable() }),
  address: z.string().nullable().describe('The IP address the request came from.'),
  requestId: z.string().nullable().describe("The request's id (its `x-request-id` answer header)."),
  before: z.unknown().describe('The document before the change, secrets redacted (null: none).'),
  after: z.unknown().describe('The document after the change, secrets redacted (null: none).'),
  outcome: z.enum(['ok', 'refused']),
});

/** Registers `GET /api/audit`. */
export function registerAuditRoutes(app: HttpApp, audit: AuditLog): void {
  app.get(
    '/audit',
    {
      schema: {
        summary: 'The audit log, newest first: who changed what, from where, and refused requests.',
        tags: ['audit'],
        querystring: auditQuery,
        response: { 200: z.object({ items: z.array(entrySchema), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      const { cursor, ...query } = request.query;
      const filters = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
      const page = await audit.list({
        ...(filters as Omit<typeof query, 'limit'>),
        limit: query.limit,
        ...(cursor ? { after: decodeCursor(cursor) } : {}),
      });
      return {
        items: page.items.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })),
        nextCursor: page.nextCursor,
      };
    },
  );
}
