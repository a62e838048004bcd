import { Counter, type Registry } from 'prom-client';
import { AppError } from '../core/errors.js';
import { JobDeferral } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
import type { BudgetGrant, SendGate } from './budget.js';
import { BudgetMetrics } from './budget-metrics.js';
import { type RateLimitSignal, rateLimitSignal, refusalsSignal } from './budget-signals.js';
import { provenNotTaken } from './providers/model.js';
import type { MailTransport, OutboundMessage, SendResult } from './transport.js';

/**
 * Failover across the ordered transports of FACTEUR_TRANSPORTS, within one run of the send job.
 *
 * A transport is passed over when its breaker is open, or when it failed in a way that proves it
 * did not take the message: it never connected (DNS, refused), or it answered "not now" (a 4xx
 * SMTP reply, HTTP 429 or 5xx, throttling). Then the next one gets the message at once. A failure
 * that leaves it unknown whether the message was taken (a timeout once the request was sent, a
 * connection reset before the answer, an SMTP conversation cut after DATA) ends the run as a
 * transient failure instead: the job engine retries it later, from the first transport. Handing
 * it on at once could deliver it twice, once by each transport. A permanent failure (an invalid
 * recipient, a refused key) ends the run too: it is the message's fate, not the transport's.
 *
 * A transport with a rate budget (budget.ts) gives a token before each send: the send waits
 * for it, or the run is deferred to when it comes. It is never handed to the next transport for
 * want of a token, and a rate-limit reply from a budgeted transport slows its budget down and
 * defers the run to the next token instead of failing over: the limit is the account's, and
 * spilling a campaign onto the backup provider is not what a slow-down asks for.
 */

/**
 * How one run went: the transport that took the message, or the one whose failure ends the run;
 * with `retryAt`, the run waits until then without spending an attempt (a rate-limit reply).
 */
export type ChainOutcome =
  | { ok: true; transport: string; result: SendResult; passedOver: string[] }
  | { ok: false; transport: string; error: AppError; passedOver: string[]; retryAt?: number };

/** One run's options: the envelope, the abort signal, and what the budgets need. */
export interface ChainSendOptions {
  envelopeTo?: string[];
  signal: AbortSignal;
  /** Transactional (priority >= 0): gets a budget's tokens before bulk sends (default true). */
  urgent?: boolean;
  /** Called just before a transport gets the message (after any wait for a token). */
  onHandOver?: () => void;
  /** The run comes back from a budget's deferral: an urgent one holds a token there already. */
  deferredByBudget?: boolean;
}

/**
 * SMTP failures that prove the message was not taken: a 4xx reply for the whole message, the
 * connection never opened (nodemailer's command `CONN`), TLS or authentication refused (both
 * before MAIL FROM).
 */
export function smtpNotTaken(error: AppError): boolean {
  const details = (error.details ?? {}) as { command?: unknown; refusedRecipients?: unknown[] };
  if (error.code === 'SMTP_TRANSIENT') return !details.refusedRecipients?.length;
  if (error.code === 'SMTP_CONNECT') return details.command === 'CONN';
  return error.code === 'SMTP_TLS' || error.code === 'SMTP_AUTH';
}

/** Whether the next transport may get the message in the same run after `error`. */
export function mayFailOver(error: AppError): boolean {
  return error.retryable && (provenNotTaken(error) || smtpNotTaken(error));
}

/** The ordered transports, tried in turn by the send job. */
export class TransportChain {
  private readonly sends: Counter<'transport' | 'outcome'>;
  private readonly budgetMetrics: BudgetMetrics;
  private readonly budgets: ReadonlyMap<string, SendGate>;

  constructor(
    readonly transports: readonly MailTransport[],
    private readonly deps: { logger: Logger; metrics: Registry; budgets?: ReadonlyMap<string, SendGate> },
  ) {
    if (transports.length === 0) throw new Error('a transport chain needs at least one transport');
    this.budgets = deps.budgets ?? new Map();
    this.budgetMetrics = new BudgetMetrics(deps.metrics);
    this.sends =
      (deps.metrics.getSingleMetric('facteur_transport_sends_total') as Counter<'transport' | 'outcome'>) ??
      new Counter({
        name: 'facteur_transport_sends_total',
        help: 'Sends handed to each transport by outcome: ok, an error code, or circuit_open when passed over.',
        labelNames: ['transport', 'outcome'],
        registers: [deps.metrics],
      });
  }

  /**
   * The code of the deferral when every breaker is open: SMTP_UNAVAILABLE with SMTP transports
   * only (as before transports), TRANSPORT_UNAVAILABLE otherwise. main.ts resumes deferred
   * sends under this code when a breaker closes.
   */
  get unavailableCode(): 'SMTP_UNAVAILABLE' | 'TRANSPORT_UNAVAILABLE' {
    return this.transports.every((t) => t.kind === 'smtp') ? 'SMTP_UNAVAILABLE' : 'TRANSPORT_UNAVAILABLE';
  }

  /** The budget of the transport named `name`, if it has one. */
  budgetOf(name: string): SendGate | undefined {
    return this.budgets.get(name);
  }

  /**
   * One run: tries each transport in order until one takes the message or fails in a way that
   * ends the run. Throws a JobDeferral when every breaker is open or a budget's token is far
   * off, and the signal's reason when aborted.
   */
  async send(message: OutboundMessage, options: ChainSendOptions): Promise<ChainOutcome> {
    const { signal, envelopeTo } = options;
    const urgent = options.urgent ?? true;
    const sendOptions = { signal, ...(envelopeTo ? { envelopeTo } : {}) };
    const passedOver: string[] = [];
    let retryAt: number | undefined;
    let last: { transport: string; error: AppError } | undefined;
    for (const transport of this.transports) {
      const permit = transport.reserveSend();
      if (!permit.ok) {
        retryAt = Math.min(retryAt ?? permit.retryAt, permit.retryAt);
        passedOver.push(transport.name);
        this.sends.inc({ transport: transport.name, outcome: 'circuit_open' });
        continue;
      }
      const budget = this.budgets.get(transport.name);
      // Waits for a token, or throws a JobDeferral to the time it comes.
      const grant = budget
        ? await budget.acquire({ urgent, signal, holding: options.deferredByBudget === true })
        : undefined;
      options.onHandOver?.();
      try {
        const result = await transport.send(message, sendOptions);
        this.sends.inc({ transport: transport.name, outcome: 'ok' });
        if (budget && grant) this.afterSend(budget, grant, transport.name, urgent, result);
        return { ok: true, transport: transport.name, result, passedOver };
      } catch (thrown) {
        if (signal.aborted) {
          if (budget && grant) budget.release(grant, { taken: true });
          throw thrown;
        }
        const error =
          thrown instanceof AppError
            ? thrown
            : new AppError('SMTP_PROTOCOL', String((thrown as Error)?.message ?? thrown), { cause: thrown });
        this.sends.inc({ transport: transport.name, outcome: error.code });
        const limited = budget ? rateLimitSignal(error) : undefined;
        if (budget && grant) budget.release(grant, { taken: !(limited || mayFailOver(error)) });
        if (budget && limited)
          return this.slowedDown(budget, transport.name, urgent, error, limited, passedOver);
        if (!mayFailOver(error)) return { ok: false, transport: transport.name, error, passedOver };
        last = { transport: transport.name, error };
        passedOver.push(transport.name);
        this.deps.logger.warn(
          { event: 'transport.failover', transport: transport.name, code: error.code, reason: error.message },
          'transport did not take the message; trying the next one',
        );
      }
    }
    // Every transport that could be tried proved it did not take the message: retried later.
    if (last)
      return { ok: false, ...last, passedOver: passedOver.filter((name) => name !== last?.transport) };
    const error = new AppError(
      this.unavailableCode,
      this.unavailableCode === 'SMTP_UNAVAILABLE'
        ? 'the SMTP circuit breaker is open after repeated connection failures'
        : `every transport's circuit breaker is open (${this.transports.map((t) => t.name).join(', ')})`,
    );
    throw new JobDeferral(retryAt as number, error.message, error);
  }

  /** Closes every transport and budget. */
  close(): void {
    for (const budget of this.budgets.values()) budget.close();
    for (const transport of this.transports) transport.close();
  }

  /** Hands the token back; recipients deferred with a rate-limit reply slow the budget too. */
  private afterSend(
    budget: SendGate,
    grant: BudgetGrant,
    name: string,
    urgent: boolean,
    result: SendResult,
  ): void {
    budget.release(grant, { taken: true });
    const limited = refusalsSignal(result.rejected);
    if (limited)
      void budget.slowDown({ urgent }).then((slow) => {
        this.budgetMetrics.rateLimited(name, slow.slowed);
        this.logRateLimited(name, limited, slow.share, slow.retryAt);
      });
  }

  /**
   * A rate-limit reply from a budgeted transport: its budget slows down, and the run waits for
   * its next token (no attempt spent, no failover).
   */
  private async slowedDown(
    budget: SendGate,
    name: string,
    urgent: boolean,
    error: AppError,
    limited: RateLimitSignal,
    passedOver: string[],
  ): Promise<ChainOutcome> {
    const slow = await budget.slowDown({ urgent, retryAfterMs: limited.retryAfterMs });
    this.budgetMetrics.rateLimited(name, slow.slowed);
    this.budgetMetrics.deferred(name, 'rate_limited');
    this.logRateLimited(name, limited, slow.share, slow.retryAt);
    const rateError = new AppError(
      'RATE_LIMITED',
      `${name} asked to slow down (${limited.reply ?? error.message}); the message waits for its budget's next token`,
      {
        details: {
          ...((error.details ?? {}) as object),
          transport: name,
          replyCode: error.code,
          retryAt: slow.retryAt,
        },
        cause: error,
      },
    );
    return { ok: false, transport: name, error: rateError, passedOver, retryAt: slow.retryAt };
  }

  private logRateLimited(name: string, limited: RateLimitSignal, share: number, retryAt: number): void {
    this.deps.logger.warn(
      {
        event: 'budget.rate_limited',
        transport: name,
        reply: limited.reply,
        retryAfterMs: limited.retryAfterMs,
        share,
        retryAt,
      },
      'the transport answered with a rate limit; slowing its budget down',
    );
  }
}
