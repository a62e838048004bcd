import type { Clock } from '../core/clock.js';
import type { SmtpServerConfig } from '../core/config/index.js';
import { AppError } from '../core/errors.js';
import type { ObserveDependency } from '../core/observability/dependencies.js';
import type { ComponentHealth, Logger } from '../core/observability/index.js';
import { composeMime, envelopeOf } from './mime.js';
import { classifySmtpFailure, isConnectivityFailure, replyCodeOf, type SmtpFailure } from './model.js';
import { SmtpPool } from './smtp-pool.js';
import { TransportState } from './transport-state.js';

/**
 * The SMTP adapter: Facteur's connection pool (smtp-pool.ts) with explicit connect, greeting,
 * socket and whole-send timeouts, a circuit breaker for an unreachable server, and the
 * translation of the protocol's errors into AppErrors. Nothing outside this file sees one.
 */

/** A message ready to hand to the SMTP server. */
export interface OutboundMessage {
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
  messageId: string;
  /** Files attached by Facteur itself (a report's CSV); content in base64. */
  attachments?: MessageAttachment[];
}

/** A file attached to a message. */
export interface MessageAttachment {
  filename: string;
  contentType: string;
  /** Base64. */
  content: string;
}

/** A recipient the server refused at RCPT TO, with its reply. */
export interface RefusedRecipient {
  address: string;
  smtpCode: number | null;
  smtpResponse: string | null;
  /** A provider API's refusal (no SMTP code): the provider's error code, e.g. `postmark:406`. */
  providerCode?: string;
  /** Set by provider transports: whether the refusal is final (dropped) or worth a retry. */
  permanent?: boolean;
}

/** What the server said when it took the message. */
export interface SendResult {
  smtpCode: number | null;
  smtpResponse: string;
  accepted: string[];
  /** Recipients refused at RCPT while others were accepted: an expected outcome, not an error. */
  rejected: RefusedRecipient[];
  /** The id a provider API gave the message (Postmark MessageID, SES MessageId, ...). */
  providerMessageId?: string;
}

/** How one send goes: to `envelopeTo` only (a retry of refused recipients), `signal` to abort. */
export interface SendOptions {
  envelopeTo?: string[];
  signal?: AbortSignal;
}

/**
 * What the send job needs of a transport: SMTP (SmtpTransport) or a provider API
 * (mail/providers). `send` throws classified AppErrors; see failover.ts for which of them hand
 * the message to the next transport.
 */
export interface MailTransport {
  /** Name shown in /readyz (`transport:NAME`), metrics and attempts. */
  readonly name: string;
  /** `smtp`, or the provider: `postmark`, `sendgrid`, `mailgun`, `ses`. */
  readonly kind: string;
  /** Asks the breaker whether a send may start; refused while the circuit is open. */
  reserveSend(): { ok: true } | { ok: false; retryAt: number };
  send(message: OutboundMessage, options?: SendOptions): Promise<SendResult>;
  /** Checks reachability and credentials without sending. */
  verify(): Promise<void>;
  health(): ComponentHealth;
  close(): void;
}

/** Settings of an SMTP transport. */
export interface SmtpTransportOptions {
  /** Name shown in /readyz and logs (e.g. `smtp` or `catcher`). */
  name: string;
  server: SmtpServerConfig;
  poolSize: number;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  sendTimeoutMs: number;
  /** Connectivity failures in a row that open the breaker (default 5). */
  breakerThreshold?: number;
  /** How long the breaker stays open (default 30 s). */
  breakerOpenMs?: number;
}

/** One SMTP relay with its pool, breaker and health. */
export class SmtpTransport implements MailTransport {
  readonly name: string;
  readonly kind = 'smtp';
  private readonly pool: SmtpPool;
  private readonly state: TransportState;

  constructor(
    private readonly options: SmtpTransportOptions,
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      /** Called when the breaker closes again, so work deferred while it was open can go now. */
      onCircuitClosed?: () => void;
      /** Gets one sample per send or verify (dependency watching). */
      observe?: ObserveDependency;
    },
  ) {
    this.name = options.name;
    const { server } = options;
    this.pool = new SmtpPool({
      host: server.host,
      port: server.port,
      secure: server.secure,
      requireTLS: server.requireTls,
      ignoreTLS: server.ignoreTls,
      tls: { rejectUnauthorized: server.tlsVerify, servername: server.host },
      ...(server.user ? { auth: { user: server.user, pass: server.password ?? '' } } : {}),
      size: options.poolSize,
      maxMessages: 500,
      connectionTimeout: options.connectTimeoutMs,
      greetingTimeout: options.greetingTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
    });
    this.state = new TransportState({
      ...deps,
      name: this.name,
      breakerThreshold: options.breakerThreshold,
      breakerOpenMs: options.breakerOpenMs,
      // A reply (4xx/5xx) proves the server is up; only unreachability counts toward the breaker.
      countsTowardBreaker: isConnectivityFailure,
      breakerLog: { event: 'smtp.breaker', subject: 'SMTP' },
      failureLog: { event: 'smtp.failed', message: 'SMTP send failed' },
      openedBy: 'repeated connection failures',
    });
  }

  /** Asks the breaker whether a send may start (see TransportState.reserveSend). */
  reserveSend(): { ok: true } | { ok: false; retryAt: number } {
    return this.state.reserveSend();
  }

  /**
   * Sends one message; throws a classified AppError (SMTP_*). With `envelopeTo`, only those
   * recipients get it (a retry for recipients refused earlier with a 4xx); headers are unchanged.
   * When every recipient is refused, the error's details list each with its reply.
   */
  async send(message: OutboundMessage, options: SendOptions = {}): Promise<SendResult> {
    const { signal, envelopeTo } = options;
    const startedAt = this.deps.clock.now();
    const measuredFrom = performance.now();
    try {
      const info = await this.pool.send(
        envelopeOf(message, envelopeTo),
        composeMime(message, new Date(startedAt)),
        {
          timeoutMs: this.options.sendTimeoutMs,
          signal,
        },
      );
      this.state.succeeded(measuredFrom);
      const response = String(info.response ?? '');
      this.deps.logger.debug(
        { event: 'smtp.sent', transport: this.name, ms: this.deps.clock.now() - startedAt, response },
        'message handed to the SMTP server',
      );
      return {
        smtpCode: replyCodeOf(response) ?? null,
        smtpResponse: response,
        accepted: (info.accepted ?? []).map(String),
        rejected: refusedRecipients(info as { rejectedErrors?: unknown }),
      };
    } catch (thrown) {
      // Aborted by the job engine (shutdown, lost lease): not the server's doing, so neither a
      // failure to record nor a probe result; the probe (if this was it) is replaced in time.
      if (signal?.aborted) throw signal.reason ?? thrown;
      let error = thrown instanceof AppError ? thrown : classifySmtpFailure(thrown as SmtpFailure);
      const refused = refusedRecipients(thrown as { rejectedErrors?: unknown });
      if (refused.length > 0) {
        error = new AppError(error.code, error.message, {
          details: { ...(error.details as object), refusedRecipients: refused },
          cause: thrown,
        });
      }
      this.state.failed(error, measuredFrom);
      throw error;
    }
  }

  /** Opens a connection, greets and authenticates, without sending (for `config check` and start-up). */
  async verify(): Promise<void> {
    const measuredFrom = performance.now();
    try {
      await this.pool.verify();
      this.state.succeeded(measuredFrom);
    } catch (thrown) {
      const error = classifySmtpFailure(thrown as SmtpFailure);
      this.state.failed(error, measuredFrom);
      throw error;
    }
  }

  /** State for /readyz: ok, degraded while failing, down while the breaker is open. */
  health(): ComponentHealth {
    return this.state.health({ host: this.options.server.host, port: this.options.server.port });
  }

  /** Closes the pool. */
  close(): void {
    this.pool.close();
  }
}

/** nodemailer's per-recipient RCPT errors, as plain facts. */
function refusedRecipients(source: { rejectedErrors?: unknown } | undefined): RefusedRecipient[] {
  const errors = Array.isArray(source?.rejectedErrors)
    ? (source.rejectedErrors as Array<{ recipient?: string; responseCode?: number; response?: string }>)
    : [];
  return errors.map((e) => ({
    address: String(e.recipient ?? ''),
    smtpCode: e.responseCode ?? replyCodeOf(e.response) ?? null,
    smtpResponse: e.response ?? null,
  }));
}
