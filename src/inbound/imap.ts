import { isIP } from 'node:net';
import type { ImapFlow } from 'imapflow';
import { fetch } from 'undici';
import { parseDuration } from '../core/config/parsers.js';
import { AppError, isAppError } from '../core/errors.js';
import { bareHost, guardedAgent, type TargetGuard } from '../core/net/ssrf.js';
import type { Mailbox } from './mailboxes.js';

/**
 * The IMAP edge: builds imapflow clients from mailbox settings, exchanges OAuth2 refresh
 * tokens for XOAUTH2 access tokens, and translates imapflow's errors into AppErrors (DESIGN
 * rule 4), so the watcher reasons about codes, never library errors.
 */

/** Timeouts of one connection. */
export const IMAP_TIMEOUTS = {
  /** DNS, TCP and TLS together. */
  connectMs: 15_000,
  greetingMs: 15_000,
  /**
   * Inactivity that declares the socket dead. IDLE is broken and entered again every
   * `IDLE_REFRESH_MS` (well before the 29 minutes of RFC 2177), so a live IDLE connection is
   * never this quiet; a dead one is found within this delay. In poll mode the connection is
   * quiet between polls: the limit is then the poll interval plus this.
   */
  socketMs: 3 * 60_000,
};
/** IDLE is refreshed this often: before RFC 2177's 29 minutes, and before NATs forget the flow. */
export const IDLE_REFRESH_MS = 2 * 60_000;

/** An OAuth2 access token and when it stops working. */
interface AccessToken {
  token: string;
  expiresAt: number;
}

/** Exchanges refresh tokens for access tokens, caching each until a minute before it expires. */
export class OAuthTokens {
  private readonly cache = new Map<string, AccessToken>();
  private readonly dispatcher: ReturnType<typeof guardedAgent>;

  constructor(
    private readonly now: () => number,
    /** The SSRF guard: the token URL receives the client secret and refresh token. */
    private readonly guard: TargetGuard,
  ) {
    this.dispatcher = guardedAgent(guard);
  }

  /** Closes the pooled connections to token URLs. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** A valid access token for `mailbox` (an OAuth2 one). */
  async accessToken(mailbox: Mailbox): Promise<string> {
    const { auth } = mailbox.settings;
    if (auth.type !== 'oauth2') throw new AppError('INTERNAL', 'not an OAuth2 mailbox');
    // Keyed by the credentials too: changed credentials never reuse the old access token.
    const key = `${mailbox.id}\n${mailbox.updatedAt}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - 60_000 > this.now()) return cached.token;
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: mailbox.secrets.refreshToken ?? '',
      client_id: auth.clientId,
      ...(mailbox.secrets.clientSecret ? { client_secret: mailbox.secrets.clientSecret } : {}),
    });
    await this.checkCleartext(auth.tokenUrl);
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(auth.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(15_000),
        dispatcher: this.dispatcher,
        redirect: 'error',
      });
    } catch (error) {
      // The guard refused the address (a name that now resolves to a private one): say so.
      const cause = (error as { cause?: unknown }).cause;
      if (isAppError(cause) && cause.code === 'TARGET_FORBIDDEN') throw cause;
      throw new AppError(
        'IMAP_OAUTH_FAILED',
        `the token URL ${auth.tokenUrl} cannot be reached: ${(error as Error).message}`,
        {
          retryable: true,
          cause: error,
        },
      );
    }
    const text = await response.text();
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } =
      {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // Reported below with the status.
    }
    if (!response.ok || typeof json.access_token !== 'string') {
      const why =
        typeof json.error === 'string'
          ? `${json.error}${json.error_description ? `: ${String(json.error_description)}` : ''}`
          : `HTTP ${response.status}`;
      // invalid_grant: the refresh token was revoked or expired; only a new one helps.
      throw new AppError('IMAP_OAUTH_FAILED', `the token URL refused the refresh token (${why})`, {
        retryable: json.error !== 'invalid_grant' && response.status >= 500,
      });
    }
    const lifetime = typeof json.expires_in === 'number' ? json.expires_in * 1000 : 3_600_000;
    for (const old of this.cache.keys()) if (old.startsWith(`${mailbox.id}\n`)) this.cache.delete(old);
    this.cache.set(key, { token: json.access_token, expiresAt: this.now() + lifetime });
    return json.access_token;
  }

  /**
   * A plain-http token URL is judged again before each exchange, not only on save: a mailbox
   * saved before the https rule, or a name that now resolves to a public address, must not get
   * the secrets in clear. (The connection itself goes through the guard's lookup.)
   */
  private async checkCleartext(tokenUrl: string): Promise<void> {
    if (!tokenUrl.toLowerCase().startsWith('http:')) return;
    try {
      await this.guard.checkSecretUrl(tokenUrl, 'auth.tokenUrl');
    } catch (error) {
      if (!isAppError(error) || error.code !== 'VALIDATION_FAILED') throw error;
      throw new AppError('IMAP_OAUTH_FAILED', `the token URL ${tokenUrl} was not called: ${error.message}`, {
        retryable: false,
        cause: error,
      });
    }
  }

  /** Forgets the token of a mailbox (after the server refused it). */
  forget(mailboxId: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${mailboxId}\n`)) this.cache.delete(key);
  }
}

/** A client for `mailbox`, not yet connected. Auto-IDLE is off: the watcher enters IDLE itself at once. */
export async function imapClient(
  mailbox: Mailbox,
  tokens: OAuthTokens,
  guard: TargetGuard,
): Promise<ImapFlow> {
  if (mailbox.secretsProblem) throw new AppError('CONFIG_INVALID', mailbox.secretsProblem);
  const s = mailbox.settings;
  // imapflow takes no DNS lookup: resolve through the guard here and connect to the address it
  // judged, naming the host for TLS (SNI and certificate) so that nothing else changes.
  const address = await guard.resolveForConnect(s.host);
  const auth =
    s.auth.type === 'password'
      ? { user: s.auth.user, pass: mailbox.secrets.password ?? '' }
      : { user: s.auth.user, accessToken: await tokens.accessToken(mailbox) };
  // imapflow and its parsers (about a hundred modules) load with the first mailbox, not at start.
  const { ImapFlow } = await import('imapflow');
  return new ImapFlow({
    host: address,
    ...(isIP(bareHost(s.host)) ? {} : { servername: s.host }),
    port: s.port,
    secure: s.tls === 'implicit',
    doSTARTTLS: s.tls === 'starttls' ? true : s.tls === 'none' ? false : undefined,
    tls: { rejectUnauthorized: s.tlsVerify },
    auth,
    logger: false,
    // Server lines come back as 'log' events: the watcher looks for untagged NO and BAD.
    emitLogs: true,
    disableAutoIdle: true,
    maxIdleTime: IDLE_REFRESH_MS,
    connectionTimeout: IMAP_TIMEOUTS.connectMs,
    greetingTimeout: IMAP_TIMEOUTS.greetingMs,
    socketTimeout:
      s.mode === 'poll' ? parseDuration(s.pollInterval) + IMAP_TIMEOUTS.socketMs : IMAP_TIMEOUTS.socketMs,
    clientInfo: { name: 'Facteur' },
  });
}

/** The AppError for anything imapflow (or the socket under it) threw. */
export function imapError(error: unknown, where: string): AppError {
  if (error instanceof AppError) return error;
  const e = error as {
    code?: string;
    message?: string;
    authenticationFailed?: boolean;
    responseText?: string;
  };
  const detail = e.responseText ?? e.message ?? String(error);
  if (e.authenticationFailed || e.code === 'AUTHENTICATIONFAILED') {
    return new AppError('IMAP_AUTH_FAILED', `${where}: the server refused the credentials (${detail})`, {
      retryable: true,
      cause: error,
    });
  }
  if (
    e.code &&
    ['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'ETIMEDOUT', 'ETIMEOUT', 'SocketTimeout'].includes(e.code)
  ) {
    return new AppError('IMAP_TIMEOUT', `${where}: no answer in time (${e.code})`, {
      retryable: true,
      cause: error,
    });
  }
  if (
    e.code &&
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|NoConnection|ClosedAfterConnect|EConnectionClosed|StateLogout)/.test(
      e.code,
    )
  ) {
    return new AppError('IMAP_CONNECT_FAILED', `${where}: ${detail} (${e.code})`, {
      retryable: true,
      cause: error,
    });
  }
  return new AppError('IMAP_PROTOCOL', `${where}: ${detail}`, { retryable: true, cause: error });
}
