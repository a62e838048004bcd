import { Agent, buildConnector } from 'undici';
import type { Clock } from '../../core/clock.js';
import { AppError } from '../../core/errors.js';
import { bareHost, forbiddenAddressRule, guardConnector, type TargetGuard } from '../../core/net/ssrf.js';
import type { ObserveDependency } from '../../core/observability/dependencies.js';
import type { ComponentHealth, Logger } from '../../core/observability/index.js';
import type { MailTransport, OutboundMessage, SendOptions, SendResult } from '../transport.js';
import { TransportState } from '../transport-state.js';
import {
  classifyNetworkFailure,
  countsTowardBreaker,
  type ProviderRequest,
  type ProviderResponse,
  recipientsOf,
} from './model.js';

/**
 * The shared part of the provider API transports (Postmark, SendGrid, Mailgun, SES): one undici
 * pool per transport whose connections go through the SSRF guard, a connect timeout and a total
 * timeout per request, the caller's AbortSignal, and the breaker, health and dependency samples
 * of TransportState, as SmtpTransport keeps them. Each provider supplies the request it sends
 * and how it reads the answer (pure functions in its own file).
 */

/** Settings of a provider transport. */
export interface HttpProviderOptions {
  /** Name shown in /readyz (`transport:NAME`), metrics and attempts. */
  name: string;
  /** Origin (and optional path prefix) requests go to, e.g. `https://api.postmarkapp.com`. */
  apiBase: string;
  /** Time allowed to open the TCP (and TLS) connection, DNS included. */
  connectTimeoutMs: number;
  /** Longest time one request may take in total. */
  timeoutMs: number;
  /** Unreachability failures in a row that open the breaker (default 5). */
  breakerThreshold?: number;
  /** How long the breaker stays open (default 30 s). */
  breakerOpenMs?: number;
}

/** What a provider transport is given. */
export interface HttpProviderDeps {
  clock: Clock;
  logger: Logger;
  /** The SSRF guard every connection goes through. */
  guard: TargetGuard;
  /** Called when the breaker closes again, so work deferred while it was open can go now. */
  onCircuitClosed?: () => void;
  /** Gets one sample per send or verify (dependency watching). */
  observe?: ObserveDependency;
}

/** Marks the abort done by the total timeout, to tell it from the caller's own abort. */
class TotalTimeout extends Error {}

/** One provider API with its pool, breaker and health; `Settings` are the provider's own (its key). */
export abstract class HttpProviderTransport<Settings extends object = object> implements MailTransport {
  readonly name: string;
  abstract readonly kind: string;
  private readonly agent: Agent;
  private readonly state: TransportState;
  private readonly base: URL;
  private plainHttpChecked: Promise<void> | undefined;

  constructor(
    protected readonly options: HttpProviderOptions & Settings,
    protected readonly deps: HttpProviderDeps,
  ) {
    this.name = options.name;
    this.base = new URL(options.apiBase);
    this.agent = new Agent({
      connect: guardConnector(
        deps.guard,
        buildConnector({ lookup: deps.guard.lookup(), timeout: options.connectTimeoutMs }),
      ),
      // The total timeout governs; undici's own per-phase timers would only race it.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const { guard: _guard, ...stateDeps } = deps;
    this.state = new TransportState({
      ...stateDeps,
      name: this.name,
      breakerThreshold: options.breakerThreshold,
      breakerOpenMs: options.breakerOpenMs,
      countsTowardBreaker,
      breakerLog: { event: 'transport.breaker', subject: this.name },
      failureLog: { event: 'provider.failed', message: 'provider send failed' },
      openedBy: 'repeated failures',
    });
  }

  /** The request that sends `message` (to `envelopeTo` only, on a retry of refused recipients). */
  protected abstract sendRequest(message: OutboundMessage, envelopeTo?: string[]): Promise<ProviderRequest>;
  /** Reads the answer to a send to `recipients` (bare addresses): the result, or throws a classified AppError. */
  protected abstract readonly readSendAnswer: (
    response: ProviderResponse,
    recipients: string[],
  ) => SendResult;
  /** A request that checks the key without sending (an account or domain read). */
  protected abstract verifyRequest(): Promise<ProviderRequest>;
  /** The classified error of an answer to `verifyRequest` other than 200. */
  protected abstract verifyFailure(response: ProviderResponse): AppError;

  /** Asks the breaker whether a send may start (see TransportState.reserveSend). */
  reserveSend(): { ok: true } | { ok: false; retryAt: number } {
    return this.state.reserveSend();
  }

  /** Sends one message; throws a classified AppError (PROVIDER_*). */
  async send(message: OutboundMessage, options: SendOptions = {}): Promise<SendResult> {
    const measuredFrom = performance.now();
    try {
      const request = await this.sendRequest(message, options.envelopeTo);
      const response = await this.exchange(request, options.signal);
      const result = this.readSendAnswer(response, recipientsOf(message, options.envelopeTo));
      this.state.succeeded(measuredFrom);
      this.deps.logger.debug(
        { event: 'provider.sent', transport: this.name, providerMessageId: result.providerMessageId },
        'message handed to the provider',
      );
      return result;
    } catch (thrown) {
      if (options.signal?.aborted) throw options.signal.reason ?? thrown;
      throw this.failed(thrown, measuredFrom);
    }
  }

  /** Checks that the API answers and takes the key, without sending. */
  async verify(): Promise<void> {
    const measuredFrom = performance.now();
    try {
      const response = await this.exchange(await this.verifyRequest());
      if (response.status !== 200) throw this.verifyFailure(response);
      this.state.succeeded(measuredFrom);
    } catch (thrown) {
      throw this.failed(thrown, measuredFrom);
    }
  }

  /** State for /readyz: ok, degraded while failing, down while the breaker is open. */
  health(): ComponentHealth {
    return this.state.health({ kind: this.kind, api: this.base.host });
  }

  /** Closes the pool. */
  close(): void {
    void this.agent.close().catch(() => undefined);
  }

  /** The API base as a URL (for requests that sign the host, e.g. SES). */
  protected get apiBase(): URL {
    return this.base;
  }

  /** One request with the total timeout; network failures are classified here. */
  private async exchange(request: ProviderRequest, signal?: AbortSignal): Promise<ProviderResponse> {
    await this.checkPlainHttp();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new TotalTimeout()), this.options.timeoutMs);
    const onAbort = () => deadline.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const prefix = this.base.pathname.replace(/\/+$/, '');
      const response = await this.agent.request({
        origin: this.base.origin,
        path: `${prefix}${request.path}`,
        method: request.method,
        headers: { 'user-agent': 'Facteur', ...request.headers },
        ...(request.body !== undefined ? { body: request.body } : {}),
        signal: deadline.signal,
      });
      const body = await response.body.text();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined)
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { status: response.statusCode, headers, body };
    } catch (thrown) {
      if (signal?.aborted) throw signal.reason ?? thrown;
      if (thrown instanceof AppError) throw thrown;
      throw classifyNetworkFailure(this.name, thrown, deadline.signal.reason instanceof TotalTimeout);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * An `http://` API base (tests, a local proxy) carries the key in clear: allowed only for a
   * private host the guard's policy lets through, never a public one. Judged once.
   */
  private checkPlainHttp(): Promise<void> {
    if (this.base.protocol !== 'http:') return Promise.resolve();
    this.plainHttpChecked ??= this.deps.guard
      .resolveForConnect(bareHost(this.base.hostname))
      .then((address) => {
        if (forbiddenAddressRule(address) === null)
          throw new AppError(
            'TARGET_FORBIDDEN',
            `${this.name}: api_base is http:// on a public address (${address}); the API key would travel in clear. Use https://`,
            { retryable: false },
          );
      });
    // A failed judgement is judged again next time (the name may resolve later).
    this.plainHttpChecked.catch(() => {
      this.plainHttpChecked = undefined;
    });
    return this.plainHttpChecked;
  }

  /** Records a failure (a library error becomes PROVIDER_PROTOCOL) and returns it to throw. */
  private failed(thrown: unknown, measuredFrom: number): AppError {
    const error =
      thrown instanceof AppError
        ? thrown
        : new AppError('PROVIDER_PROTOCOL', `${this.name}: ${String((thrown as Error)?.message ?? thrown)}`, {
            cause: thrown,
          });
    this.state.failed(error, measuredFrom);
    return error;
  }
}
