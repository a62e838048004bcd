import type { InboundEmail } from '../core/inbound-email.js';
import { type DeliverySchedule, localWeekday, scheduleStateAt } from '../core/schedule.js';
import { type DeliveryLink, formatHhMm } from './extractors.js';

/**
 * The webhook payload of the replaced system, field for field, and its time-window decision
 * (REFERENCE.md, "Webhook payload" and "Time windows and Absence Globale"). Receivers written
 * for it (Make.com scenarios, a PHP script) read these exact names.
 */

/** Where the message came in. */
export type EmailSource = 'imap' | 'gmail' | 'raw';

/** What the compat payload is built from. */
export interface CompatInput {
  emailId: string;
  email: InboundEmail;
  source: EmailSource;
  /** Epoch ms the message was received. */
  receivedAt: number;
  detector: string | null;
  deliveryTime: string | null;
  webhooksTimeStart: string | null;
  webhooksTimeEnd: string | null;
  rule: { id: string; name: string; priority: 'normal' | 'high' } | null;
  links: readonly DeliveryLink[];
}

/** Length of `bodyPreview`, in characters (code points, as the Python original sliced). */
const PREVIEW_LENGTH = 200;

function senderAddress(email: InboundEmail): string {
  if (email.sender) return email.sender;
  if (!email.from) return '';
  return email.from.name ? `${email.from.name} <${email.from.address}>` : email.from.address;
}

/** The payload of the replaced system, with its field names. */
export function compatPayload(input: CompatInput): Record<string, unknown> {
  const { email } = input;
  return {
    email_id: input.emailId,
    subject: email.subject,
    receivedDateTime: new Date(input.receivedAt).toISOString(),
    sender_address: senderAddress(email),
    sender_email: email.from?.address ?? '',
    bodyPreview: Array.from(email.text).slice(0, PREVIEW_LENGTH).join(''),
    email_content: email.text,
    source: input.source,
    detector: input.detector,
    delivery_time: input.deliveryTime,
    webhooks_time_start: input.webhooksTimeStart,
    webhooks_time_end: input.webhooksTimeEnd,
    routing_rule: input.rule,
    delivery_links: input.links.map((link) => ({
      provider: link.provider,
      raw_url: link.raw_url,
      direct_url: link.direct_url,
      // Filled by the file offload when it runs; null until then, as in the replaced system.
      r2_url: null,
      original_filename: null,
    })),
    // Not a field of the replaced system: which fields of the email held NUL or unpaired
    // surrogates, now U+FFFD (`subject`, `text`, ...). Empty for nearly every message.
    replaced: email.replaced,
  };
}

/** What the window decides for one delivery. */
export interface WindowDecision {
  /** `now`: deliver; `hold`: the delivery waits for the window; `skip`: no delivery. */
  send: 'now' | 'hold' | 'skip';
  webhooks_time_start: string | null;
  webhooks_time_end: string | null;
  /** Why the window did not simply let it through: `absence_day` or `outside_window`. */
  reason?: 'absence_day' | 'outside_window';
}

/** What `windowDecision` reads. */
export interface WindowInput {
  detector: string | null;
  urgent: boolean;
  /** The endpoint's schedule; null when it has none (or is unknown). */
  schedule: DeliverySchedule | null;
  now: number;
}

/**
 * The time-window branch of the replaced system for one delivery. A non-urgent DESABO sent
 * outside the window is the only delivery that bypasses it (`send: 'now'` with
 * `reason: 'outside_window'`); every hold keeps the message, never drops it.
 */
export function windowDecision(input: WindowInput): WindowDecision {
  const { schedule, now } = input;
  // No schedule: nothing restricts the delivery, and there is no window to report.
  if (!schedule) return { send: 'now', webhooks_time_start: null, webhooks_time_end: null };
  const window = schedule.window;
  const end = window ? formatHhMm(window.end) : null;
  // "a list of weekdays on which nothing is sent at all, which overrides every other rule
  // (urgency included)" - read in the schedule's zone, not the server's (a defect of the original).
  if (schedule.absenceWeekdays.includes(localWeekday(schedule.timeZone, now))) {
    return {
      send: 'hold',
      webhooks_time_start: window ? 'maintenant' : null,
      webhooks_time_end: end,
      reason: 'absence_day',
    };
  }
  if (!window) return { send: 'now', webhooks_time_start: null, webhooks_time_end: null };
  const state = scheduleStateAt({ ...schedule, absenceWeekdays: [] }, now);
  // "Inside the window the payload carries webhooks_time_start: "maintenant"".
  if (state.open) return { send: 'now', webhooks_time_start: 'maintenant', webhooks_time_end: end };
  // "outside it, a non-urgent DESABO is sent with the window's start time" - the receiver
  // schedules it itself.
  if (input.detector === 'desabonnement_journee_tarifs' && !input.urgent) {
    return {
      send: 'now',
      webhooks_time_start: formatHhMm(window.start),
      webhooks_time_end: end,
      reason: 'outside_window',
    };
  }
  // "a recadrage message is skipped".
  if (input.detector === 'recadrage') {
    return { send: 'skip', webhooks_time_start: null, webhooks_time_end: null, reason: 'outside_window' };
  }
  // "an urgent DESABO or another message is not sent now": Facteur holds it until the window
  // opens (the original lost it); it then goes out inside the window, hence "maintenant".
  return {
    send: 'hold',
    webhooks_time_start: 'maintenant',
    webhooks_time_end: end,
    reason: 'outside_window',
  };
}
