import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import { escapeHtml, htmlPage, PAGE_HEADERS } from '../core/http/pages.js';
import type { HttpApp } from '../core/http/server.js';
import type { Accounts, ActiveSession, OpenedSession } from './accounts.js';
import {
  clearSessionCookie,
  requestContext,
  requireCsrf,
  requireSession,
  setSessionCookie,
} from './session-cookie.js';
import type { LinkState, SignIn } from './sign-in.js';
import {
  loginSchema,
  magicLinkRequestSchema,
  passwordChangeSchema,
  setupSchema,
  userSchema,
} from './users-model.js';

/**
 * The dashboard's sign-in routes, outside `/api` (no API key): `/auth/*`. JSON only, so a form
 * on another site cannot post to them (a browser sends such a JSON request only after a CORS
 * preflight, which Facteur never allows). The exception is a sign-in link's button, a form
 * post to `/auth/magic/:token`, which checks the Origin header instead.
 */

const sessionBody = z.object({
  user: userSchema,
  csrfToken: z.string().describe('Send it as `X-CSRF-Token` with every change made with the cookie.'),
  idleExpiresAt: z.number().describe('When the session ends if unused (epoch ms).'),
  expiresAt: z.number().describe('When the session ends at the latest (epoch ms).'),
});

const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown() }),
});

function sessionAnswer(session: Omit<OpenedSession, 'token'>) {
  const { user, csrfToken, idleExpiresAt, expiresAt } = session;
  return { user, csrfToken, idleExpiresAt, expiresAt };
}

export interface AuthRouteDeps {
  accounts: Accounts;
  signIn: SignIn;
}

export function registerAuthRoutes(app: HttpApp, deps: AuthRouteDeps): void {
  const { accounts, signIn } = deps;
  const tags = ['auth'];
  // The sign-in link's button posts an empty form; its content is not read.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 1024 },
    (_r, _b, done) => done(null, undefined),
  );

  app.get(
    '/auth/session',
    {
      schema: {
        summary:
          'The signed-in user and the CSRF token; 401 without a session (details say whether setup is needed).',
        tags,
        response: { 200: sessionBody, 401: errorBody },
      },
    },
    async (request, reply) => {
      try {
        return sessionAnswer(await requireSession(accounts, request));
      } catch (error) {
        if (!(error instanceof AppError) || (error.code !== 'AUTH_REQUIRED' && error.code !== 'AUTH_INVALID'))
          throw error;
        if (error.code === 'AUTH_INVALID') clearSessionCookie(request, reply);
        return reply.status(401).send({
          error: {
            code: error.code,
            message: error.message,
            details: { setupRequired: await signIn.setupRequired() },
          },
        });
      }
    },
  );

  app.post(
    '/auth/login',
    {
      schema: {
        summary: 'Signs in with email and password; sets the session cookie.',
        tags,
        body: loginSchema,
        response: { 200: sessionBody },
      },
    },
    async (request, reply) => {
      const session = await signIn.withPassword(request.body, requestContext(request));
      setSessionCookie(request, reply, session);
      return sessionAnswer(session);
    },
  );

  app.post(
    '/auth/magic-link',
    {
      schema: {
        summary:
          'Emails a one-time sign-in link to the account with this email (202 whether or not it exists).',
        tags,
        body: magicLinkRequestSchema,
        response: { 202: z.object({ sent: z.literal(true) }) },
      },
    },
    async (request, reply) => {
      await signIn.requestLink(request.body, requestContext(request));
      return reply.status(202).send({ sent: true });
    },
  );

  app.post(
    '/auth/setup',
    {
      schema: {
        summary: 'Creates the first admin with the setup token printed in the log, and signs them in.',
        tags,
        body: setupSchema,
        response: { 200: sessionBody },
      },
    },
    async (request, reply) => {
      const session = await signIn.completeSetup(request.body, requestContext(request));
      setSessionCookie(request, reply, session);
      return sessionAnswer(session);
    },
  );

  // The session and its CSRF token are checked before the body is read or validated.
  const sessions = new WeakMap<FastifyRequest, ActiveSession>();
  const signedIn = async (request: FastifyRequest) => {
    const session = await requireSession(accounts, request);
    requireCsrf(accounts, session, request);
    sessions.set(request, session);
  };
  const sessionOf = (request: FastifyRequest) => sessions.get(request) as ActiveSession;

  const signOut = (everywhere: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const session = sessionOf(request);
    if (everywhere) await accounts.signOutEverywhere(session, requestContext(request));
    else await accounts.signOut(session, requestContext(request));
    clearSessionCookie(request, reply);
    return reply.status(204).send(null);
  };
  const signOutSchema = (summary: string) => ({
    onRequest: signedIn,
    schema: {
      summary,
      tags,
      headers: z.object({ 'x-csrf-token': z.string().max(200).optional() }),
      response: { 204: z.null() },
    },
  });
  app.post('/auth/logout', signOutSchema('Signs this session out (needs X-CSRF-Token).'), signOut(false));
  app.post(
    '/auth/logout-everywhere',
    signOutSchema(
      'Ends every session of the signed-in user and revokes their unused sign-in links (needs X-CSRF-Token).',
    ),
    signOut(true),
  );

  app.post(
    '/auth/password',
    {
      onRequest: signedIn,
      schema: {
        summary: "Changes the signed-in user's password (needs X-CSRF-Token); their other sessions end.",
        tags,
        body: passwordChangeSchema,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await signIn.changePassword(sessionOf(request), request.body, requestContext(request));
      return reply.status(204).send(null);
    },
  );

  const tokenParams = z.object({ token: z.string().min(1).max(200) });
  app.get(
    '/auth/magic/:token',
    {
      schema: {
        summary: "A sign-in link's page: a button that posts to the same URL. Fetching it signs nobody in.",
        tags,
        params: tokenParams,
        produces: ['text/html'],
        response: { 200: z.string(), 404: z.string(), 410: z.string() },
      },
    },
    async (request, reply) => {
      const state = await signIn.inspectLink(request.params.token);
      if (state.state !== 'valid' || state.purpose !== 'magic_link') return linkPage(reply, state);
      const who = escapeHtml(state.email ?? '');
      return reply
        .headers(PAGE_HEADERS)
        .send(
          htmlPage(
            'Connexion à Facteur / Sign in to Facteur',
            `<h1>Connexion à Facteur</h1><p>Se connecter en tant que <strong>${who}</strong>.</p><p lang="en">Sign in as <strong>${who}</strong>.</p><form method="post"><button type="submit">Se connecter / Sign in</button></form>`,
          ),
        );
    },
  );

  app.post(
    '/auth/magic/:token',
    {
      schema: {
        summary:
          "Signs in with a sign-in link (its page's button), once; answers 303 to the dashboard with the session cookie.",
        tags,
        params: tokenParams,
        consumes: ['application/x-www-form-urlencoded'],
        produces: ['text/html'],
        response: { 303: z.null(), 403: z.string(), 404: z.string(), 410: z.string() },
      },
    },
    async (request, reply) => {
      // Login CSRF: another site must not sign this browser in with a link of its own.
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== 'null' && new URL(origin).host !== request.host) {
        return reply
          .status(403)
          .headers(PAGE_HEADERS)
          .send(
            htmlPage(
              'Refusé / Refused',
              '<h1>Refusé / Refused</h1><p>This form was posted from another site.</p>',
              'en',
            ),
          );
      }
      let session: OpenedSession;
      try {
        session = await signIn.withLink(request.params.token, requestContext(request));
      } catch (error) {
        if (error instanceof AppError && error.code.startsWith('LINK_')) {
          const state = error.code.slice('LINK_'.length).toLowerCase() as
            | 'used'
            | 'expired'
            | 'revoked'
            | 'unknown';
          return linkPage(reply, { state });
        }
        throw error;
      }
      setSessionCookie(request, reply, session);
      return reply.status(303).header('location', '/').header('cache-control', 'no-store').send(null);
    },
  );
}

const LINK_PAGES = {
  used: [
    'Lien déjà utilisé',
    'Ce lien de connexion a déjà servi. Demandez-en un nouveau.',
    'This sign-in link was used already. Ask for a new one.',
  ],
  expired: [
    'Lien expiré',
    'Ce lien de connexion a expiré. Demandez-en un nouveau.',
    'This sign-in link has expired. Ask for a new one.',
  ],
  revoked: [
    'Lien révoqué',
    'Ce lien de connexion a été révoqué (un lien plus récent a été envoyé, ou le compte a été déconnecté ou désactivé).',
    'This sign-in link was revoked (a newer link was sent, or the account was signed out or disabled).',
  ],
  unknown: [
    'Lien non valide',
    'Ce lien de connexion n’est pas valide. Vérifiez qu’il a été copié en entier.',
    'This sign-in link is not valid. Check that it was copied whole.',
  ],
} as const;

function linkPage(reply: FastifyReply, state: LinkState) {
  const key = state.state === 'valid' ? 'unknown' : state.state;
  const [title, fr, en] = LINK_PAGES[key];
  return reply
    .status(key === 'unknown' ? 404 : 410)
    .headers(PAGE_HEADERS)
    .send(
      htmlPage(title, `<h1>${title}</h1><p>${fr}</p><p lang="en">${en}</p><p><a href="/">Facteur</a></p>`),
    );
}
