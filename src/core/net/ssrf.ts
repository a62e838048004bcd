import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { AppError } from '../errors.js';

/**
 * The one SSRF guard: every URL or host Facteur connects to on a user's behalf (webhook
 * endpoints, mailbox IMAP hosts, OAuth token URLs, and what comes later) is judged here. Private,
 * loopback, link-local, unique-local and other non-public addresses are refused unless the
 * server's FACTEUR_ALLOW_PRIVATE_TARGETS allows them; cloud metadata addresses are refused
 * always. A target is checked when it is saved (`TargetGuard.checkHost`) and again on every
 * connection (`TargetGuard.lookup`), because a name that resolved to a public address at save
 * time can resolve to 127.0.0.1 later (DNS rebinding).
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

/** The address a connection to `ip` really reaches: the IPv4 inside IPv4-mapped and similar forms. */
function effectiveAddress(ip: string): { address: string; family: Family } {
  const version = isIP(ip);
  if (version === 4) return { address: ip, family: 'ipv4' };
  if (version !== 6) throw new TypeError(`not an IP address: ${ip}`);
  const bare = ip.split('%')[0] ?? ip;
  const v4 = embeddedIpv4(ipv6Words(bare));
  return v4 === null ? { address: bare, family: 'ipv6' } : { address: v4, family: 'ipv4' };
}

/** The rule that makes `ip` a non-public address, or null when it is a public one. */
export function forbiddenAddressRule(ip: string): AddressRule | null {
  const { address, family } = effectiveAddress(ip);
  if (family === 'ipv4') return ruleFor(address, 'ipv4');
  return ruleFor(address, 'ipv6') ?? (GLOBAL_UNICAST.check(address, 'ipv6') ? null : 'reserved');
}

/**
 * Which non-public addresses the server lets Facteur reach (FACTEUR_ALLOW_PRIVATE_TARGETS):
 * none (the default), all of them, or those in a list of CIDR ranges. Metadata addresses are
 * never among them.
 */
export interface TargetPolicy {
  /** `off`, `all`, or the CIDR ranges as written. */
  readonly allowed: 'off' | 'all' | readonly string[];
}

/** The default: only public addresses. */
export const PUBLIC_TARGETS_ONLY: TargetPolicy = { allowed: 'off' };

/**
 * Reads FACTEUR_ALLOW_PRIVATE_TARGETS: `false` or empty (off), `true` (every private range), or
 * comma-separated CIDR ranges (`127.0.0.0/8,10.1.0.0/16,fd12::/16`; a bare address is its own
 * /32 or /128). Throws an Error naming the first bad entry.
 */
export function parseTargetPolicy(raw: string): TargetPolicy {
  const text = raw.trim().toLowerCase();
  if (text === '' || text === 'false') return PUBLIC_TARGETS_ONLY;
  if (text === 'true') return { allowed: 'all' };
  const ranges = text.split(',').map((part) => part.trim());
  for (const range of ranges) {
    const [network = '', prefix, extra] = range.split('/');
    const version = isIP(network);
    const max = version === 6 ? 128 : 32;
    const bits = prefix === undefined ? max : Number(prefix);
    if (
      version === 0 ||
      extra !== undefined ||
      !Number.isInteger(bits) ||
      bits < 0 ||
      bits > max ||
      prefix === ''
    ) {
      throw new Error(
        `"${range}" is not a CIDR range; expected true, false, or ranges like 127.0.0.0/8,10.0.0.0/8,fd00::/8`,
      );
    }
  }
  return { allowed: ranges };
}

function policyList(policy: TargetPolicy): BlockList | null {
  if (!Array.isArray(policy.allowed)) return null;
  return buildList(
    (policy.allowed as readonly string[]).map((range) =>
      range.includes('/') ? range : `${range}/${isIP(range) === 6 ? 128 : 32}`,
    ),
  );
}

/** Why a connection was refused. */
interface Refusal {
  host: string;
  address: string;
  rule: AddressRule;
}

const defaultLookup: LookupFunction = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/** A URL's host without the brackets of an IPv6 literal. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function toAddresses(address: string | LookupAddress[], family?: number): LookupAddress[] {
  return typeof address === 'string' ? [{ address, family: family ?? isIP(address) }] : address;
}

/** `url` parsed; a malformed one is VALIDATION_FAILED on `field`. */
function parseUrl(url: string, field: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `${field}: is not a valid URL`, {
      details: [{ in: 'body', field, message: 'is not a valid URL' }],
      cause: error,
    });
  }
}

/** The guard under one policy, with the DNS resolver it checks names with. */
export class TargetGuard {
  private readonly allowList: BlockList | null;
  private readonly base: LookupFunction;

  constructor(
    readonly policy: TargetPolicy = PUBLIC_TARGETS_ONLY,
    /** Base DNS lookup; default `dns.lookup` (tests inject one to simulate rebinding). */
    lookup?: LookupFunction,
  ) {
    this.allowList = policyList(policy);
    this.base = lookup ?? defaultLookup;
  }

  /** The rule that refuses `ip` under this policy, or null when it may be reached. */
  refusal(ip: string): AddressRule | null {
    const rule = forbiddenAddressRule(ip);
    if (rule === null) return null;
    if (rule === 'metadata') return rule;
    if (this.policy.allowed === 'all') return null;
    if (this.allowList) {
      const { address, family } = effectiveAddress(ip);
      if (this.allowList.check(address, family)) return null;
    }
    return rule;
  }

  /** The TARGET_FORBIDDEN error for `host` resolving to `address`; `field` names the setting. */
  forbidden(host: string, address: string, rule: AddressRule, field?: string): AppError {
    const target = host === address ? address : `${address} (${host})`;
    const why =
      rule === 'metadata'
        ? 'cloud metadata addresses are never allowed'
        : `${rule} addresses are not allowed; set FACTEUR_ALLOW_PRIVATE_TARGETS on the server to reach private or on-premise hosts`;
    const where = field ? `${field}: ` : '';
    return new AppError('TARGET_FORBIDDEN', `${where}refused to connect to ${target}: ${why}`, {
      details: { ...(field ? { field } : {}), host, address, rule },
    });
  }

  private firstRefused(host: string, addresses: LookupAddress[]): Refusal | null {
    for (const { address } of addresses) {
      const rule = this.refusal(address);
      if (rule) return { host, address, rule };
    }
    return null;
  }

  /**
   * Checks a host when it is saved: an IP literal is judged as is, a name by every address it
   * resolves to. A name that does not resolve (yet) passes: it is judged again on each
   * connection. Throws TARGET_FORBIDDEN naming `field`.
   */
  async checkHost(hostname: string, field?: string): Promise<void> {
    await this.judgedAddresses(hostname, field);
  }

  /** `checkHost` for a URL's host; a malformed URL is VALIDATION_FAILED on `field`. */
  async checkUrl(url: string, field: string): Promise<URL> {
    const parsed = parseUrl(url, field);
    await this.judgedAddresses(parsed.hostname, field);
    return parsed;
  }

  /** The addresses `hostname` stands for (none for a name that does not resolve), every one judged. */
  private async judgedAddresses(hostname: string, field?: string): Promise<LookupAddress[]> {
    const host = bareHost(hostname);
    const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await this.resolve(host);
    const refused = this.firstRefused(host, addresses);
    if (refused) throw this.forbidden(refused.host, refused.address, refused.rule, field);
    return addresses;
  }

  private resolve(host: string): Promise<LookupAddress[]> {
    return new Promise((resolve) => {
      this.base(host, { all: true }, (error, address, family) =>
        resolve(error ? [] : toAddresses(address, family)),
      );
    });
  }

  /**
   * `checkUrl` for a URL that carries secrets (an OAuth token URL): it must also be https,
   * unless its host is a private one the policy allows (an on-premise or test token server).
   */
  async checkSecretUrl(url: string, field: string): Promise<void> {
    const parsed = parseUrl(url, field);
    // One resolution for both rules, so that they judge the same addresses.
    const addresses = await this.judgedAddresses(parsed.hostname, field);
    if (parsed.protocol === 'https:') return;
    // Every address passed the guard, so a non-public one is one the policy allows.
    const allowedPrivate =
      addresses.length > 0 && addresses.every(({ address }) => forbiddenAddressRule(address) !== null);
    if (allowedPrivate) return;
    const message =
      'must be an https URL: the client secret and refresh token are sent to it (http is accepted only for a private host that FACTEUR_ALLOW_PRIVATE_TARGETS allows)';
    throw new AppError('VALIDATION_FAILED', `${field}: ${message}`, {
      details: [{ in: 'body', field, message }],
    });
  }

  /**
   * The address to connect to for `hostname`, for clients that take no `lookup` (imapflow):
   * an IP literal as is, a name resolved once and every address judged. Rejects with
   * TARGET_FORBIDDEN, or with the resolver's own error (ENOTFOUND, ...).
   */
  resolveForConnect(hostname: string): Promise<string> {
    const host = bareHost(hostname);
    if (isIP(host)) {
      const refused = this.literalRefusal(host);
      return refused ? Promise.reject(refused) : Promise.resolve(host);
    }
    return new Promise((resolve, reject) => {
      this.lookup()(host, { all: true }, (error, address) => {
        if (error) return reject(error);
        const first = toAddresses(address)[0];
        if (!first) return reject(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }));
        resolve(first.address);
      });
    });
  }

  /** The error for connecting to an IP literal, or null when allowed (net.connect skips `lookup` for them). */
  literalRefusal(hostname: string): AppError | null {
    const host = bareHost(hostname);
    if (!isIP(host)) return null;
    const rule = this.refusal(host);
    return rule ? this.forbidden(host, host, rule) : null;
  }

  /**
   * A `lookup` for `net.connect`/`tls.connect` that resolves with the base lookup and fails the
   * connection with TARGET_FORBIDDEN when a resolved address is refused. The addresses checked
   * are the ones the socket then connects to, which defeats DNS rebinding. Serves both forms:
   * `all: true` (Node's happy-eyeballs connect) and a single address.
   */
  lookup(): LookupFunction {
    return (hostname: string, options: LookupOptions, callback) => {
      this.base(hostname, options, (error, address, family) => {
        if (error) return callback(error, address, family);
        const refused = this.firstRefused(hostname, toAddresses(address, family));
        if (refused)
          return callback(
            this.forbidden(refused.host, refused.address, refused.rule),
            options.all ? [] : '',
            family,
          );
        callback(null, address, family);
      });
    };
  }
}

/**
 * Wraps an undici connector so that the guard judges every connection: `connect` must resolve
 * names with `guard.lookup()` (undici hands it to net.connect and tls.connect); IP literals are
 * judged here, because net.connect never calls `lookup` for them.
 */
export function guardConnector(
  guard: TargetGuard,
  connect: buildConnector.connector,
): buildConnector.connector {
  return (options, callback) => {
    const refused = guard.literalRefusal(options.hostname);
    if (!refused) return connect(options, callback);
    // Answer asynchronously, as net.connect would: undici's connect loop expects it.
    process.nextTick(() => callback(refused, null));
  };
}

/** An undici dispatcher whose connections go through the guard (for `fetch`'s `dispatcher`). */
export function guardedAgent(guard: TargetGuard): Agent {
  return new Agent({ connect: guardConnector(guard, buildConnector({ lookup: guard.lookup() })) });
}
