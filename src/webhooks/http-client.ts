import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { Agent, buildConnector, type Dispatcher, errors } from 'undici';
import { AppError, type ErrorCode, isAppError } from '../core/errors.js';
import { bareHost, guardConnector, TargetGuard } from '../core/net/ssrf.js';

/**
 * The outbound HTTP layer of webhook delivery: one POST, no redirects, keep-alive pools, the
 * SSRF guard applied when each connection is made, and undici's errors translated into
 * WEBHOOK_* AppErrors. What a status code means for the delivery is decided by the caller.
 */

/** One webhook POST. */
export interface WebhookHttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Limit for DNS resolution plus the TCP (and TLS) handshake of a new connection. */
  connectTimeoutMs: number;
  /** Total limit: connect + response headers + reading the body. */
  timeoutMs: number;
  /** Aborting rejects promptly with the signal's reason. */
  signal?: AbortSignal;
  /** Default POST; HEAD (no body) is the dependency probe of an endpoint's origin. */
  method?: 'POST' | 'HEAD';
}

/** The receiver's answer, whatever its status. */
export interface WebhookHttpResponse {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** The body decoded as UTF-8, at most `maxBodyBytes`. */
  body: string;
  bodyTruncated: boolean;
  /** From the start of the request to the end of reading the (possibly truncated) body. */
  latencyMs: number;
}

/** Options of `WebhookHttpClient`. */
export interface WebhookHttpClientOptions {
  /** The SSRF guard every connection goes through; default: public addresses only. */
  guard?: TargetGuard;
  /** Keep-alive connections per origin; default 64. */
  connectionsPerOrigin?: number;
  /** Bytes of response body kept; default 65536. */
  maxBodyBytes?: number;
  /** User-Agent header; default 'Facteur-Webhooks/1.0'. */
  userAgent?: string;
}

type Phase = 'dns' | 'connect' | 'response' | 'body';

/** `label` is `host:port` for messages: never the path or query, which may carry secrets. */
type Target = { host: string; port: number; label: string };

// Past this many bytes beyond `maxBodyBytes`, dropping the connection is cheaper than reading on
// to keep it alive for the next delivery.
const DISCARD_LIMIT = 1024 * 1024;

// Library error codes by what they mean for a delivery (node:net, getaddrinfo, undici).
const DNS_CODES = new Set('ENOTFOUND EAI_AGAIN EAI_FAIL EAI_NODATA EAI_NONAME ESERVFAIL'.split(' '));
const CONNECT_CODES = new Set(
  'ECONNREFUSED EHOSTUNREACH ENETUNREACH EHOSTDOWN ENETDOWN EADDRNOTAVAIL ETIMEDOUT'.split(' '),
);
const RESET_CODES = new Set([
  ...'ECONNRESET EPIPE ECONNABORTED UND_ERR_SOCKET UND_ERR_CLOSED UND_ERR_DESTROYED'.split(' '),
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

/** Marks the abort done by the total timeout, to tell it from the caller's own abort. */
class TotalTimeout extends Error {}

function targetOf(request: WebhookHttpRequest): { url: URL; target: Target } {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', 'the webhook URL is not a valid URL', { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('VALIDATION_FAILED', `webhook URLs must be http or https, not ${url.protocol}`);
  }
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  return { url, target: { host: bareHost(url.hostname), port, label: `${url.hostname}:${port}` } };
}

/**
 * Enforces `timeoutMs` on DNS plus handshake with a plain timer: undici's own connect timeout
 * runs on its coarse 1-second timer wheel, so a 200 ms limit would fire after up to ~1 s.
 */
function withConnectTimeout(connect: buildConnector.connector, timeoutMs: number): buildConnector.connector {
  return (options, callback) => {
    let settled = false;
    const settle: buildConnector.Callback = (...args) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      callback(...args);
    };
    const timer = setTimeout(() => {
      settle(new errors.ConnectTimeoutError(`connect timeout after ${timeoutMs} ms`), null);
      socket?.destroy();
    }, timeoutMs);
    // buildConnector's connect returns the socket, although its type says void.
    const socket = connect(options, settle) as unknown as Socket | undefined;
  };
}

/** A connector for new pooled connections, each judged by the SSRF guard. */
function connectorFor(guard: TargetGuard, timeoutMs: number): buildConnector.connector {
  return guardConnector(
    guard,
    withConnectTimeout(buildConnector({ timeout: 0, lookup: guard.lookup() }), timeoutMs),
  );
}

/** A connection closed under the request (reset, closed by the other side). */
function isReset(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RESET_CODES.has(code);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

type CappedBody = { text: string; truncated: boolean; endedAt: number };

/** Reads at most `maxBytes`, then pauses the stream; a multi-byte character cut in half is dropped. */
function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<CappedBody> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let text = '';
    let kept = 0;
    // An error after we stopped listening (the connection dropped while discarding) must not crash.
    body.on('error', () => {});
    const finish = (truncated: boolean) => {
      body.off('data', onData).off('end', onEnd).off('error', reject);
      resolve({ text: truncated ? text : text + decoder.end(), truncated, endedAt: performance.now() });
    };
    const onData = (chunk: Buffer) => {
      const room = maxBytes - kept;
      text += decoder.write(chunk.subarray(0, room));
      kept += Math.min(room, chunk.length);
      if (chunk.length <= room) return;
      body.pause();
      finish(true);
    };
    const onEnd = () => finish(false);
    body.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errors, cause } = error as { code?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof code === 'string') return code;
  // Node's happy-eyeballs connect reports one AggregateError for all the addresses it tried.
  if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  return errorCode(cause);
}

function timeoutError(target: Target, kind: 'connect' | 'total', ms: number, phase: Phase, cause?: unknown) {
  const what =
    kind === 'connect'
      ? `no connection within the connect timeout (connectTimeoutMs = ${ms} ms)`
      : `no complete answer within the total timeout (timeoutMs = ${ms} ms) while ${phase === 'body' ? 'reading the body' : 'waiting for the response'}`;
  return new AppError('WEBHOOK_TIMEOUT', `webhook receiver ${target.label}: ${what}`, {
    details: { host: target.host, port: target.port, phase, timeout: kind, timeoutMs: ms },
    cause,
  });
}

/** Translates what undici or node:net threw into a WEBHOOK_* AppError. */
function translateError(error: unknown, target: Target, phase: Phase, request: WebhookHttpRequest): AppError {
  if (isAppError(error)) return error;
  const causeCode = errorCode(error) ?? 'unknown';
  const make = (code: ErrorCode, what: string, at: Phase) =>
    new AppError(code, `webhook receiver ${target.label}: ${what} (${causeCode})`, {
      details: { host: target.host, port: target.port, phase: at, causeCode },
      cause: error,
    });
  if (causeCode === 'UND_ERR_CONNECT_TIMEOUT') {
    return timeoutError(target, 'connect', request.connectTimeoutMs, 'connect', error);
  }
  if (causeCode === 'UND_ERR_HEADERS_TIMEOUT' || causeCode === 'UND_ERR_BODY_TIMEOUT') {
    return timeoutError(target, 'total', request.timeoutMs, phase, error);
  }
  if (DNS_CODES.has(causeCode)) return make('WEBHOOK_DNS_FAILED', `${target.host} does not resolve`, 'dns');
  if (CONNECT_CODES.has(causeCode)) return make('WEBHOOK_CONNECT_FAILED', 'could not connect', 'connect');
  if (TLS_CODE.test(causeCode)) return make('WEBHOOK_CONNECT_FAILED', 'the TLS handshake failed', 'connect');
  if (RESET_CODES.has(causeCode) || causeCode.startsWith('HPE_')) {
    const when = phase === 'body' ? 'before the end of the body' : 'before answering';
    return make('WEBHOOK_CONNECTION_RESET', `the connection was closed ${when}`, phase);
  }
  const message = error instanceof Error ? error.message : String(error);
  return make('INTERNAL', `the request failed: ${message}`, phase);
}

/** Rejects with the signal's reason as soon as it aborts, even while undici is still connecting. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** One abort signal for the total timeout and the caller's signal. */
function deadlineFor(request: WebhookHttpRequest): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TotalTimeout()), request.timeoutMs);
  const external = request.signal;
  const onAbort = () => controller.abort(external?.reason);
  if (external?.aborted) onAbort();
  else external?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      external?.removeEventListener('abort', onAbort);
    },
  };
}

/** Sends webhook POSTs over pooled keep-alive connections, with the SSRF guard at connect time. */
export class WebhookHttpClient {
  private readonly guard: TargetGuard;
  private readonly connectionsPerOrigin: number;
  private readonly maxBodyBytes: number;
  private readonly userAgent: string;
  // Keyed by connect timeout: undici fixes it per agent.
  private readonly agents = new Map<string, Agent>();
  /** Connections dialled so far, and the number of each open one by its local port. */
  private connects = 0;
  private readonly dialled = new Map<number | undefined, number>();
  private closed = false;

  constructor(options: WebhookHttpClientOptions = {}) {
    this.guard = options.guard ?? new TargetGuard();
    this.connectionsPerOrigin = options.connectionsPerOrigin ?? 64;
    this.maxBodyBytes = options.maxBodyBytes ?? 65_536;
    this.userAgent = options.userAgent ?? 'Facteur-Webhooks/1.0';
  }

  /**
   * POSTs once; never follows redirects (a 3xx is returned as a response). A request that a
   * pooled connection loses before any answer, when the receiver had just closed that idle
   * connection, goes once more on a new connection within the same timeout: the receiver never
   * saw it (and it carries the same webhook-id if it did).
   */
  async send(request: WebhookHttpRequest): Promise<WebhookHttpResponse> {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'the webhook HTTP client is closed');
    const { url, target } = targetOf(request);
    const started = performance.now();
    const deadline = deadlineFor(request);
    try {
      for (let tries = 1; ; tries++) {
        const progress = { phase: 'response' as Phase };
        const connectsBefore = this.connects;
        try {
          const { statusCode, headers, body, stream } = await raceAbort(
            this.exchange(url, request, deadline.signal, progress),
            deadline.signal,
          );
          // Read and drop the rest so the connection can be reused; the limit and the total timeout
          // (which destroys the stream) bound the time spent. `dump` resolves on close, never rejects.
          if (body.truncated) await stream.dump({ limit: this.maxBodyBytes + DISCARD_LIMIT });
          const latencyMs = body.endedAt - started;
          return { statusCode, headers, body: body.text, bodyTruncated: body.truncated, latencyMs };
        } catch (error) {
          const reason: unknown = deadline.signal.reason;
          if (reason instanceof TotalTimeout)
            throw timeoutError(target, 'total', request.timeoutMs, progress.phase);
          if (deadline.signal.aborted) throw reason;
          const pooled = this.dialledBefore(error, connectsBefore);
          if (tries === 1 && pooled && progress.phase === 'response' && isReset(error)) continue;
          throw translateError(error, target, progress.phase, request);
        }
      }
    } finally {
      deadline.dispose();
    }
  }

  /** Closes every pooled connection once its in-flight request ends. */
  async close(): Promise<void> {
    this.closed = true;
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }

  private async exchange(
    url: URL,
    request: WebhookHttpRequest,
    signal: AbortSignal,
    progress: { phase: Phase },
  ) {
    const head = request.method === 'HEAD';
    const payload = Buffer.from(head ? '' : request.body, 'utf8');
    const agent = this.agentFor(request.connectTimeoutMs);
    const response = await agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: head ? 'HEAD' : 'POST',
      headers: this.requestHeaders(request.headers, payload.length),
      ...(head ? {} : { body: payload }),
      signal,
      // The total timeout above governs; undici's own per-phase timers would only race it.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    progress.phase = 'body';
    const body = await readCapped(response.body, this.maxBodyBytes);
    const headers = flattenHeaders(response.headers);
    return { statusCode: response.statusCode, headers, body, stream: response.body };
  }

  /** Numbers a new connection; the oldest numbers are forgotten past a few thousand. */
  private numberConnection(port: number | undefined): void {
    this.dialled.delete(port);
    this.dialled.set(port, ++this.connects);
    if (this.dialled.size > 4096) this.dialled.delete(this.dialled.keys().next().value);
  }

  /** Whether `error` happened on a connection that was open before the request started. */
  private dialledBefore(error: unknown, connectsBefore: number): boolean {
    let port: number | undefined;
    for (let at = error as { socket?: { localPort?: number }; cause?: unknown } | undefined; at; ) {
      port ??= at.socket?.localPort;
      at = at.cause as typeof at;
    }
    // Without the socket in the error (a bare ECONNRESET), it was pooled if none was dialled since.
    if (port === undefined) return this.connects === connectsBefore;
    const number = this.dialled.get(port);
    return number !== undefined && number <= connectsBefore;
  }

  private requestHeaders(input: Record<string, string>, length: number): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    for (const [name, value] of Object.entries(input)) headers[name.toLowerCase()] = value;
    headers['content-length'] = String(length);
    return headers;
  }

  private agentFor(connectTimeoutMs: number): Agent {
    const key = String(connectTimeoutMs);
    let agent = this.agents.get(key);
    if (!agent) {
      const dial = connectorFor(this.guard, connectTimeoutMs);
      // Each connection is numbered by local port, to tell later whether a failed request went
      // over a connection that was already open (pooled) or one dialled for it.
      const connect: buildConnector.connector = (options, callback) =>
        dial(options, ((error: Error | null, socket: Socket | null) => {
          if (socket) this.numberConnection(socket.localPort);
          (callback as (error: Error | null, socket: Socket | null) => void)(error, socket);
        }) as buildConnector.Callback);
      agent = new Agent({ connections: this.connectionsPerOrigin, connect });
      this.agents.set(key, agent);
    }
    return agent;
  }
}
