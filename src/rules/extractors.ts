import type { InboundEmail } from '../core/inbound-email.js';
import { formatTimeOfDay } from '../core/schedule.js';

/**
 * What rules and presets read from a message beyond its fields: the file-transfer links it
 * carries, the delivery time it asks for, whether it says it is urgent. Reproduces the
 * extraction of the system Facteur replaces (REFERENCE.md, "What it does with a message").
 */

/** Providers whose links are extracted, named as in the payloads of the replaced system. */
export const LINK_PROVIDERS = [
  'dropbox',
  'wetransfer',
  'fromsmash',
  'swisstransfer',
  'google_drive',
  'onedrive',
] as const;

/** A link provider. */
export type LinkProvider = (typeof LINK_PROVIDERS)[number];

/** One extracted link: the URL as found and the one to download from. */
export interface DeliveryLink {
  provider: LinkProvider;
  raw_url: string;
  direct_url: string;
}

/** Accents removed: NFD splits `é` into `e` + a combining mark, which is dropped. */
export function stripAccents(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '');
}

/** Accents stripped and lower-cased: the form the presets compare. */
export function normaliseForMatch(s: string): string {
  return stripAccents(s).toLowerCase();
}

/** True when `urgent` or `urgence` appears in `text`, accents and case ignored (DESABO's test). */
export function isUrgent(text: string): boolean {
  const normalised = normaliseForMatch(text);
  return normalised.includes('urgent') || normalised.includes('urgence');
}

const DROPBOX_PATHS = ['/s/', '/scl/fi/', '/scl/fo/', '/sh/', '/request/'];

function isHost(host: string, domain: string): boolean {
  return host === domain || host === `www.${domain}`;
}

/** The provider of a parsed URL, or null when it is not a supported share link. */
function providerOf(url: URL): LinkProvider | null {
  const host = url.hostname;
  const path = url.pathname;
  if (host === 'dl.dropboxusercontent.com') return 'dropbox';
  if (isHost(host, 'dropbox.com') && DROPBOX_PATHS.some((p) => path.startsWith(p))) return 'dropbox';
  if ((host === 'wetransfer.com' || host.endsWith('.wetransfer.com')) && path.startsWith('/downloads/')) {
    return 'wetransfer';
  }
  if (host === 'we.tl' && path.length > 1) return 'wetransfer';
  if (isHost(host, 'fromsmash.com') && path.length > 1) return 'fromsmash';
  if (isHost(host, 'swisstransfer.com') && path.startsWith('/d/')) return 'swisstransfer';
  if (host === 'drive.google.com' && path.startsWith('/file/d/')) return 'google_drive';
  if (host === 'drive.google.com' && path === '/open' && url.searchParams.has('id')) return 'google_drive';
  if (host === 'docs.google.com' && /^\/[^/]+\/d\//.test(path)) return 'google_drive';
  if (host === '1drv.ms' && path.length > 1) return 'onedrive';
  if (isHost(host, 'onedrive.live.com')) return 'onedrive';
  if (host.endsWith('.sharepoint.com') && path.startsWith('/:')) return 'onedrive';
  return null;
}

/** Dropbox profile pictures and logos in signatures are links too; the replaced system dropped them by name. */
const LOGO_NAME = /^(ms|logo|avatar|profile)/i;

function isDropboxLogo(url: URL): boolean {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const last = segments[segments.length - 1] ?? '';
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // A malformed escape: judge the name as written.
  }
  return LOGO_NAME.test(name);
}

/**
 * The Dropbox URL to download from, also the key for de-duplication: https, lower-case host,
 * `dl=1`, parameters sorted by name, `rlkey` (required by /scl/ links) and every other kept.
 */
export function normaliseDropboxUrl(raw: string): string {
  const url = new URL(raw);
  url.protocol = 'https:';
  url.hostname = url.hostname.toLowerCase();
  url.hash = '';
  url.searchParams.set('dl', '1');
  url.searchParams.sort();
  return url.toString();
}

/** Punctuation that ends a sentence rather than a URL written in running text. */
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"»>]+$/;

/** Absolute http(s) URLs written in text or HTML; one pass, no nested quantifier. */
const URL_IN_TEXT = /https?:\/\/[^\s"'<>]+/gi;

function candidateUrls(email: InboundEmail): string[] {
  const found = [...email.links];
  // The parser's links come first; re-scanning the text and the HTML catches share links it
  // may have missed (a truncated part, a URL split from its anchor) without reordering them.
  for (const source of [email.text, email.html ?? '']) {
    for (const match of source.matchAll(URL_IN_TEXT)) found.push(match[0].replace(/&amp;/g, '&'));
  }
  return found;
}

/** Supported share links of `email` in first-seen order, de-duplicated, Dropbox logos dropped. */
export function findShareLinks(email: InboundEmail): DeliveryLink[] {
  const links: DeliveryLink[] = [];
  const seen = new Set<string>();
  for (const candidate of candidateUrls(email)) {
    const raw = candidate.replace(TRAILING_PUNCTUATION, '');
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
    const provider = providerOf(url);
    if (provider === null) continue;
    if (provider === 'dropbox' && isDropboxLogo(url)) continue;
    const direct = provider === 'dropbox' ? normaliseDropboxUrl(raw) : raw;
    const key = provider === 'dropbox' ? direct : withoutFragment(url);
    if (seen.has(key)) continue;
    seen.add(key);
    links.push({ provider, raw_url: raw, direct_url: direct });
  }
  return links;
}

function withoutFragment(url: URL): string {
  const copy = new URL(url);
  copy.hash = '';
  return copy.toString();
}

/** Hour and minute in `zone` at `at`, through Intl (schedule.ts keeps its local-time reader private). */
const clockFormatters = new Map<string, Intl.DateTimeFormat>();

/** Local calendar fields in `zone` at the instant `at`. */
export function localFields(
  zone: string,
  at: number,
): { year: number; month: number; day: number; minuteOfDay: number } {
  let formatter = clockFormatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    clockFormatters.set(zone, formatter);
  }
  const fields: Record<string, number> = {};
  for (const part of formatter.formatToParts(at)) fields[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0 } = fields;
  return { year, month, day, minuteOfDay: hour * 60 + minute };
}

/** Minutes since midnight as `HHhMM`, the form of the replaced system's payloads. */
export function formatHhMm(minutes: number): string {
  return formatTimeOfDay(minutes).replace(':', 'h');
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** "à faire pour le D/M/YYYY à H[h|:]MM" on the normalised body: accents optional, spacing free. */
const DATED_DEADLINE =
  /a\s*faire\s+pour\s+le\s+(\d{1,2})\s*\/\s*(\d{1,2})\s*\/\s*(\d{4})\s*a\s*(\d{1,2})\s*[h:]\s*(\d{2})/g;
/** "à faire pour H[h|:]MM". */
const DEADLINE = /a\s*faire\s+pour\s+(\d{1,2})\s*[h:]\s*(\d{2})/g;
/** Any time `H[h|:]MM` not inside a longer number. */
const BARE_TIME = /(?<!\d)(\d{1,2})[h:](\d{2})(?!\d)/g;

function timeOf(hours: string, minutes: string): number | null {
  const h = Number(hours);
  const m = Number(minutes);
  return h <= 23 && m <= 59 ? h * 60 + m : null;
}

function datedDeadline(body: string): string | null {
  for (const [, d = '', mo = '', y = '', h = '', mi = ''] of body.matchAll(DATED_DEADLINE)) {
    const time = timeOf(h, mi);
    const day = Number(d);
    const month = Number(mo);
    if (time === null || day < 1 || day > 31 || month < 1 || month > 12) continue;
    return `le ${pad2(day)}/${pad2(month)}/${y} à ${formatHhMm(time)}`;
  }
  return null;
}

function firstTime(body: string, pattern: RegExp): string | null {
  for (const [, h = '', mi = ''] of body.matchAll(pattern)) {
    const time = timeOf(h, mi);
    if (time !== null) return formatHhMm(time);
  }
  return null;
}

/**
 * The delivery time a recadrage message asks for, or null when it names none (then the
 * detector does not match). In order: `URGENCE` in the subject gives now + 1 h in `timeZone`;
 * "à faire pour le D/M/YYYY à HhMM" gives `le dd/mm/YYYY à HHhMM`; "à faire pour HhMM" gives
 * `HHhMM`; else the first time of day written in the body.
 */
export function deliveryTime(email: InboundEmail, now: number, timeZone: string): string | null {
  if (normaliseForMatch(email.subject).includes('urgence')) {
    return formatHhMm(localFields(timeZone, now + 3_600_000).minuteOfDay);
  }
  const body = normaliseForMatch(email.text);
  return datedDeadline(body) ?? firstTime(body, DEADLINE) ?? firstTime(body, BARE_TIME);
}
