import { AppError } from '../../core/errors.js';
import { validationError } from '../../core/validation.js';
import { emptyBatch } from './model.js';
import type { FeedbackAnswer, FeedbackReceiver } from './receiver.js';
import { readSesMessage } from './ses.js';
import { SNS_DIGESTS, type SnsMessage, snsUrlProblem, verifySnsSignature } from './sns.js';
import { SnsFetcher } from './sns-fetch.js';

/**
 * `POST /api/feedback/ses`: an SNS message from one of FACTEUR_FEEDBACK_SES_TOPICS, its
 * signature checked with the certificate of its SigningCertURL. A Notification's SES event is
 * read and applied; a SubscriptionConfirmation is confirmed at once by GETting its SubscribeURL
 * (same host rule), so that subscribing the topic in the AWS console is the only step, and the
 * URL is logged for the operator when that fails; an UnsubscribeConfirmation is logged.
 */
export class SesReceiver {
  private readonly fetcher: SnsFetcher;

  constructor(private readonly receiver: FeedbackReceiver) {
    const { guard, clock, logger, sns } = receiver.deps;
    this.fetcher = new SnsFetcher({
      guard,
      clock,
      logger,
      ...(sns?.ca ? { ca: sns.ca } : {}),
      ...(sns?.timeoutMs ? { timeoutMs: sns.timeoutMs } : {}),
    });
  }

  /** Handles one message; `byApiKey`: the operator's own request, whose signature is not checked. */
  async handle(message: SnsMessage, byApiKey: boolean): Promise<FeedbackAnswer> {
    if (!byApiKey) await this.authenticate(message);
    switch (message.Type) {
      case 'SubscriptionConfirmation':
        return this.subscribe(message);
      case 'UnsubscribeConfirmation':
        this.receiver.deps.logger.info(
          { event: 'feedback.sns_subscription', topicArn: message.TopicArn, outcome: 'unsubscribed' },
          'SNS says the subscription to this topic ended',
        );
        return this.receiver.settle('ses', emptyBatch(0), { subscription: 'unsubscribed' });
      default:
        return this.receiver.settle('ses', readSesMessage(message.Message));
    }
  }

  /** Closes the connections to SNS. */
  close(): Promise<void> {
    return this.fetcher.close();
  }

  private async authenticate(message: SnsMessage): Promise<void> {
    const { config } = this.receiver.deps;
    const refuse = (reason: string): never =>
      this.receiver.refuse('ses', 'FEEDBACK_SIGNATURE_INVALID', reason);
    if (!(config.ses?.topicArns ?? []).includes(message.TopicArn))
      refuse(`the topic ${message.TopicArn} is not in FACTEUR_FEEDBACK_SES_TOPICS`);
    if (!message.Signature) refuse('the message has no Signature');
    if (!SNS_DIGESTS[message.SignatureVersion ?? ''])
      refuse(`SignatureVersion ${JSON.stringify(message.SignatureVersion ?? null)} is not 1 or 2`);
    const problem = snsUrlProblem(message.SigningCertURL, config.snsHosts);
    if (problem) refuse(`SigningCertURL ${problem}; nothing was fetched`);
    let publicKey: Awaited<ReturnType<SnsFetcher['publicKey']>>;
    try {
      publicKey = await this.fetcher.publicKey(message.SigningCertURL as string);
    } catch (error) {
      if (error instanceof AppError && error.code === 'FEEDBACK_SIGNATURE_INVALID') refuse(error.message);
      throw error;
    }
    if (!verifySnsSignature(message, publicKey))
      refuse('the SNS signature does not verify (the message was changed, or SNS did not sign it)');
  }

  private async subscribe(message: SnsMessage): Promise<FeedbackAnswer> {
    const { logger, config } = this.receiver.deps;
    const missing = (['SubscribeURL', 'Token'] as const).filter((field) => !message[field]);
    if (missing.length > 0)
      throw validationError(
        'body',
        missing.map((field) => ({
          in: 'body',
          field,
          message: 'is required for a SubscriptionConfirmation',
        })),
      );
    const url = message.SubscribeURL as string;
    const problem = snsUrlProblem(url, config.snsHosts);
    if (problem)
      this.receiver.refuse(
        'ses',
        'FEEDBACK_SIGNATURE_INVALID',
        `SubscribeURL ${problem}; nothing was fetched`,
      );
    const log = { event: 'feedback.sns_subscription', topicArn: message.TopicArn };
    try {
      await this.fetcher.confirm(url);
    } catch (error) {
      logger.warn(
        { ...log, outcome: 'failed', subscribeUrl: url, err: error },
        'could not confirm the SNS subscription; SNS sends the confirmation again, or open subscribeUrl to confirm it by hand',
      );
      throw error;
    }
    logger.info({ ...log, outcome: 'confirmed' }, 'SNS subscription confirmed');
    return this.receiver.settle('ses', emptyBatch(0), { subscription: 'confirmed' });
  }
}
