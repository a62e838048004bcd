/**
 * The new part of a reply: the text a person wrote above the quoted history their mail client
 * appended. Rules and payloads use it so that a keyword in an old quoted message does not match
 * again on every reply in the thread.
 *
 * Line by line, with plain string tests: bodies are untrusted and can be large.
 */

/** Separator lines that start a quoted or forwarded message (compared lower-cased, dashes trimmed). */
const SEPARATORS = new Set([
  'original message',
  "message d'origine",
  'message d’origine',
  'forwarded message',
  'message transféré',
  'mensaje original',
  'ursprüngliche nachricht',
]);

/** How many lines after `From:` / `De :` an Outlook header block's `Sent:` / `Envoyé :` may come. */
const OUTLOOK_HEADER_SPAN = 3;

/** Collapses runs of whitespace (no-break spaces included) and lower-cases, for comparisons. */
function normalise(line: string): string {
  return line
    .replace(/[\s\u00a0\u202f]+/g, ' ')
    .trim()
    .toLowerCase();
}

/** `-----Original Message-----`, `---------- Forwarded message ---------` and their translations. */
function isSeparator(line: string): boolean {
  if (!line.startsWith('--')) return false;
  let start = 0;
  let end = line.length;
  while (start < end && (line[start] === '-' || line[start] === ' ')) start++;
  while (end > start && (line[end - 1] === '-' || line[end - 1] === ' ')) end--;
  return start > 1 && end < line.length && SEPARATORS.has(line.slice(start, end));
}

/** Strips the Markdown-style bold (`*From:*`) that HTML-to-text conversions leave around labels. */
function withoutEmphasis(line: string): string {
  return line.startsWith('*') ? line.replace(/\*/g, '') : line;
}

/** True when `line` is an attribution line: `On ... wrote:` or `Le ... a écrit :`. */
function isAttributionEnd(line: string): boolean {
  return line.endsWith(' wrote:') || line.endsWith(' a écrit :') || line.endsWith(' a écrit:');
}

function startsAttribution(line: string): boolean {
  return line.startsWith('on ') || line.startsWith('le ');
}

/** True when an Outlook header block (`From:` then `Sent:`, or `De :` then `Envoyé :`) starts at `index`. */
function startsOutlookHeaders(lines: string[], index: number): boolean {
  const first = withoutEmphasis(lines[index] as string);
  const english = first.startsWith('from:');
  const french = first.startsWith('de :') || first.startsWith('de:');
  if (!english && !french) return false;
  const last = Math.min(lines.length - 1, index + OUTLOOK_HEADER_SPAN);
  for (let next = index + 1; next <= last; next++) {
    const line = withoutEmphasis(lines[next] as string);
    if (english && line.startsWith('sent:')) return true;
    if (french && (line.startsWith('envoyé :') || line.startsWith('envoyé:'))) return true;
  }
  return false;
}

/** True when the quoted history starts at line `index` (of the normalised lines). */
function startsQuotedHistory(lines: string[], index: number): boolean {
  const line = lines[index] as string;
  if (isSeparator(line)) return true;
  if (startsAttribution(line)) {
    if (isAttributionEnd(line)) return true;
    // Gmail wraps a long attribution (`On ..., Jane Doe <\njane@example.com> wrote:`).
    const next = lines[index + 1];
    if (next !== undefined && isAttributionEnd(`${line} ${next}`)) return true;
  }
  return startsOutlookHeaders(lines, index);
}

/**
 * The text without quoted history: cut at the first line that starts a quote block (`On ...
 * wrote:`, `Le ... a écrit :`, an original or forwarded message separator, an Outlook
 * `From:`/`Sent:` or `De :`/`Envoyé :` block), lines starting with `>` dropped, trailing
 * whitespace trimmed.
 */
export function replyText(text: string): string {
  const lines = text.split(/\r\n|\r|\n/);
  const normalised = lines.map(normalise);
  const kept: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (startsQuotedHistory(normalised, index)) break;
    if ((normalised[index] as string).startsWith('>')) continue;
    kept.push(lines[index] as string);
  }
  return kept.join('\n').trimEnd();
}
