import { type KeyObject, X509Certificate } from 'node:crypto';
import { Agent, buildConnector } from 'undici';
import type { Clock } from '../../core/clock.js';
import { AppError } from '../../core/errors.js';
import { guardConnector, type TargetGuard } from '../../core/net/ssrf.js';
import type { Logger } from '../../core/observability/index.js';

/**
 * The two requests an SNS subscription makes Facteur send: the signing certificate
 * (`SigningCertURL`, cached per URL, since SNS signs with few certificates for months) and the
 * subscription's confirmation (`SubscribeURL`). Both go through the SSRF guard on every
 * connection, with a total timeout and a bounded answer; the caller has already checked that
 * the URL is https on an SNS host (`snsUrlProblem`).
 */

/** What the fetcher is given. */
export interface SnsFetcherOptions {
  guard: TargetGuard;
  clock: Clock;
  logger: Logger;
  /** Extra CA certificates (PEM) to trust, besides Node's (tests: a local stand-in). Default: none. */
  ca?: string;
  /** Longest time one request may take, connection included. Default 10 s. */
  timeoutMs?: number;
}

/** Largest answer read (a certificate is about 2 KB; a confirmation about 500 bytes). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** How far this server's clock may be from the certificate issuer's. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** Certificates kept at once; the oldest is dropped beyond this. */
const MAX_CACHED = 32;

/** Fetches SNS signing certificates (cached) and confirms subscriptions. */
export class SnsFetcher {
  private readonly agent: Agent;
  private readonly certificates = new Map<string, Promise<X509Certificate>>();
  private readonly timeoutMs: number;

  constructor(private readonly options: SnsFetcherOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent = new Agent({
      connect: guardConnector(
        options.guard,
        buildConnector({
          lookup: options.guard.lookup(),
          timeout: this.timeoutMs,
          ...(options.ca ? { ca: options.ca } : {}),
        }),
      ),
    });
  }

  /**
   * The public key of the certificate at `url`: fetched once, then from the cache while it is
   * valid on the injected clock. FEEDBACK_SNS_UNREACHABLE when it cannot be had or read;
   * FEEDBACK_SIGNATURE_INVALID when it is not valid now or not RSA.
   */
  async publicKey(url: string): Promise<KeyObject> {
    let pending = this.certificates.get(url);
    if (!pending) {
      pending = this.fetchCertificate(url);
      this.certificates.set(url, pending);
      if (this.certificates.size > MAX_CACHED) {
        const oldest = this.certificates.keys().next().value;
        if (oldest !== undefined) this.certificates.delete(oldest);
      }
      // A failure is not kept: the next message tries again.
      pending.catch(() => this.certificates.delete(url));
    }
    const certificate = await pending;
    const now = this.options.clock.now();
    const from = Date.parse(certificate.validFrom) - CLOCK_SKEW_MS;
    if (now < from || now > Date.parse(certificate.validTo) + CLOCK_SKEW_MS) {
      this.certificates.delete(url);
      throw new AppError(
        'FEEDBACK_SIGNATURE_INVALID',
        `the SNS signing certificate is not valid now (valid from ${certificate.validFrom} to ${certificate.validTo})`,
      );
    }
    if (certificate.publicKey.asymmetricKeyType !== 'rsa')
      throw new AppError(
        'FEEDBACK_SIGNATURE_INVALID',
        'the SNS signing certificate does not hold an RSA key',
      );
    return certificate.publicKey;
  }

  /** GETs a SubscribeURL; resolves when SNS answered 200. FEEDBACK_SNS_UNREACHABLE otherwise. */
  async confirm(url: string): Promise<void> {
    const { status, body } = await this.get(url, 'the SubscribeURL');
    if (status !== 200)
      throw new AppError(
        'FEEDBACK_SNS_UNREACHABLE',
        `SNS answered ${status} to the subscription's confirmation: ${body.toString('utf8').slice(0, 200)}`,
      );
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  private async fetchCertificate(url: string): Promise<X509Certificate> {
    const { status, body } = await this.get(url, 'the signing certificate');
    if (status !== 200)
      throw new AppError('FEEDBACK_SNS_UNREACHABLE', `SNS answered ${status} for the signing certificate`);
    try {
      return new X509Certificate(body);
    } catch (error) {
      throw new AppError('FEEDBACK_SNS_UNREACHABLE', 'the SNS signing certificate is not a PEM certificate', {
        cause: error,
      });
    }
  }

  private async get(url: string, what: string): Promise<{ status: number; body: Buffer }> {
    const target = new URL(url);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    try {
      const response = await this.agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers: { 'user-agent': 'Facteur' },
        signal: deadline.signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_ANSWER_BYTES) {
          response.body.destroy();
          throw new AppError('FEEDBACK_SNS_UNREACHABLE', `${what} is larger than ${MAX_ANSWER_BYTES} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: response.statusCode, body: Buffer.concat(chunks) };
    } catch (error) {
      if (error instanceof AppError && error.code !== 'TARGET_FORBIDDEN') throw error;
      const reason = deadline.signal.aborted
        ? `no answer within ${this.timeoutMs} ms`
        : ((error as Error).message ?? String(error));
      this.options.logger.warn(
        { event: 'feedback.sns_fetch_failed', host: target.host, what, err: error },
        `could not fetch ${what} from SNS`,
      );
      throw new AppError(
        'FEEDBACK_SNS_UNREACHABLE',
        `could not fetch ${what} from ${target.host}: ${reason}`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
