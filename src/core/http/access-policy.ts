import { AppError } from '../errors.js';
import type { Principal } from './auth.js';

/**
 * The one access policy of the `/api/*` routes: the least role a route needs.
 *
 * The rule is derived from the method: `GET` and `HEAD` read and need `viewer`; every other
 * method changes something and needs `operator`. The exceptions below are the only routes that
 * need more (mostly `admin`; one read that runs a query needs `operator`); there is none that
 * needs less. A route is never declared with its role
 * where it is registered, so that the whole policy reads here, in one table, and
 * `test/e2e/authorization.int.test.ts` fails when a route is added without an entry in its own
 * route x role table. docs/security.md explains the rule and each exception.
 */

/** The roles of an API key, least first. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;

/** A role: `viewer` reads, `operator` also runs and changes the work, `admin` also the infrastructure. */
export type Role = (typeof ROLES)[number];

/** True when `value` is one of ROLES. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `role` is `required` or above it. */
export function roleAllows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

/**
 * The routes that need more than the method rule gives, keyed `METHOD /api/path` with the
 * route's pattern as Fastify registers it, each with the reason.
 */
export const ACCESS_EXCEPTIONS: Readonly<Record<string, { role: Role; why: string }>> = {
  'POST /api/mailboxes': {
    role: 'admin',
    why: 'a mailbox holds IMAP credentials (password or OAuth refresh token) and makes the server log in to a host',
  },
  'PATCH /api/mailboxes/:id': {
    role: 'admin',
    why: "changes a mailbox's host or credentials",
  },
  'DELETE /api/mailboxes/:id': {
    role: 'admin',
    why: 'removes inbound infrastructure and its credentials',
  },
  'POST /api/doctor/smtp': {
    role: 'admin',
    why: 'logs in to the relay with its credentials, or to a host and credentials the caller names, and can send a real message',
  },
  'POST /api/doctor/transport': {
    role: 'admin',
    why: "calls a provider's API with the server's provider key",
  },
  'GET /api/users': { role: 'admin', why: 'lists the people who can sign in, with their roles' },
  'GET /api/users/:id': { role: 'admin', why: 'shows a person who can sign in' },
  'POST /api/users': { role: 'admin', why: 'gives a person access, with a role' },
  'PATCH /api/users/:id': { role: 'admin', why: "changes a person's role, password or access" },
  'DELETE /api/users/:id': { role: 'admin', why: 'removes a person and ends their sessions' },
  'GET /api/keys': { role: 'admin', why: 'lists the API keys and their roles' },
  'POST /api/keys': { role: 'admin', why: 'creates a credential, possibly an admin one' },
  'DELETE /api/keys/:id': { role: 'admin', why: 'revokes a credential another system may depend on' },
  'POST /api/doctor/imap': {
    role: 'admin',
    why: "logs in to a mailbox's IMAP server with its credentials",
  },
  'GET /api/reports/:id/preview.html': {
    role: 'operator',
    why: "fetches the report's data source (an HTTP call or an SQL query) as a run does, like the POST preview",
  },
  'GET /api/audit': {
    role: 'admin',
    why: 'names every caller with their address and shows what they changed, before and after',
  },
};

/** The least role an `/api/*` route needs: its exception, else the method rule. */
export function requiredRole(method: string, url: string): Role {
  // Fastify answers HEAD with the GET route: it needs what the GET needs.
  const upper = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const exception = ACCESS_EXCEPTIONS[`${upper} ${url}`];
  if (exception) return exception.role;
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'operator';
}

/**
 * Refuses an authenticated caller whose role is below the route's: AUTH_FORBIDDEN (403),
 * before any handler runs, so that a refused request changes nothing. A route's own
 * credential (`route_token`: a report's trigger token) is not an API key: it opens its one
 * route whatever the method, and carries no role.
 */
export function authorize(principal: Principal, method: string, url: string): void {
  if (principal.kind === 'route_token') return;
  const required = requiredRole(method, url);
  if (principal.role && roleAllows(principal.role, required)) return;
  const held = principal.role ?? 'none';
  throw new AppError(
    'AUTH_FORBIDDEN',
    `${method} ${url} needs a key with the ${required} role or above; this key has the ${held} role`,
    { details: { required, role: held } },
  );
}
