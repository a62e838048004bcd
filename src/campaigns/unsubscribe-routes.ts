import { z } from 'zod';
import { escapeHtml, PAGE_HEADERS as HEADERS, htmlPage as page } from '../core/http/pages.js';
import type { HttpApp } from '../core/http/server.js';
import type { Campaigns } from './campaigns.js';

/**
 * The signed unsubscribe link of every campaign message, served without an API key (the
 * signature is the authentication). `POST /u/:token` is RFC 8058's one-click unsubscribe (the
 * mail client posts `List-Unsubscribe=One-Click`) and the confirmation page's button: it puts
 * the address on the suppression list at once. `GET /u/:token` only shows that button, so a
 * link scanner fetching the URL unsubscribes nobody.
 */

const NOT_VALID = page(
  'Lien non valide / Link not valid',
  '<h1>Lien non valide</h1><p>Ce lien de désinscription n’est pas valide ou a été modifié.</p><p lang="en">This unsubscribe link is not valid or was altered.</p>',
);

export function registerUnsubscribeRoutes(app: HttpApp, campaigns: Campaigns): void {
  // Mail clients post a small form (urlencoded or multipart); its content is not needed.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4096 }, (_request, _body, done) =>
    done(null, null),
  );
  const params = z.object({ token: z.string().min(1).max(300) });
  app.get(
    '/u/:token',
    {
      schema: {
        summary:
          'The confirmation page of a campaign’s unsubscribe link: a button that posts to the same URL.',
        tags: ['campaigns'],
        params,
        produces: ['text/html'],
        response: { 200: z.string(), 404: z.string() },
      },
    },
    async (request, reply) => {
      const target = await campaigns.unsubscribeTarget(request.params.token);
      if (!target) return reply.status(404).headers(HEADERS).send(NOT_VALID);
      const address = escapeHtml(target.address);
      return reply
        .headers(HEADERS)
        .send(
          page(
            'Se désinscrire / Unsubscribe',
            `<h1>Se désinscrire</h1><p><strong>${address}</strong> ne recevra plus ces envois.</p><p lang="en"><strong>${address}</strong> will no longer receive these mailings.</p><form method="post"><button type="submit">Me désinscrire / Unsubscribe</button></form>`,
          ),
        );
    },
  );
  app.post(
    '/u/:token',
    {
      schema: {
        summary: 'One-click unsubscribe (RFC 8058): puts the recipient on the suppression list at once.',
        tags: ['campaigns'],
        params,
        // What mail clients and the page's form post; the body is not read.
        consumes: ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'],
        produces: ['text/html'],
        response: { 200: z.string(), 404: z.string() },
      },
    },
    async (request, reply) => {
      const done = await campaigns.unsubscribe(request.params.token);
      if (!done) return reply.status(404).headers(HEADERS).send(NOT_VALID);
      const address = escapeHtml(done.address);
      return reply
        .headers(HEADERS)
        .send(
          page(
            'Désinscrit / Unsubscribed',
            `<h1>C’est fait</h1><p><strong>${address}</strong> est désinscrit.</p><p lang="en"><strong>${address}</strong> is unsubscribed.</p>`,
          ),
        );
    },
  );
}
