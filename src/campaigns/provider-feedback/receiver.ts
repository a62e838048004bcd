import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import type { FeedbackConfig } from '../../core/config/feedback-variables.js';
import { AppError, type ErrorCode } from '../../core/errors.js';
import type { Principal } from '../../core/http/server.js';
import type { TargetGuard } from '../../core/net/ssrf.js';
import type { Logger } from '../../core/observability/index.js';
import type { Feedback } from '../feedback-model.js';
import { FEEDBACK_PROVIDERS, type FeedbackProvider, type ReadBatch } from './model.js';

/**
 * What the four feedback routes share: their dependencies, the refusals (logged, counted,
 * thrown), and the settling of a read batch (unreadable items logged and counted, the rest
 * handed to `apply`, the answer).
 */

/** What `registerFeedbackRoutes` is given. */
export interface FeedbackDeps {
  /** Applies feedback to the campaign ledger and the suppression list; answers how many items changed something. */
  apply: (items: Feedback[]) => Promise<{ applied: number }>;
  clock: Clock;
  logger: Logger;
  /** The SSRF guard SNS certificate and subscribe requests go through. */
  guard: TargetGuard;
  /** `BootConfig.feedback`. */
  config: FeedbackConfig;
  /** Where the feedback counters go; default: none. */
  metrics?: Registry;
  /** SNS requests: extra CA certificates to trust (tests) and the timeout (default 10 s). */
  sns?: { ca?: string; timeoutMs?: number };
}

/** The variable that configures each provider. */
export const PROVIDER_VARIABLES: Readonly<Record<FeedbackProvider, string>> = {
  postmark: 'FACTEUR_FEEDBACK_POSTMARK_AUTH',
  sendgrid: 'FACTEUR_FEEDBACK_SENDGRID_KEY',
  mailgun: 'FACTEUR_FEEDBACK_MAILGUN_KEY',
  ses: 'FACTEUR_FEEDBACK_SES_TOPICS',
};

const PROVIDER_NAMES: Readonly<Record<FeedbackProvider, string>> = {
  postmark: 'Postmark',
  sendgrid: 'SendGrid',
  mailgun: 'Mailgun',
  ses: 'SES (through SNS)',
};

/** Most unreadable items an answer lists and a request logs one by one (the count has them all). */
const MAX_LISTED = 20;

/** The answer of every feedback route. */
export const feedbackAnswerSchema = z
  .object({
    provider: z.enum(FEEDBACK_PROVIDERS),
    received: z
      .number()
      .int()
      .describe('Items in the request: events (SendGrid), records (Postmark, Mailgun), recipients (SES).'),
    feedback: z.number().int().describe('Bounces, complaints and unsubscribes read from them.'),
    applied: z
      .number()
      .int()
      .describe('Of those, how many changed a campaign recipient or the suppression list.'),
    ignored: z
      .number()
      .int()
      .describe('Items that are not feedback (deliveries, opens, deferrals): dropped.'),
    unreadable: z
      .number()
      .int()
      .describe(
        'Items that could not be read: logged (`feedback.unreadable`) and skipped; the others were applied.',
      ),
    problems: z
      .array(z.object({ index: z.number().int(), reason: z.string() }))
      .describe('The first 20 unreadable items: their index in the request and why.'),
    subscription: z
      .enum(['confirmed', 'unsubscribed'])
      .optional()
      .describe('SNS: the subscription was confirmed (GET SubscribeURL), or SNS said it ended.'),
  })
  .describe('FeedbackAnswer');

export type FeedbackAnswer = z.infer<typeof feedbackAnswerSchema>;

const errorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown() }) })
  .describe('Error');

/** The answers a feedback route declares (the other error answers come from the /api scope). */
export const feedbackResponses = {
  200: feedbackAnswerSchema,
  401: errorSchema.describe(
    "FEEDBACK_SIGNATURE_INVALID (the provider's credentials or signature), FEEDBACK_REPLAYED (old timestamp, token seen), or AUTH_INVALID (a wrong API key)",
  ),
  404: errorSchema.describe('FEEDBACK_NOT_CONFIGURED: the message names the variable to set'),
};

/** The SES route's 502: the SNS certificate or subscribe URL could not be fetched. */
export const sesUnreachable = errorSchema.describe('FEEDBACK_SNS_UNREACHABLE: SNS sends the message again');

/** The shared state and helpers of the feedback routes. */
export class FeedbackReceiver {
  private readonly items: Counter<'provider' | 'outcome'> | undefined;
  private readonly refusals: Counter<'provider' | 'code'> | undefined;

  constructor(readonly deps: FeedbackDeps) {
    const registers = deps.metrics ? [deps.metrics] : undefined;
    this.items = registers
      ? new Counter({
          name: 'facteur_feedback_items_total',
          help: "Items of the providers' bounce webhooks, by provider and outcome (feedback, applied, ignored, unreadable).",
          labelNames: ['provider', 'outcome'],
          registers,
        })
      : undefined;
    this.refusals = registers
      ? new Counter({
          name: 'facteur_feedback_refused_total',
          help: "Requests to the providers' bounce webhooks refused, by provider and error code.",
          labelNames: ['provider', 'code'],
          registers,
        })
      : undefined;
  }

  /** The principal of a request the route authenticates itself (the body's signature is checked next). */
  principal(provider: FeedbackProvider): Principal {
    return { kind: 'route_token', id: `feedback:${provider}`, name: `${PROVIDER_NAMES[provider]} webhook` };
  }

  /** FEEDBACK_NOT_CONFIGURED for `provider`, naming its variable. */
  notConfigured(provider: FeedbackProvider): AppError {
    const variable = PROVIDER_VARIABLES[provider];
    this.refusals?.inc({ provider, code: 'FEEDBACK_NOT_CONFIGURED' });
    return new AppError(
      'FEEDBACK_NOT_CONFIGURED',
      `${PROVIDER_NAMES[provider]} feedback is not configured on this server: set ${variable} (see docs/campaigns.md, "Bounces from providers")`,
      { details: { provider, variable } },
    );
  }

  /** Logs and counts a refusal, and throws it. */
  refuse(provider: FeedbackProvider, code: ErrorCode, message: string): never {
    this.refusals?.inc({ provider, code });
    this.deps.logger.warn({ event: 'feedback.refused', provider, code, reason: message }, 'feedback refused');
    throw new AppError(code, `${PROVIDER_NAMES[provider]} webhook refused: ${message}`, {
      details: { provider },
    });
  }

  /** Logs the unreadable items, applies the feedback and answers what happened. */
  async settle(provider: FeedbackProvider, batch: ReadBatch, extra: Partial<FeedbackAnswer> = {}) {
    const { logger } = this.deps;
    for (const problem of batch.unreadable.slice(0, MAX_LISTED))
      logger.warn(
        { event: 'feedback.unreadable', provider, index: problem.index, reason: problem.reason },
        'feedback item skipped: it cannot be read',
      );
    const { applied } = batch.items.length > 0 ? await this.deps.apply(batch.items) : { applied: 0 };
    const answer: FeedbackAnswer = {
      provider,
      received: batch.received,
      feedback: batch.items.length,
      applied,
      ignored: batch.ignored,
      unreadable: batch.unreadable.length,
      problems: batch.unreadable.slice(0, MAX_LISTED),
      ...extra,
    };
    for (const outcome of ['feedback', 'applied', 'ignored', 'unreadable'] as const) {
      if (answer[outcome] > 0) this.items?.inc({ provider, outcome }, answer[outcome]);
    }
    const { problems: _listed, ...counts } = answer;
    logger.info({ event: 'feedback.received', ...counts }, 'provider feedback received');
    return answer;
  }
}
