/**
 * The small HTML pages Facteur serves outside the dashboard and the API: an unsubscribe
 * link's confirmation, a sign-in link's button. Each is one self-contained document, without
 * scripts, answered with headers that keep it out of caches, indexes, frames and referrers
 * (the URL holds a token).
 */

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A whole page: `title` and `body` are HTML already (escape what comes from outside). */
export function htmlPage(title: string, body: string, lang = 'fr'): string {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1.2rem}</style></head><body>${body}</body></html>`;
}

/** The headers of such a page. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-robots-tag': 'noindex',
} as const;
