import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import type { FastifyReply } from 'fastify';
import { AppError } from '../core/errors.js';
import type { HttpApp } from '../core/http/server.js';

/**
 * Serves the dashboard built by `npm run build` (`dashboard/build.ts`) on the API's port: `/` (and
 * `/setup`, the first admin's link) answer `index.html`, whose screens are hash routes
 * (`/#/mail`), and `/assets/*` the bundle, whose names carry a content hash. Every answer here
 * carries the strict CSP and the other security headers; the API's JSON answers do not need them.
 */

/** Options of `registerDashboardRoutes`. */
export interface DashboardOptions {
  /** The built dashboard, holding `index.html` and `assets/`; default `dist/dashboard`. */
  dir?: string;
}

/**
 * `dist/dashboard` of this checkout, from the sources (`src/dashboard/`) as from the build
 * (`dist/dashboard/`, where tsc puts this module beside the bundle): both are two levels down.
 */
export function defaultDashboardDir(): string {
  return fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));
}

/**
 * The dashboard's Content-Security-Policy: nothing inline, nothing from elsewhere. `frame-src
 * 'self'` lets the mail screen show a caught message's HTML from its own route, in a sandbox.
 */
export const DASHBOARD_CSP = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'frame-src': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/** Asset names as the build writes them: no separators, no dot files. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Registers `/`, `/setup` and `/assets/*` in a scope of their own (the headers stay on them). */
export async function registerDashboardRoutes(app: HttpApp, options: DashboardOptions = {}): Promise<void> {
  const dir = options.dir ?? defaultDashboardDir();
  await app.register(async (scope) => {
    const dashboard = scope as unknown as HttpApp;
    await dashboard.register(helmet, {
      global: true,
      contentSecurityPolicy: { useDefaults: false, directives: DASHBOARD_CSP },
      // HSTS belongs to whoever terminates TLS; Facteur itself may be reached over plain HTTP
      // on a private network, where the header would only pin a name to a port it never had.
      strictTransportSecurity: false,
      xFrameOptions: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: false,
    });
    const page = (_request: unknown, reply: FastifyReply) => sendIndex(dir, reply);
    const hidden = { schema: { hide: true } };
    dashboard.get('/', hidden, page);
    dashboard.get('/setup', hidden, page);
    dashboard.get<{ Params: { '*': string } }>('/assets/*', hidden, async (request, reply) => {
      const name = request.params['*'];
      const type = CONTENT_TYPES[extname(name)];
      if (!ASSET_NAME.test(name) || !type) throw new AppError('NOT_FOUND', 'no such dashboard asset');
      const body = await readFile(join(dir, 'assets', name)).catch(() => undefined);
      if (!body) throw new AppError('NOT_FOUND', 'no such dashboard asset');
      // The name changes with the content, so an asset never changes under its name.
      return reply.header('cache-control', 'public, max-age=31536000, immutable').type(type).send(body);
    });
  });
}

async function sendIndex(dir: string, reply: FastifyReply): Promise<FastifyReply> {
  const html = await readFile(join(dir, 'index.html'), 'utf8').catch(() => undefined);
  // Always asked again: it names the current assets.
  reply.header('cache-control', 'no-cache');
  if (html === undefined) return reply.status(503).type('text/html; charset=utf-8').send(MISSING_BUILD);
  return reply.type('text/html; charset=utf-8').send(html);
}

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Facteur: dashboard not built</title></head>
<body><h1>The dashboard is not built</h1>
<p>This Facteur has no built dashboard. Run <code>npm run build</code> (or <code>npm install</code>,
which builds it) in Facteur's folder, then reload this page. The API under <code>/api</code> works
without it.</p>
<p lang="fr">Le tableau de bord n'est pas construit : lancez <code>npm run build</code> puis rechargez
la page.</p></body></html>
`;
