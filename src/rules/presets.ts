import type { InboundEmail } from '../core/inbound-email.js';
import { type DeliveryLink, deliveryTime, isUrgent, normaliseForMatch } from './extractors.js';

/**
 * The two detectors of the system Facteur replaces (REFERENCE.md, "Detector recadrage" and
 * "Detector desabonnement_journee_tarifs"), reproduced to the word: receivers built for its
 * payloads rely on exactly these matches and delivery times.
 */

/** Preset names a rule may carry, and the detector name each puts in payloads. */
export const PRESET_DETECTORS = {
  recadrage: 'recadrage',
  desabo: 'desabonnement_journee_tarifs',
} as const;

/** A preset name. */
export type PresetName = keyof typeof PRESET_DETECTORS;

/** What a detector found. */
export interface Detection {
  detector: 'recadrage' | 'desabonnement_journee_tarifs';
  /** `HHhMM` or `le dd/mm/YYYY à HHhMM` for recadrage; null for DESABO. */
  deliveryTime: string | null;
  urgent: boolean;
}

/** A detection, or why the detector did not match (for backtest traces). */
export type DetectionResult = { detection: Detection } | { miss: string };

const RECADRAGE_SUBJECT = 'Média Solution - Missions Recadrage - Lot';
const RECADRAGE_TOKENS = ['media solution', 'missions recadrage', 'lot'];
/** Recadrage needs a file to fetch: only these providers counted in the replaced system. */
const RECADRAGE_PROVIDERS = new Set(['dropbox', 'fromsmash', 'swisstransfer', 'wetransfer']);

/** True when the subject is a "Média Solution - Missions Recadrage - Lot" subject, written or by tokens. */
export function isRecadrageSubject(subject: string): boolean {
  if (subject.includes(RECADRAGE_SUBJECT)) return true;
  const normalised = normaliseForMatch(subject);
  return RECADRAGE_TOKENS.every((token) => normalised.includes(token));
}

/** The recadrage detection, or null; `now` and `timeZone` place the URGENCE delivery time. */
export function detectRecadrage(
  email: InboundEmail,
  links: readonly DeliveryLink[],
  now: number,
  timeZone: string,
): Detection | null {
  const result = runRecadrage(email, links, now, timeZone);
  return 'detection' in result ? result.detection : null;
}

/** The DESABO (`desabonnement_journee_tarifs`) detection, or null. */
export function detectDesabo(email: InboundEmail, links: readonly DeliveryLink[]): Detection | null {
  const result = runDesabo(email, links);
  return 'detection' in result ? result.detection : null;
}

function runRecadrage(
  email: InboundEmail,
  links: readonly DeliveryLink[],
  now: number,
  timeZone: string,
): DetectionResult {
  if (!isRecadrageSubject(email.subject)) {
    return { miss: 'recadrage: the subject is not a "Média Solution - Missions Recadrage - Lot" subject' };
  }
  if (!links.some((link) => RECADRAGE_PROVIDERS.has(link.provider))) {
    return { miss: 'recadrage: no Dropbox, FromSmash, SwissTransfer or WeTransfer link in the body' };
  }
  const time = deliveryTime(email, now, timeZone);
  if (time === null)
    return { miss: 'recadrage: no delivery time found (URGENCE, "à faire pour ..." or a time)' };
  const urgent = normaliseForMatch(email.subject).includes('urgence');
  return { detection: { detector: 'recadrage', deliveryTime: time, urgent } };
}

/** Words of invoices and cancellations: such messages are not unsubscriptions. */
const DESABO_REJECTIONS = ['annulation', 'facturation', 'facture', 'moment', 'reference client', 'total ht'];
const DROPBOX_REQUEST = 'https://www.dropbox.com/request/';

/** DESABO works on the accent-stripped, lower-cased body. */
function runDesabo(email: InboundEmail, links: readonly DeliveryLink[]): DetectionResult {
  const body = normaliseForMatch(email.text);
  const subject = normaliseForMatch(email.subject);
  if (!body.includes('journee') || !body.includes('tarifs habituels')) {
    return { miss: 'desabo: the body lacks "journee" or "tarifs habituels"' };
  }
  const hasRequestLink =
    body.includes(DROPBOX_REQUEST) ||
    links.some((link) => link.raw_url.toLowerCase().startsWith(DROPBOX_REQUEST));
  if (!body.includes('desabonn') && !subject.includes('desabonn') && !hasRequestLink) {
    return { miss: 'desabo: no "desabonn" in body or subject and no Dropbox file-request link' };
  }
  const rejection = DESABO_REJECTIONS.find((word) => body.includes(word));
  if (rejection !== undefined) return { miss: `desabo: rejected, the body holds "${rejection}"` };
  const urgent = isUrgent(body) || isUrgent(subject);
  return { detection: { detector: 'desabonnement_journee_tarifs', deliveryTime: null, urgent } };
}

/** Runs the detector of a preset, saying why it did not match when it does not. */
export function detectPreset(
  preset: PresetName,
  email: InboundEmail,
  links: readonly DeliveryLink[],
  now: number,
  timeZone: string,
): DetectionResult {
  return preset === 'recadrage' ? runRecadrage(email, links, now, timeZone) : runDesabo(email, links);
}
