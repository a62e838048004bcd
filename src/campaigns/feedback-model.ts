/**
 * What the world tells Facteur about a message it sent: a bounce, a complaint, an unsubscribe.
 * DSNs read from a bounce mailbox (dsn.ts), providers' webhooks (provider-feedback/) and the
 * one-click unsubscribe all produce `Feedback`; campaigns/feedback.ts applies it to the ledger
 * and the suppression list. No I/O here.
 */

/** What happened to the recipient. */
export type FeedbackKind = 'hard_bounce' | 'soft_bounce' | 'complaint' | 'unsubscribe';

/** One piece of feedback about one recipient of one message. */
export interface Feedback {
  kind: FeedbackKind;
  /**
   * The recipient's address as reported (the DSN's Final-Recipient, the provider's email field).
   * Absent when the report redacts it (the abuse reports of large mailbox providers): the
   * recipient is then the one of the ledger row that `messageIdHeader` names.
   */
  address?: string;
  /** The original message's Message-ID header, without angle brackets, when known. */
  messageIdHeader?: string;
  /** The provider's id of the original message (Postmark MessageID, SES mail.messageId, ...). */
  providerMessageId?: string;
  /** The enhanced status code (RFC 3463), e.g. `5.1.1`, when known. */
  status?: string;
  /** The remote server's diagnostic or the provider's description, trimmed to 1,000 characters. */
  diagnostic?: string;
  /** Where it came from: `dsn`, `arf`, `postmark`, `sendgrid`, `mailgun`, `ses`, `unsubscribe`, `manual`. */
  source: string;
  /** When it happened (epoch ms), when the source says. */
  occurredAt?: number;
}
