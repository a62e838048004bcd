import { ParseProblem, parseDuration, parseInteger } from './parsers.js';
import { variable } from './variable-kit.js';

/** The boot variables of campaigns (bulk mail), spread into `BOOT_VARIABLES`. */

/** Parses the base URL recipients reach Facteur at: http(s), no query or fragment. */
export function parsePublicUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ParseProblem('expected an http(s) URL such as https://mail.example.org');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ParseProblem('expected an http(s) URL such as https://mail.example.org');
  if (url.search || url.hash || url.username || url.password)
    throw new ParseProblem('expected a base URL without credentials, query or fragment');
  return url.toString().replace(/\/+$/, '');
}

const SECTION = 'Campaigns';

export const CAMPAIGN_VARIABLES = {
  publicUrl: variable<string | undefined>({
    name: 'FACTEUR_PUBLIC_URL',
    section: SECTION,
    unset: { shown: 'the listen address (`http://FACTEUR_HOST:FACTEUR_PORT`)', value: () => undefined },
    form: 'http(s) URL',
    parse: parsePublicUrl,
    description:
      "The base URL recipients reach Facteur at, for the campaigns' one-click unsubscribe links (`<URL>/u/<token>`). Set it to the public address behind your reverse proxy; the default only works on the machine itself.",
  }),
  campaignWindow: variable({
    name: 'FACTEUR_CAMPAIGN_WINDOW',
    section: SECTION,
    unset: '500',
    form: 'whole number 1-10000',
    parse: (raw) => parseInteger(raw, 1, 10_000),
    description:
      "Most recipients of one campaign handed to the outbox and not settled yet. Pausing or cancelling takes effect within this many messages. It must cover the transport's rate times a send's latency, or the campaign runs below its budget.",
  }),
  campaignStallAfterMs: variable({
    name: 'FACTEUR_CAMPAIGN_STALL_AFTER',
    section: SECTION,
    unset: '15m',
    form: 'duration, at least 1m',
    parse: (raw) => {
      const ms = parseDuration(raw);
      if (ms < 60_000) throw new ParseProblem('expected a duration of at least 1m');
      return ms;
    },
    description:
      'A running campaign none of whose recipients changed for this long raises `facteur.campaign.stalled` (once per stall) to subscribed endpoints and its owner.',
  }),
};
