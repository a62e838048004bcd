import { Counter, type Registry } from 'prom-client';
import { AppError } from '../core/errors.js';
import { JobDeferral } from '../core/jobs/index.js';
import type { Logger } from '../core/observability/index.js';
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
 */

/** How one run went: the transport that took the message, or the one whose failure ends the run. */
export type ChainOutcome =
  | { ok: true; transport: string; result: SendResult; passedOver: string[] }
  | { ok: false; transport: string; error: AppError; passedOver: string[] };

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

  constructor(
    readonly transports: readonly MailTransport[],
    private readonly deps: { logger: Logger; metrics: Registry },
  ) {
    if (transports.length === 0) throw new Error('a transport chain needs at least one transport');
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

  /**
   * One run: tries each transport in order until one takes the message or fails in a way that
   * ends the run. Throws a JobDeferral when every breaker is open, and the signal's reason when
   * aborted.
   */
  async send(
    message: OutboundMessage,
    options: { envelopeTo?: string[]; signal: AbortSignal },
  ): Promise<ChainOutcome> {
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
      try {
        const result = await transport.send(message, options);
        this.sends.inc({ transport: transport.name, outcome: 'ok' });
        return { ok: true, transport: transport.name, result, passedOver };
      } catch (thrown) {
        if (options.signal.aborted) throw thrown;
        const error =
          thrown instanceof AppError
            ? thrown
            : new AppError('SMTP_PROTOCOL', String((thrown as Error)?.message ?? thrown), { cause: thrown });
        this.sends.inc({ transport: transport.name, outcome: error.code });
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

  /** Closes every transport. */
  close(): void {
    for (const transport of this.transports) transport.close();
  }
}
