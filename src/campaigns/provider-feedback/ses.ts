import type { FeedbackKind } from '../feedback-model.js';
import {
  bareMessageId,
  cleanText,
  emptyBatch,
  enhancedStatus,
  feedbackOf,
  firstText,
  instantOf,
  type ReadBatch,
  recipientProblem,
} from './model.js';

/**
 * The SES event an SNS Notification carries in its `Message` (a JSON string): SES
 * notifications (`notificationType`) and configuration-set event publishing (`eventType`) have
 * the same Bounce and Complaint objects. One event names one message and one or more recipients;
 * each recipient is one item. Other events (Delivery, Send, Open, the topic's set-up message)
 * are not feedback. Pure.
 */

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A bounce's kind: SES says Permanent (hard), Transient or Undetermined (soft). */
function bounceKind(bounceType: unknown): FeedbackKind {
  return bounceType === 'Permanent' ? 'hard_bounce' : 'soft_bounce';
}

/** The Message-ID header among `mail.headers` (`[{ name, value }]`), without brackets. */
function messageIdHeaderOf(mail: Json): string | undefined {
  const headers = Array.isArray(mail.headers) ? mail.headers : [];
  const header = headers.find(
    (h): h is Json => isObject(h) && typeof h.name === 'string' && h.name.toLowerCase() === 'message-id',
  );
  return header ? bareMessageId(header.value) : undefined;
}

/** Reads the SES event of a Notification's `Message`; an unreadable event is one unreadable item. */
export function readSesMessage(messageText: string): ReadBatch {
  let event: unknown;
  try {
    event = JSON.parse(messageText);
  } catch {
    return { ...emptyBatch(1), unreadable: [{ index: 0, reason: 'Message is not JSON' }] };
  }
  if (!isObject(event))
    return { ...emptyBatch(1), unreadable: [{ index: 0, reason: 'Message is not an object' }] };
  const type = event.notificationType ?? event.eventType;
  if (type !== 'Bounce' && type !== 'Complaint') return { ...emptyBatch(1), ignored: 1 };
  const mail = isObject(event.mail) ? event.mail : {};
  const common = {
    providerMessageId: cleanText(mail.messageId, 200),
    messageIdHeader: messageIdHeaderOf(mail),
  };
  const detail = type === 'Bounce' ? event.bounce : event.complaint;
  const list = isObject(detail)
    ? type === 'Bounce'
      ? detail.bouncedRecipients
      : detail.complainedRecipients
    : undefined;
  if (!isObject(detail) || !Array.isArray(list) || list.length === 0) {
    const field = type === 'Bounce' ? 'bounce.bouncedRecipients' : 'complaint.complainedRecipients';
    return { ...emptyBatch(1), unreadable: [{ index: 0, reason: `Message has no ${field}` }] };
  }
  const batch = emptyBatch(list.length);
  list.forEach((recipient, index) => {
    const address = isObject(recipient) ? recipient.emailAddress : undefined;
    const problem = recipientProblem(address);
    if (problem || !isObject(recipient)) {
      batch.unreadable.push({ index, reason: `emailAddress ${problem ?? 'is required'}` });
      return;
    }
    const occurredAt = instantOf(detail.timestamp);
    if (type === 'Bounce') {
      const diagnostic = firstText(recipient.diagnosticCode, detail.bounceSubType);
      batch.items.push(
        feedbackOf('ses', bounceKind(detail.bounceType), String(address), {
          ...common,
          status: enhancedStatus(recipient.status) ?? enhancedStatus(diagnostic),
          diagnostic,
          occurredAt,
        }),
      );
    } else {
      const feedbackType = firstText(detail.complaintFeedbackType, detail.complaintSubType);
      batch.items.push(
        feedbackOf('ses', 'complaint', String(address), {
          ...common,
          diagnostic: feedbackType ? `complaint: ${feedbackType}` : 'complaint',
          occurredAt,
        }),
      );
    }
  });
  return batch;
}
