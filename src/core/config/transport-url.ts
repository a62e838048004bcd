import { ParseProblem } from './parsers.js';
import { parseSmtpUrl, type SmtpServerConfig } from './smtp-url.js';

/**
 * `FACTEUR_TRANSPORTS`: the ordered list of transports a message is handed to (the first that
 * takes it wins; see docs/configuration.md#transports). Each item is a URL whose scheme names
 * the kind. API keys sit in the URL's user part, so no message of this file ever quotes an item
 * as written: problems name the item's position and scheme, and show the expected form.
 */

/** The provider kinds besides SMTP. */
export const PROVIDER_KINDS = ['postmark', 'sendgrid', 'mailgun', 'ses'] as const;

/** A provider kind. */
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** What every transport has: its kind and the name /readyz, metrics and attempts show. */
interface TransportBase {
  name: string;
}

/** An SMTP relay (`smtp://` or `smtps://`). */
export interface SmtpTransportConfig extends TransportBase {
  kind: 'smtp';
  server: SmtpServerConfig;
}

/** An HTTP provider API. `apiBase` is the origin requests go to, without a trailing slash. */
export type ProviderTransportConfig = TransportBase & { apiBase: string } & (
    | { kind: 'postmark'; serverToken: string; messageStream: string | undefined }
    | { kind: 'sendgrid'; apiKey: string }
    | { kind: 'mailgun'; apiKey: string; domain: string }
    | { kind: 'ses'; accessKeyId: string; secretAccessKey: string; region: string }
  );

/** One item of `FACTEUR_TRANSPORTS`. */
export type TransportConfig = SmtpTransportConfig | ProviderTransportConfig;

/** The form of each scheme, for problems and the docs. */
export const TRANSPORT_FORMS: Record<'smtp' | ProviderKind, string> = {
  smtp: 'smtp://[user:pass@]host[:port] or smtps://...',
  postmark: 'postmark://SERVER_TOKEN@api.postmarkapp.com[?message_stream=NAME]',
  sendgrid: 'sendgrid://API_KEY@api.sendgrid.com',
  mailgun: 'mailgun://API_KEY@api.mailgun.net/DOMAIN (EU: api.eu.mailgun.net)',
  ses: 'ses://ACCESS_KEY_ID:SECRET_ACCESS_KEY@email.REGION.amazonaws.com[?region=REGION]',
};

/** Parameters every provider URL takes. */
const COMMON_PARAMS = ['api_base', 'name'];
const PROVIDER_PARAMS: Record<ProviderKind, string[]> = {
  postmark: [...COMMON_PARAMS, 'message_stream'],
  sendgrid: COMMON_PARAMS,
  mailgun: COMMON_PARAMS,
  ses: [...COMMON_PARAMS, 'region'],
};

const NAME = /^[a-z][a-z0-9_-]{0,39}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** `raw` as an item may be shown: the scheme and host, never the user part. */
export function redactTransportUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1***@');
}

/** `FACTEUR_TRANSPORTS` as it may be shown in a problem: every item's user part hidden. */
export function redactTransportList(raw: string): string {
  return raw
    .split(',')
    .map((item) => redactTransportUrl(item.trim()))
    .join(',');
}

/**
 * Parses the comma-separated list. Names default to the kind, then `kind-2`, `kind-3`, ... for
 * the second and third of a kind; `?name=` sets one. Throws a `ParseProblem` naming the item.
 */
export function parseTransportList(raw: string): TransportConfig[] {
  const items = raw.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) throw new ParseProblem('expected at least one transport URL');
  const transports: TransportConfig[] = [];
  const names = new Set<string>();
  items.forEach((item, index) => {
    if (item === '') throw new ParseProblem(`item ${index + 1} is empty (two commas in a row?)`);
    const transport = parseTransportUrl(item, index + 1);
    if (names.has(transport.name)) {
      if (transport.name !== transport.kind)
        throw new ParseProblem(`item ${index + 1}: the name "${transport.name}" is taken by an earlier item`);
      let n = 2;
      while (names.has(`${transport.kind}-${n}`)) n++;
      transport.name = `${transport.kind}-${n}`;
    }
    names.add(transport.name);
    transports.push(transport);
  });
  return transports;
}

/** Parses one item; `position` (1-based) is only for the messages. */
export function parseTransportUrl(raw: string, position = 1): TransportConfig {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  const item = `item ${position}`;
  const known = `the schemes are smtp, smtps, ${PROVIDER_KINDS.join(', ')}`;
  if (!scheme) throw new ParseProblem(`${item} is not a URL; expected scheme://..., where ${known}`);
  if (scheme === 'smtp' || scheme === 'smtps') {
    try {
      return { kind: 'smtp', name: 'smtp', server: parseSmtpUrl(raw) };
    } catch (error) {
      throw new ParseProblem(`${item} (${scheme}://): ${(error as Error).message}`);
    }
  }
  if (!(PROVIDER_KINDS as readonly string[]).includes(scheme))
    throw new ParseProblem(`${item} has the unknown scheme "${scheme}"; ${known}`);
  const kind = scheme as ProviderKind;
  const fail = (what: string): never => {
    throw new ParseProblem(`${item} (${kind}://): ${what}; expected ${TRANSPORT_FORMS[kind]}`);
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('not a valid URL (percent-encode @ : / ? # % in keys)');
  }
  for (const key of url.searchParams.keys()) {
    if (!PROVIDER_PARAMS[kind].includes(key))
      fail(`unknown parameter "${key}" (known: ${PROVIDER_PARAMS[kind].join(', ')})`);
  }
  if (!url.hostname) fail('the host is missing');
  const user = safeDecode(url.username);
  const password = safeDecode(url.password);
  if (user === undefined || password === undefined) fail('the key is not valid percent-encoding');
  const name = url.searchParams.get('name') ?? kind;
  if (!NAME.test(name))
    fail('name must be lower-case letters, digits, - or _ (at most 40), starting with a letter');
  const apiBase = parseApiBase(url, fail);
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  if (kind !== 'mailgun' && path !== '') fail('no path is expected after the host');
  const common = { name, apiBase };
  switch (kind) {
    case 'postmark':
      if (!user || password) fail('the server token goes in the user part, alone');
      return {
        kind,
        ...common,
        serverToken: user as string,
        messageStream: url.searchParams.get('message_stream') ?? undefined,
      };
    case 'sendgrid':
      if (!user || password) fail('the API key goes in the user part, alone');
      return { kind, ...common, apiKey: user as string };
    case 'mailgun': {
      if (!user || password) fail('the API key goes in the user part, alone');
      if (!/^[A-Za-z0-9.-]+$/.test(path))
        fail('the sending domain is missing after the host (or is not a domain)');
      return { kind, ...common, apiKey: user as string, domain: path };
    }
    case 'ses': {
      if (!user || !password)
        fail('the access key id and the secret access key are both needed, as user:secret');
      const region =
        url.searchParams.get('region') ?? /^email\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];
      if (!region) fail('the region is missing: use a host email.REGION.amazonaws.com or ?region=');
      if (!REGION.test(region as string)) fail('the region is not a region name like us-east-1');
      return {
        kind,
        ...common,
        accessKeyId: user as string,
        secretAccessKey: password as string,
        region: region as string,
      };
    }
  }
}

/** `?api_base=` (an http or https origin, for tests and proxies) or `https://<host>`. */
function parseApiBase(url: URL, fail: (what: string) => never): string {
  const override = url.searchParams.get('api_base');
  if (override === null) return `https://${url.host}`;
  let base: URL;
  try {
    base = new URL(override);
  } catch {
    return fail('api_base is not a URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    fail('api_base must be an http:// or https:// URL');
  if (base.username || base.password || base.search || base.hash)
    fail('api_base takes no user, query or fragment');
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
