/**
 * Link extraction from an email's text and HTML: absolute http(s) URLs, HTML-unescaped,
 * de-duplicated in order of first appearance.
 *
 * Everything here is a single left-to-right scan with `indexOf` and character tests: message
 * bodies are untrusted and can be megabytes on one line, so no regular expression with nested
 * quantifiers (the system Facteur replaces could be hung by one) runs over a whole body.
 */

/** At most this many links are kept per message; a mailing with thousands is noise, not data. */
export const MAX_LINKS = 500;

/** Characters removed from the end of a bare URL: sentence punctuation and closing brackets. */
const TRAILING_PUNCTUATION = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', '>', "'", '"']);

/** Longest URL considered (href value or bare); longer ones are not links anyone clicks. */
const MAX_URL_LENGTH = 8192;

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

/** One entity: numeric (decimal or hex) or a short name. Bounded repetitions keep it linear. */
const ENTITY = /&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g;

/** Replaces HTML character references (`&amp;`, `&#38;`, `&#x26;`, ...) with their characters. */
export function unescapeHtml(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(ENTITY, (entity, body: string) => {
    if (body.startsWith('#')) {
      const hex = body[1] === 'x' || body[1] === 'X';
      const codePoint = Number.parseInt(body.slice(hex ? 2 : 1), hex ? 16 : 10);
      return codePoint > 0 && codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : entity;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? entity;
  });
}

/** Lower-cases ASCII letters only, so indexes in the result are indexes in the source. */
function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** True when `value` is an absolute http or https URL with a host. */
function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}

/** True for characters that end a bare URL: whitespace, controls, quotes and angle brackets. */
function endsBareUrl(code: number): boolean {
  return (
    code <= 0x20 ||
    code === 0x22 /* " */ ||
    code === 0x3c /* < */ ||
    code === 0x3e /* > */ ||
    code === 0x60 /* ` */ ||
    code === 0x7f ||
    code === 0xa0 ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x3000
  );
}

function stripTrailingPunctuation(url: string): string {
  let end = url.length;
  while (end > 0 && TRAILING_PUNCTUATION.has(url[end - 1] as string)) end--;
  return url.slice(0, end);
}

/** Collects links in order, without duplicates, up to MAX_LINKS. */
class LinkCollector {
  readonly links: string[] = [];
  private readonly seen = new Set<string>();
  // Raw candidates already looked at: a newsletter repeats the same href hundreds of times.
  private readonly seenRaw = new Set<string>();

  get full(): boolean {
    return this.links.length >= MAX_LINKS;
  }

  /** Adds `normalise(raw)` when it is a new absolute http(s) URL. */
  add(raw: string, normalise: (raw: string) => string): void {
    if (this.full || raw.length > MAX_URL_LENGTH || this.seenRaw.has(raw)) return;
    this.seenRaw.add(raw);
    const candidate = normalise(raw);
    if (this.seen.has(candidate) || !isHttpUrl(candidate)) return;
    this.seen.add(candidate);
    this.links.push(candidate);
  }
}

const fromHref = (raw: string): string => unescapeHtml(raw.trim());
const fromHtmlText = (raw: string): string => stripTrailingPunctuation(unescapeHtml(raw));

/** Where a URL scheme starts at or after `from` in the lower-cased source; -1 when none. */
function nextSchemeStart(lower: string, from: number): number {
  let at = lower.indexOf('http', from);
  while (at !== -1) {
    const afterHttp = lower[at + 4] === 's' ? at + 5 : at + 4;
    const wordStart = at === 0 || !/[a-z0-9]/.test(lower[at - 1] as string);
    if (wordStart && lower.startsWith('://', afterHttp)) return at;
    at = lower.indexOf('http', at + 4);
  }
  return -1;
}

/** Index just past the bare URL starting at `start`. */
function bareUrlEnd(source: string, start: number): number {
  let end = start;
  while (end < source.length && !endsBareUrl(source.charCodeAt(end))) end++;
  return end;
}

/** The index of the first character at or after `from` that is not HTML whitespace. */
function skipSpaces(html: string, from: number): number {
  let index = from;
  while (index < html.length && ' \t\n\r\f'.includes(html[index] as string)) index++;
  return index;
}

/** The quoted value ranges of `href=` attributes, found without backtracking. */
function hrefValues(html: string, lower: string): Array<{ start: number; end: number }> {
  const ranges: Array<{ start: number; end: number }> = [];
  // Next position of each quote character, remembered so an unclosed quote costs one scan in all.
  const nextQuote: Record<string, number> = { '"': -2, "'": -2 };
  let at = lower.indexOf('href', 0);
  while (at !== -1) {
    let i = skipSpaces(html, at + 4);
    if (html[i] === '=') {
      i = skipSpaces(html, i + 1);
      const quote = html[i];
      if (quote === '"' || quote === "'") {
        const start = i + 1;
        let close = nextQuote[quote] as number;
        if (close !== -1 && close < start) close = html.indexOf(quote, start);
        nextQuote[quote] = close;
        if (close !== -1 && close - start <= MAX_URL_LENGTH) ranges.push({ start, end: close });
        if (close !== -1) i = close;
      }
    }
    at = lower.indexOf('href', Math.max(i, at + 4));
  }
  return ranges;
}

/** Adds the bare URLs of `source`, skipping the ranges already taken as href values. */
function collectBareUrls(
  source: string,
  lower: string,
  collector: LinkCollector,
  fromHtml: boolean,
  hrefs: Array<{ start: number; end: number }> = [],
): void {
  let hrefIndex = 0;
  let at = nextSchemeStart(lower, 0);
  while (at !== -1 && !collector.full) {
    while (hrefIndex < hrefs.length && (hrefs[hrefIndex] as { end: number }).end <= at) hrefIndex++;
    const href = hrefs[hrefIndex];
    if (href && href.start <= at) {
      collector.add(source.slice(href.start, href.end), fromHref);
      at = nextSchemeStart(lower, href.end);
      continue;
    }
    const end = bareUrlEnd(source, at);
    collector.add(source.slice(at, end), fromHtml ? fromHtmlText : stripTrailingPunctuation);
    at = nextSchemeStart(lower, end);
  }
}

/**
 * Absolute http(s) URLs of a message: bare URLs of the text, then the HTML's `href` values and
 * bare URLs in document order; HTML-unescaped, de-duplicated in order, at most MAX_LINKS.
 */
export function collectBodyUrls(text: string, html: string | null): string[] {
  const collector = new LinkCollector();
  collectBareUrls(text, asciiLower(text), collector, false);
  if (html && !collector.full) {
    const lower = asciiLower(html);
    const hrefs = hrefValues(html, lower).filter((range) => {
      const value = lower.slice(range.start, range.end).trimStart();
      return value.startsWith('http://') || value.startsWith('https://');
    });
    collectBareUrls(html, lower, collector, true, hrefs);
  }
  return collector.links;
}
