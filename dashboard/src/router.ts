import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routing (`/#/mail/123?status=failed`): the server answers `index.html` at `/` alone, and a
 * screen's address still survives a reload and can be shared.
 */

/** The current screen's address. */
export interface Route {
  /** The path after `#`, e.g. `/mail/123`; `/` when empty. */
  path: string;
  /** Its parts, e.g. `['mail', '123']`. */
  parts: string[];
  query: URLSearchParams;
}

/** Parses a `location.hash`. */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const [pathPart = '/', search = ''] = raw.split('?', 2);
  const path = pathPart.startsWith('/') ? pathPart : `/${pathPart}`;
  return {
    path,
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(search),
  };
}

/** The link to a screen, e.g. `href('/mail', { status: 'failed' })`. */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const search = params.toString();
  return `#${path}${search ? `?${search}` : ''}`;
}

/** Goes to a screen. */
export function navigate(path: string, query: Record<string, string | undefined> = {}): void {
  location.hash = href(path, query);
}

/**
 * The setup link Facteur prints (`/setup?token=...`) becomes the setup screen's hash route, so
 * that every screen lives at `/`.
 */
export function adoptSetupPath(): void {
  if (location.pathname !== '/setup') return;
  const token = new URLSearchParams(location.search).get('token') ?? '';
  history.replaceState(null, '', `/${href('/setup', { token })}`);
}

/** The current route, following `hashchange`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
