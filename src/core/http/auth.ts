import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { Role } from './access-policy.js';

/**
 * Who calls an `/api/*` route: an API key as a bearer token, or a credential that one route
 * declares for itself (`config.routeAuth`: a report's trigger token opens its trigger route).
 */

/** Who is calling an `/api/*` route: an API key, a signed-in user, or a token valid for one route only (a report's trigger token). */
export interface Principal {
  /** `user`: a person signed in to the dashboard, by the session cookie. */
  kind: 'api_key' | 'route_token' | 'user';
  id: string;
  /** The key's name, or the user's email. */
  name: string;
  /** A user's session (to sign it out). */
  sessionId?: string;
  /** An API key's role (`core/http/access-policy.ts`); a route token has none: it opens its one route. */
  role?: Role;
}

/**
 * A route's own credential, tried when the request has no `Authorization` header: answers the
 * principal, throws AUTH_INVALID for a wrong credential, or undefined when the request carries none.
 */
export type RouteAuthenticator = (request: FastifyRequest) => Promise<Principal | undefined>;

/** Checks a bearer token: the principal, `revoked`, or undefined when unknown. */
export type KeyVerifier = (key: string) => Promise<Principal | 'revoked' | undefined>;

/**
 * Checks the dashboard's session cookie of a request without an `Authorization` header: the
 * user, undefined when the request has no session cookie; throws AUTH_INVALID for an ended
 * session and CSRF_INVALID for a change without the session's CSRF token.
 */
export type SessionVerifier = (request: FastifyRequest) => Promise<Principal | undefined>;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    /**
     * Every route registered: method, URL pattern, and whether it declares its own credential
     * (`config.routeAuth`). The route x role test reads it to require an entry for each.
     */
    registeredRoutes: ReadonlyArray<{ method: string; url: string; ownCredential: boolean }>;
  }
  interface FastifyContextConfig {
    /** See RouteAuthenticator. */
    routeAuth?: RouteAuthenticator;
  }
}

/**
 * The caller of an `/api` request: the route's own credential when it declares one and the
 * request has no `Authorization: Bearer` header, else the dashboard's session cookie when the
 * request has no `Authorization` header at all, else the bearer API key. AUTH_REQUIRED /
 * AUTH_INVALID. (A route's credential may itself be an `Authorization` header of another
 * scheme: Postmark's webhooks send Basic credentials.)
 */
export async function authenticate(
  request: FastifyRequest,
  verifyKey: KeyVerifier,
  verifySession?: SessionVerifier,
): Promise<Principal> {
  const routeAuth = request.routeOptions.config?.routeAuth;
  if (routeAuth && !/^Bearer(\s|$)/i.test(request.headers.authorization ?? '')) {
    const principal = await routeAuth(request);
    if (principal) return principal;
  }
  if (verifySession && request.headers.authorization === undefined) {
    const user = await verifySession(request);
    if (user) return user;
  }
  return bearerKey(request, verifyKey);
}

async function bearerKey(request: FastifyRequest, verifyKey: KeyVerifier): Promise<Principal> {
  const header = request.headers.authorization;
  if (!header)
    throw new AppError(
      'AUTH_REQUIRED',
      'sign in to the dashboard, or send an API key as `Authorization: Bearer <key>`',
    );
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new AppError('AUTH_REQUIRED', 'the Authorization header must be `Bearer <key>`');
  const result = await verifyKey(match[1] as string);
  if (result === 'revoked') throw new AppError('AUTH_INVALID', 'this API key was revoked');
  if (!result) throw new AppError('AUTH_INVALID', 'unknown API key');
  return result;
}
