import type { FastifyRequest } from 'fastify';
import { requestAuditContext } from '../core/audit-entry.js';
import type { HttpApp } from '../core/http/server.js';
import type { AuditLog } from './service.js';

/**
 * The HTTP layer of the audit log, for the `/api` scope: every accepted state change (a method
 * other than GET or HEAD answered below 400) is recorded as `http.<METHOD> <route pattern>`
 * with its target from the route's parameters, and every request refused with 403 is recorded
 * with outcome `refused`, whatever its method. Routes whose handlers record their own entries
 * (`config.auditedByDomain`: the settings routes, with before and after) are not recorded twice.
 * Entries are written after the response is sent (group commit), so no answer waits for them.
 */

/** Installs the hook on `api` (the `/api` scope); call it before registering the routes. */
export function installAuditHook(api: HttpApp, audit: AuditLog): void {
  api.addHook('onRequest', async (request) => {
    request.auditRecorder = audit;
  });
  api.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    const refused = status === 403;
    if (!refused) {
      if (status >= 400 || request.method === 'GET' || request.method === 'HEAD') return;
      if (request.routeOptions.config?.auditedByDomain || request.routeOptions.config?.workLedger) return;
    }
    const route = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
    audit.recordLater({
      ...requestAuditContext(request),
      action: `http.${request.method} ${route}`,
      target: targetOf(request, route),
      outcome: refused ? 'refused' : 'ok',
    });
  });
}

/**
 * The target of a route: its first segment under /api (`campaigns` for
 * `/api/campaigns/:id/start`) and its `id` parameter, else its last parameter, else none.
 */
export function targetOf(request: FastifyRequest, route: string): { type: string; id: string | null } {
  const type = route.replace(/^\/api\//, '').split('/')[0] || 'api';
  const params = (request.params ?? {}) as Record<string, unknown>;
  const values = Object.entries(params).filter(([, v]) => typeof v === 'string') as Array<[string, string]>;
  const id = (params.id as string | undefined) ?? values.at(-1)?.[1] ?? null;
  return { type, id: id === null ? null : id.slice(0, 200) };
}
