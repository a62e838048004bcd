import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';
import type { SessionVerifier } from '../core/http/auth.js';
import {
  type Accounts,
  type ActiveSession,
  type OpenedSession,
  type RequestContext,
  sessionActor,
} from './accounts.js';

/**
 * The dashboard's session cookie: `facteur_session`, HttpOnly (no script reads it), SameSite=Lax
 * (not sent on cross-site sub-requests and form posts), Secure when the request came over
 * TLS, Path=/, expiring with the session's absolute lifetime. A change made with it must also
 * carry `X-CSRF-Token`, which only a page of this origin can read (`GET /auth/session`).
 */

export const SESSION_COOKIE = 'facteur_session';
export const CSRF_HEADER = 'x-csrf-token';

/** Where a request came from, for sessions and the audit log. */
export function requestContext(request: FastifyRequest): RequestContext {
  const agent = request.headers['user-agent'];
  return { address: request.ip, requestId: request.id, ...(agent ? { userAgent: agent } : {}) };
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, session: OpenedSession): void {
  reply.setCookie(SESSION_COOKIE, session.token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: request.protocol === 'https',
    expires: new Date(session.expiresAt),
  });
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: request.protocol === 'https',
  });
}

function cookieToken(request: FastifyRequest): string | undefined {
  const value = (request.cookies as Record<string, string | undefined> | undefined)?.[SESSION_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

/** The request's session: AUTH_REQUIRED without a cookie, AUTH_INVALID for an ended or unknown one. */
export async function requireSession(accounts: Accounts, request: FastifyRequest): Promise<ActiveSession> {
  const token = cookieToken(request);
  if (!token) throw new AppError('AUTH_REQUIRED', 'sign in first: this request has no session cookie');
  const found = await accounts.findSession(token);
  if (found === 'ended')
    throw new AppError(
      'AUTH_INVALID',
      'your session has ended (signed out, expired or disabled); sign in again',
    );
  if (!found) throw new AppError('AUTH_INVALID', 'your session has ended or is not valid; sign in again');
  return found;
}

/** Refuses a change without the session's CSRF token (CSRF_INVALID, 403). */
export function requireCsrf(accounts: Accounts, session: ActiveSession, request: FastifyRequest): void {
  const given = request.headers[CSRF_HEADER];
  if (accounts.csrfMatches(session, typeof given === 'string' ? given : undefined)) return;
  throw new AppError(
    'CSRF_INVALID',
    given === undefined
      ? `a change made with the session cookie needs the ${CSRF_HEADER} header from GET /auth/session`
      : `the ${CSRF_HEADER} header is not this session's token; reload the page`,
  );
}

/** The session verifier of the `/api` scope. */
export function createSessionVerifier(accounts: Accounts): SessionVerifier {
  return async (request) => {
    if (!cookieToken(request)) return undefined;
    const session = await requireSession(accounts, request);
    if (request.method !== 'GET' && request.method !== 'HEAD') requireCsrf(accounts, session, request);
    return sessionActor(session);
  };
}
