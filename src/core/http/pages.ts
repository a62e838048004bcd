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

/**
 * The policy of an email body shown in the dashboard's sandboxed frame (a caught message, a
 * campaign's or a report's rendered preview): no scripts, no requests anywhere (remote images
 * and tracking pixels stay blocked), sandboxed, framed only by Facteur itself.
 */
export const FRAMED_BODY_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; " +
    "sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'private, no-store',
} as const;

/** An email body as a page for that frame: its HTML, else its text, escaped, as preformatted text. */
export function framedBody(body: { html?: string | null; text?: string | null }): string {
  if (typeof body.html === 'string' && body.html.length > 0) return body.html;
  return `<!doctype html><meta charset="utf-8"><pre style="white-space:pre-wrap;font:14px/1.5 monospace">${escapeHtml(body.text ?? '')}</pre>`;
}
