import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AppError } from '../core/errors.js';

/**
 * The SSRF guard for webhook targets: which addresses an endpoint may not reach unless it sets
 * `allowPrivateTargets`. A URL is checked when the endpoint is saved (`checkTargetUrl`) and the
 * address is checked again on every connection (`guardedLookup`), because a name that resolved to
 * a public address at save time can resolve to 127.0.0.1 later (DNS rebinding).
 */

/** Why an address is refused. */
export type AddressRule =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unique-local'
  | 'unspecified'
  | 'shared'
  | 'multicast'
  | 'reserved';

type Family = 'ipv4' | 'ipv6';

// Order matters: the first matching rule names the refusal. Metadata comes first so that
// 169.254.169.254 is reported as what it is, not as one more link-local address.
const RULE_RANGES: ReadonlyArray<readonly [AddressRule, readonly string[]]> = [
  // AWS/GCP/Azure/OpenStack 169.254.169.254, Alibaba 100.100.100.200, AWS IPv6 fd00:ec2::254,
  // Azure's host endpoint 168.63.129.16 (a public address only meaningful from inside Azure).
  ['metadata', ['169.254.169.254/32', '100.100.100.200/32', '168.63.129.16/32', 'fd00:ec2::254/128']],
  // 0.0.0.0 reaches the local host on Linux; the whole "this network" block goes with it.
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['shared', ['100.64.0.0/10']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['unique-local', ['fc00::/7']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  [
    'reserved',
    [
      '192.0.0.0/24',
      '192.0.2.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4',
      '100::/64',
      '2001:db8::/32',
      'fec0::/10',
    ],
  ],
];

function buildList(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [network, prefix] = range.split('/') as [string, string];
    list.addSubnet(network, Number(prefix), isIP(network) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

const RULE_LISTS = RULE_RANGES.map(([rule, ranges]) => [rule, buildList(ranges)] as const);
// Only 2000::/3 is allocated as global unicast; anything else that no rule named is not a
// receiver on the internet.
const GLOBAL_UNICAST = buildList(['2000::/3']);

/** The eight 16-bit words of an IPv6 address already validated by `isIP`. */
function ipv6Words(ip: string): number[] {
  let text = ip.split('%')[0] ?? ip;
  if (text.includes('.')) {
    // A dotted IPv4 tail (::ffff:127.0.0.1) stands for the last two words.
    const cut = text.lastIndexOf(':') + 1;
    const [a = 0, b = 0, c = 0, d = 0] = text.slice(cut).split('.').map(Number);
    text = `${text.slice(0, cut)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string | undefined): number[] =>
    part ? part.split(':').map((word) => Number.parseInt(word, 16)) : [];
  const [head, tail] = text.split('::');
  const first = parse(head);
  if (tail === undefined) return first;
  const last = parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that reach it: IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64
 * (64:ff9b::a.b.c.d). Without this, ::ffff:7f00:1 would pass as "some IPv6 address".
 */
function embeddedIpv4(words: number[]): string | null {
  const zeros = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  const [w4, w5, w6 = 0, w7 = 0] = words.slice(4);
  const mapped = zeros(0, 5) && w5 === 0xffff;
  const translated = zeros(0, 4) && w4 === 0xffff && w5 === 0;
  // :: and ::1 are IPv6's own unspecified and loopback addresses, judged as such.
  const compatible = zeros(0, 6) && (w6 !== 0 || w7 > 1);
  const nat64 = words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6);
  if (!mapped && !translated && !compatible && !nat64) return null;
  return [w6 >> 8, w6 & 0xff, w7 >> 8, w7 & 0xff].join('.');
}

function ruleFor(address: string, family: Family): AddressRule | null {
  for (const [rule, list] of RULE_LISTS) if (list.check(address, family)) return rule;
  return null;
}

/** The rule that forbids connecting to `ip`, or null when it is a public address. */
export function forbiddenAddressRule(ip: string): AddressRule | null {
  const version = isIP(ip);
  if (version === 4) return ruleFor(ip, 'ipv4');
  if (version !== 6) throw new TypeError(`not an IP address: ${ip}`);
  const bare = ip.split('%')[0] ?? ip;
  const v4 = embeddedIpv4(ipv6Words(bare));
  if (v4 !== null) return ruleFor(v4, 'ipv4');
  return ruleFor(bare, 'ipv6') ?? (GLOBAL_UNICAST.check(bare, 'ipv6') ? null : 'reserved');
}

/** The WEBHOOK_TARGET_FORBIDDEN error for `host` resolving to `ip`, forbidden by `rule`. */
export function targetForbiddenError(host: string, ip: string, rule: AddressRule): AppError {
  const target = host === ip ? ip : `${ip} (${host})`;
  return new AppError(
    'WEBHOOK_TARGET_FORBIDDEN',
    `refused to connect to ${target}: ${rule} addresses are not allowed; ` +
      'set allowPrivateTargets on the endpoint to deliver to private or on-premise receivers',
    { details: { host, address: ip, rule } },
  );
}

/** Options of `checkTargetUrl`. */
export interface CheckTargetOptions {
  /** The endpoint's `allowPrivateTargets`: when true nothing is checked. */
  allowPrivateTargets: boolean;
  /** DNS lookup to resolve host names with; default `dns.lookup`. */
  lookup?: LookupFunction;
}

const defaultLookup: LookupFunction = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/** A URL's host without the brackets of an IPv6 literal. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function toAddresses(address: string | LookupAddress[], family?: number): LookupAddress[] {
  return typeof address === 'string' ? [{ address, family: family ?? isIP(address) }] : address;
}

function firstForbidden(host: string, addresses: LookupAddress[]): AppError | null {
  for (const { address } of addresses) {
    const rule = forbiddenAddressRule(address);
    if (rule) return targetForbiddenError(host, address, rule);
  }
  return null;
}

function resolveAll(host: string, lookup: LookupFunction): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, address, family) => {
      if (!error) return resolve(toAddresses(address, family));
      const causeCode = error.code ?? 'unknown';
      reject(
        new AppError('WEBHOOK_DNS_FAILED', `could not resolve ${host}: ${causeCode}`, {
          details: { host, phase: 'dns', causeCode },
          cause: error,
        }),
      );
    });
  });
}

/**
 * Checks an endpoint URL when it is saved: an IP literal is judged as is, a name by every
 * address it resolves to. Throws WEBHOOK_TARGET_FORBIDDEN, or WEBHOOK_DNS_FAILED when the name
 * does not resolve (the caller decides whether that blocks the save).
 */
export async function checkTargetUrl(url: string, options: CheckTargetOptions): Promise<void> {
  if (options.allowPrivateTargets) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', 'the endpoint URL is not a valid URL', { cause: error });
  }
  const host = bareHost(parsed.hostname);
  const addresses = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await resolveAll(host, options.lookup ?? defaultLookup);
  const forbidden = firstForbidden(host, addresses);
  if (forbidden) throw forbidden;
}

/**
 * A `lookup` for `net.connect`/`tls.connect` that resolves with `base` (default `dns.lookup`)
 * and fails the connection with WEBHOOK_TARGET_FORBIDDEN when a resolved address is forbidden.
 * The addresses checked are the ones the socket then connects to, which defeats DNS rebinding.
 * Serves both forms: `all: true` (Node's happy-eyeballs connect) and a single address.
 */
export function guardedLookup(base: LookupFunction = defaultLookup): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    base(hostname, options, (error, address, family) => {
      if (error) return callback(error, address, family);
      const forbidden = firstForbidden(hostname, toAddresses(address, family));
      if (forbidden) return callback(forbidden, options.all ? [] : '', family);
      callback(null, address, family);
    });
  };
}
