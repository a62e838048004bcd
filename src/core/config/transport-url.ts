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

/**
 * A transport's rate budget (`?rate=50/s&hourly=10000&daily=100000`): at most `rate.count`
 * messages in any `rate.windowMs` (a sliding window), and at most `hourly` / `daily` per UTC hour
 * and day. Shared by every send through the transport and, on PostgreSQL, by every instance.
 */
export interface TransportBudget {
  rate?: { count: number; windowMs: number };
  hourly?: number;
  daily?: number;
}

/** What every transport has: its kind, the name /readyz, metrics and attempts show, its budget. */
interface TransportBase {
  name: string;
  /** Absent: the transport sends as fast as it takes messages. */
  budget?: TransportBudget;
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

/** The budget parameters every transport URL takes, SMTP included. */
export const BUDGET_PARAMS = ['rate', 'hourly', 'daily'] as const;

/** The form of the budget parameters, for problems and the docs. */
export const BUDGET_FORM = 'rate=N/s or N/m (N 1-1000), hourly=N, daily=N (N 1-1000000000)';

/** Most messages a sliding rate window may count: each is tracked until it leaves the window. */
export const MAX_RATE_COUNT = 1000;
const MAX_WINDOW_COUNT = 1_000_000_000;
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
  const item = `item ${position}`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  let split: { rest: string; budget: TransportBudget | undefined };
  try {
    split = takeBudget(raw);
  } catch (error) {
    throw new ParseProblem(`${item}${scheme ? ` (${scheme}://)` : ''}: ${(error as Error).message}`);
  }
  const transport = parseWithoutBudget(split.rest, item, scheme);
  return split.budget ? { ...transport, budget: split.budget } : transport;
}

/**
 * Takes the budget parameters out of a transport URL: the URL without them (the rest of its
 * query kept as written) and the budget they give, if any. Throws a `ParseProblem` saying what
 * is wrong with one; the messages never quote the URL (it may hold a key).
 */
export function takeBudget(raw: string): { rest: string; budget: TransportBudget | undefined } {
  const hash = raw.indexOf('#');
  const beforeHash = hash === -1 ? raw : raw.slice(0, hash);
  const question = beforeHash.indexOf('?');
  if (question === -1) return { rest: raw, budget: undefined };
  const kept: string[] = [];
  const budget: TransportBudget = {};
  for (const segment of beforeHash.slice(question + 1).split('&')) {
    const equals = segment.indexOf('=');
    const key = safeDecode(equals === -1 ? segment : segment.slice(0, equals));
    if (!(BUDGET_PARAMS as readonly string[]).includes(key ?? '')) {
      kept.push(segment);
      continue;
    }
    const value = safeDecode(equals === -1 ? '' : segment.slice(equals + 1).replace(/\+/g, ' ')) ?? '';
    if ((key as string) in budget) throw new ParseProblem(`the parameter ${key} is given twice`);
    if (key === 'rate') budget.rate = parseRate(value);
    else budget[key as 'hourly' | 'daily'] = parseWindowCount(key as string, value);
  }
  const rest = beforeHash.slice(0, question) + (kept.length > 0 ? `?${kept.join('&')}` : '');
  return {
    rest: hash === -1 ? rest : rest + raw.slice(hash),
    budget: Object.keys(budget).length > 0 ? budget : undefined,
  };
}

/** `rate=50/s` or `rate=600/m`: a count per second or per minute. */
function parseRate(value: string): { count: number; windowMs: number } {
  const match = /^(\d{1,7})\/(s|m)$/.exec(value.trim());
  const count = match ? Number(match[1]) : Number.NaN;
  if (!match || !(count >= 1 && count <= MAX_RATE_COUNT))
    throw new ParseProblem(
      `rate must be N/s or N/m with N a whole number from 1 to ${MAX_RATE_COUNT} (e.g. rate=50/s)`,
    );
  return { count, windowMs: match[2] === 's' ? 1000 : 60_000 };
}

/** `hourly=10000`, `daily=100000`. */
function parseWindowCount(key: string, value: string): number {
  const count = /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!(count >= 1 && count <= MAX_WINDOW_COUNT))
    throw new ParseProblem(
      `${key} must be a whole number of messages from 1 to ${MAX_WINDOW_COUNT} (e.g. ${key}=${key === 'hourly' ? '10000' : '100000'})`,
    );
  return count;
}

/**
 * `FACTEUR_SMTP_URL`, or an smtp item of the list: the server and its budget. The budget's
 * parameters are taken out before the SMTP URL is read, so both forms take them the same way.
 */
export function parseSmtpTransportUrl(raw: string): {
  server: SmtpServerConfig;
  budget: TransportBudget | undefined;
} {
  const { rest, budget } = takeBudget(raw);
  return { server: parseSmtpServer(rest), budget };
}

/** `parseSmtpUrl`, with the budget parameters named among the known ones. */
function parseSmtpServer(raw: string): SmtpServerConfig {
  try {
    return parseSmtpUrl(raw);
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof ParseProblem && message.startsWith('unknown parameter'))
      throw new ParseProblem(`${message}, and the budget's ${BUDGET_PARAMS.join(', ')}`);
    throw error;
  }
}

function parseWithoutBudget(raw: string, item: string, scheme: string | undefined): TransportConfig {
  const known = `the schemes are smtp, smtps, ${PROVIDER_KINDS.join(', ')}`;
  if (!scheme) throw new ParseProblem(`${item} is not a URL; expected scheme://..., where ${known}`);
  if (scheme === 'smtp' || scheme === 'smtps') {
    try {
      return { kind: 'smtp', name: 'smtp', server: parseSmtpServer(raw) };
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
      fail(`unknown parameter "${key}" (known: ${[...PROVIDER_PARAMS[kind], ...BUDGET_PARAMS].join(', ')})`);
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
