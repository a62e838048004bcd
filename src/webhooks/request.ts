import type { Endpoint } from './endpoints.js';
import type { WebhookHttpRequest } from './http-client.js';
import { signingHeaders } from './signing.js';

/**
 * The exact HTTP request for one event and endpoint: body in the endpoint's format and shape,
 * Standard Webhooks headers signed with every secret in force, the endpoint's own headers.
 * Used by deliveries, by test sends and by dry runs, so a dry run shows what would really go.
 */

/** The event fields a request is built from. */
export interface EventForRequest {
  id: string;
  type: string;
  payload: unknown;
  createdAt: number;
}

export type BodyFormat = 'json' | 'form';

/** A request ready to send. */
export interface BuiltRequest {
  method: 'POST';
  url: string;
  format: BodyFormat;
  headers: Record<string, string>;
  body: string;
}

/** What the body carries: the Standard Webhooks envelope, or the payload alone. */
export function bodyContent(shape: 'envelope' | 'data', event: EventForRequest): unknown {
  if (shape === 'data') return event.payload;
  return { type: event.type, timestamp: new Date(event.createdAt).toISOString(), data: event.payload };
}

/**
 * Form bodies carry the top-level fields; nested objects and arrays are JSON text in their
 * field (what the form-posting receivers of the old system read). A body that is not an
 * object goes as one `data` field.
 */
export function formEncode(content: unknown): string {
  const params = new URLSearchParams();
  if (content === null || typeof content !== 'object' || Array.isArray(content)) {
    params.set('data', JSON.stringify(content));
    return params.toString();
  }
  for (const [name, value] of Object.entries(content as Record<string, unknown>)) {
    if (value === null || value === undefined) params.append(name, '');
    else if (typeof value === 'object') params.append(name, JSON.stringify(value));
    else params.append(name, String(value));
  }
  return params.toString();
}

/** Builds the request for `event` to `endpoint`, signed at `now`. */
export function buildRequest(
  endpoint: Endpoint,
  secrets: readonly string[],
  event: EventForRequest,
  format: BodyFormat,
  now: number,
): BuiltRequest {
  const content = bodyContent(endpoint.settings.payloadShape, event);
  const body = format === 'json' ? JSON.stringify(content) : formEncode(content);
  const signed = signingHeaders(secrets, event.id, Math.floor(now / 1000), body);
  return {
    method: 'POST',
    url: endpoint.settings.url,
    format,
    headers: {
      ...endpoint.secrets.headers,
      'content-type': format === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
      ...signed,
    },
    body,
  };
}

/** What the HTTP client needs to send a built request with the endpoint's limits. */
export function httpRequestFor(
  endpoint: Endpoint,
  request: BuiltRequest,
  signal?: AbortSignal,
): WebhookHttpRequest {
  return {
    url: request.url,
    headers: request.headers,
    body: request.body,
    connectTimeoutMs: endpoint.settings.connectTimeoutMs,
    timeoutMs: endpoint.settings.timeoutMs,
    ...(signal ? { signal } : {}),
  };
}

export function otherFormat(format: BodyFormat): BodyFormat {
  return format === 'json' ? 'form' : 'json';
}

/** Query strings often carry tokens (Make.com, Zapier): attempts keep the URL without them. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.search ? `${parsed.origin}${parsed.pathname}?…` : `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
