import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from './db/index.js';
import type { Principal } from './http/auth.js';

/**
 * What an audit entry says, as every feature writes it. The types live in core (like
 * `core/inbound-email.ts`) because `core/settings` records its changes without importing the
 * `audit/` feature; `audit/` implements `AuditRecorder` and stores the entries.
 */

/** Who acted: a signed-in user, an API key, a route's own token, Facteur itself, or nobody known. */
export type ActorKind = 'user' | 'api_key' | 'route_token' | 'system' | 'anonymous';

/** The actor of an entry; `id`, `name` and `role` are null when unknown (a failed login names the email tried). */
export interface AuditActor {
  kind: ActorKind;
  id?: string | null;
  name?: string | null;
  role?: string | null;
}

/** One entry to record. `before` and `after` are redacted and bounded when recorded. */
export interface AuditEntryInput {
  actor: AuditActor;
  /** What happened, e.g. `user.created`, `session.login_failed`, `settings.endpoint.updated`. */
  action: string;
  /** What it happened to, e.g. `{ type: 'user', id }`; `id` null for a collection or nothing in particular. */
  target: { type: string; id?: string | null };
  /** The request's address (its IP). */
  address?: string | null;
  requestId?: string | null;
  /** The document before the change (null or absent: none, e.g. a creation). */
  before?: unknown;
  /** The document after the change (null or absent: none, e.g. a deletion). */
  after?: unknown;
  /** `ok` (default) or `refused` (a 403, a locked login). */
  outcome?: 'ok' | 'refused';
  /** When, in epoch ms (default: the recorder's clock). */
  at?: number;
}

/** Records entries; `db` is a transaction's `tx.db` (the entry commits or rolls back with the change) or the store's. */
export interface AuditRecorder {
  record(db: Kysely<Database>, entry: AuditEntryInput): Promise<void>;
}

/** The actor, address and request id of an HTTP request: spread into an entry. */
export interface RequestAuditContext {
  actor: AuditActor;
  address: string | null;
  requestId: string | null;
}

/** The actor a principal is; no principal (a request refused before authentication) is `anonymous`. */
export function actorOf(principal: Principal | undefined): AuditActor {
  if (!principal) return { kind: 'anonymous', id: null, name: null, role: null };
  return { kind: principal.kind, id: principal.id, name: principal.name, role: principal.role ?? null };
}

/** Who made `request`, from where, and its id: `{ ...requestAuditContext(request), action, target }`. */
export function requestAuditContext(request: FastifyRequest): RequestAuditContext {
  return { actor: actorOf(request.principal), address: request.ip ?? null, requestId: request.id ?? null };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The audit log of `/api` requests, set by `installAuditHook` (audit/http.ts); undefined without it. */
    auditRecorder?: AuditRecorder;
  }
  interface FastifyContextConfig {
    /**
     * The route's handler records its own audit entries (with before and after, in the change's
     * transaction), so the HTTP layer does not record a generic one (settings routes). A 403 is
     * still recorded by the HTTP layer.
     */
    auditedByDomain?: boolean;
    /**
     * The route accepts work that its own ledger records with who sent it (a message, an event,
     * inbound mail, a report run, a provider's bounce), not a change to how Facteur is set up:
     * the HTTP layer does not record each one, which would copy the outbox into the audit log
     * at thousands of requests per second. A 403 is still recorded.
     */
    workLedger?: boolean;
  }
}
