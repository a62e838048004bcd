/**
 * The dashboard's client of Facteur's API, on the same origin: the session cookie goes with
 * every request, and a state change carries the session's CSRF token (`x-csrf-token`). Every
 * failure becomes an `ApiError` with the API's code and message, which the screens show.
 */

/** A failed call: the API's `{error:{code,message,details}}`, or what the network said. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Seconds to wait, from `retry-after` (a locked login). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The signed-in user and their session, as `/auth/session` and `/auth/login` answer. */
export interface Session {
  user: { id: string; email: string; name: string; role: string };
  csrfToken: string;
  /** Epoch milliseconds. */
  idleExpiresAt: number;
  expiresAt: number;
}

let csrfToken: string | undefined;
let onSessionLost: () => void = () => undefined;

/** Sets the token sent on state changes (from the session). */
export function setSessionToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when an authenticated call answers 401: the session ended elsewhere or expired. */
export function whenSessionLost(callback: () => void): void {
  onSessionLost = callback;
}

/** Options of one call. */
export interface CallOptions {
  body?: unknown;
  /** Statuses answered as success with their body (`/readyz` answers 503 with its report). */
  accept?: number[];
  /** Do not report a 401 as a lost session (the sign-in calls themselves). */
  quiet401?: boolean;
}

/** Calls the API; answers the parsed JSON body, or throws an `ApiError`. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `Facteur cannot be reached (${(error as Error).message})`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (response.ok || options.accept?.includes(response.status)) return body as T;
  const error = (body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)
    ?.error;
  const retryAfter = Number(response.headers.get('retry-after'));
  const failure = new ApiError(
    response.status,
    error?.code ?? `HTTP_${response.status}`,
    error?.message ?? (response.statusText || `HTTP ${response.status}`),
    error?.details,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
  if (response.status === 401 && !options.quiet401) onSessionLost();
  throw failure;
}

/** `GET` with query parameters (empty values left out). */
export function get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined && value !== '') params.set(name, String(value));
  const search = params.toString();
  return call<T>('GET', search ? `${path}?${search}` : path);
}
