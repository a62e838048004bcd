import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import {
  type AddressRule,
  forbiddenAddressRule,
  PUBLIC_TARGETS_ONLY,
  parseTargetPolicy,
  TargetGuard,
} from './ssrf.js';

const cases: Record<AddressRule, string[]> = {
  loopback: ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1'],
  private: ['10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.1.1'],
  'link-local': ['169.254.0.1', '169.254.169.253', 'fe80::1', 'fe80::1%eth0', 'febf::1'],
  metadata: ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254', '168.63.129.16'],
  'unique-local': ['fc00::1', 'fd12:3456:789a::1'],
  unspecified: ['0.0.0.0', '0.1.2.3', '::'],
  shared: ['100.64.0.1', '100.127.255.254'],
  multicast: ['224.0.0.1', '239.255.255.250', 'ff02::1', 'ff05::1:3'],
  reserved: [
    '240.0.0.1',
    '255.255.255.255',
    '192.0.2.10',
    '198.51.100.7',
    '203.0.113.9',
    '2001:db8::1',
    '100::1',
  ],
};

describe('forbiddenAddressRule', () => {
  for (const [rule, addresses] of Object.entries(cases)) {
    it(`names ${rule} addresses`, () => {
      for (const address of addresses)
        expect([address, forbiddenAddressRule(address)]).toEqual([address, rule]);
    });
  }

  it('allows public IPv4 and IPv6 addresses, including their neighbours of forbidden ranges', () => {
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '172.15.255.255',
      '172.32.0.1',
      '100.63.255.255',
      '100.128.0.1',
      '169.253.255.255',
      '2606:4700::1111',
      '2001:4860:4860::8888',
      '2a00:1450:4007:80e::200e',
    ]) {
      expect([address, forbiddenAddressRule(address)]).toEqual([address, null]);
    }
  });

  it('judges metadata before link-local and shared', () => {
    expect(forbiddenAddressRule('169.254.169.254')).toBe('metadata');
    expect(forbiddenAddressRule('169.254.169.255')).toBe('link-local');
    expect(forbiddenAddressRule('100.100.100.200')).toBe('metadata');
    expect(forbiddenAddressRule('100.100.100.201')).toBe('shared');
  });

  it('unwraps IPv4-mapped, IPv4-translated, IPv4-compatible and NAT64 forms and judges them as IPv4', () => {
    expect(forbiddenAddressRule('::ffff:127.0.0.1')).toBe('loopback');
    expect(forbiddenAddressRule('::ffff:7f00:1')).toBe('loopback');
    expect(forbiddenAddressRule('0:0:0:0:0:ffff:7f00:0001')).toBe('loopback');
    expect(forbiddenAddressRule('::ffff:a9fe:a9fe')).toBe('metadata');
    expect(forbiddenAddressRule('::ffff:10.1.2.3')).toBe('private');
    expect(forbiddenAddressRule('::ffff:0:192.168.0.1')).toBe('private');
    expect(forbiddenAddressRule('::127.0.0.1')).toBe('loopback');
    expect(forbiddenAddressRule('::a00:1')).toBe('private');
    expect(forbiddenAddressRule('64:ff9b::169.254.169.254')).toBe('metadata');
    expect(forbiddenAddressRule('::ffff:93.184.216.34')).toBeNull();
    expect(forbiddenAddressRule('64:ff9b::5db8:d822')).toBeNull();
  });

  it('refuses IPv6 space outside global unicast that no rule names', () => {
    expect(forbiddenAddressRule('4000::1')).toBe('reserved');
    expect(forbiddenAddressRule('::2:0:0:1')).toBe('reserved');
  });

  it('throws on something that is not an IP address', () => {
    expect(() => forbiddenAddressRule('localhost')).toThrow(TypeError);
  });
});

describe('the TARGET_FORBIDDEN error', () => {
  it('names the field, host, address and rule, and how to allow it', () => {
    const error = new TargetGuard().forbidden('localhost', '127.0.0.1', 'loopback', 'url');
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe('TARGET_FORBIDDEN');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'url: refused to connect to 127.0.0.1 (localhost): loopback addresses are not allowed; ' +
        'set FACTEUR_ALLOW_PRIVATE_TARGETS on the server to reach private or on-premise hosts',
    );
    expect(error.details).toEqual({
      field: 'url',
      host: 'localhost',
      address: '127.0.0.1',
      rule: 'loopback',
    });
    expect(new TargetGuard().forbidden('169.254.169.254', '169.254.169.254', 'metadata').message).toContain(
      'cloud metadata addresses are never allowed',
    );
  });
});

describe('the policy (FACTEUR_ALLOW_PRIVATE_TARGETS)', () => {
  it('reads false, true and CIDR lists, and names a bad entry', () => {
    expect(parseTargetPolicy('')).toBe(PUBLIC_TARGETS_ONLY);
    expect(parseTargetPolicy('false')).toBe(PUBLIC_TARGETS_ONLY);
    expect(parseTargetPolicy('TRUE')).toEqual({ allowed: 'all' });
    expect(parseTargetPolicy('127.0.0.0/8, fd00::/8,10.1.2.3')).toEqual({
      allowed: ['127.0.0.0/8', 'fd00::/8', '10.1.2.3'],
    });
    for (const bad of ['yes', '10.0.0.0/33', '10.0.0.0/', 'fd00::/129', '300.1.1.1/8', '10.0.0.0/8/1'])
      expect(() => parseTargetPolicy(bad), bad).toThrow(/is not a CIDR range/);
  });

  it('refuses everything non-public when off', () => {
    const guard = new TargetGuard();
    for (const ip of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '::1', 'fd12::1'])
      expect([ip, guard.refusal(ip)]).not.toEqual([ip, null]);
    expect(guard.refusal('93.184.216.34')).toBeNull();
  });

  it('allows every private range when true, but never metadata, in any form', () => {
    const guard = new TargetGuard({ allowed: 'all' });
    for (const ip of ['127.0.0.1', '10.0.0.1', '169.254.1.1', '::1', 'fd12::1', '100.64.0.1'])
      expect([ip, guard.refusal(ip)]).toEqual([ip, null]);
    for (const ip of [
      '169.254.169.254',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      'fd00:ec2::254',
      '100.100.100.200',
    ])
      expect([ip, guard.refusal(ip)]).toEqual([ip, 'metadata']);
  });

  it('allows only the listed ranges, judging IPv4-mapped addresses by their IPv4', () => {
    const guard = new TargetGuard(parseTargetPolicy('127.0.0.0/8,fd00::/8,10.9.9.9'));
    expect(guard.refusal('127.0.0.1')).toBeNull();
    expect(guard.refusal('::ffff:127.0.0.1')).toBeNull();
    expect(guard.refusal('10.9.9.9')).toBeNull();
    expect(guard.refusal('10.9.9.10')).toBe('private');
    expect(guard.refusal('::1')).toBe('loopback');
    expect(guard.refusal('fd12::1')).toBeNull();
    expect(guard.refusal('fd00:ec2::254')).toBe('metadata');
  });
});

/** A lookup answering from a fixed table, recording each call's options. */
function tableLookup(table: Record<string, string[]>, calls: unknown[] = []): LookupFunction {
  return (hostname, options, callback) => {
    calls.push(options);
    const addresses = table[hostname];
    if (!addresses) {
      const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return callback(error, '');
    }
    const all = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) return callback(null, all);
    callback(null, all[0]!.address, all[0]!.family);
  };
}

const table = {
  'public.test': ['93.184.216.34', '2606:4700::1111'],
  'mixed.test': ['93.184.216.34', '10.0.0.7'],
  'metadata.test': ['169.254.169.254'],
};

async function caught(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('TargetGuard.checkUrl', () => {
  const lookup = tableLookup(table);
  const check = (url: string, allowAll = false) =>
    new TargetGuard(allowAll ? { allowed: 'all' } : PUBLIC_TARGETS_ONLY, lookup).checkUrl(url, 'url');

  it('accepts names that resolve only to public addresses, and public IP literals', async () => {
    await expect(check('https://public.test/hook?token=x')).resolves.toBeInstanceOf(URL);
    await expect(check('http://93.184.216.34:8080/')).resolves.toBeInstanceOf(URL);
    await expect(check('http://[2606:4700::1111]/')).resolves.toBeInstanceOf(URL);
  });

  it('refuses IP literals, bracketed IPv6 and WHATWG-normalised IPv4 forms', async () => {
    expect((await caught(check('http://127.0.0.1:3000/'))).details).toMatchObject({ rule: 'loopback' });
    expect((await caught(check('http://[::1]/'))).details).toMatchObject({
      address: '::1',
      rule: 'loopback',
    });
    expect((await caught(check('http://[::ffff:7f00:1]/'))).details).toMatchObject({ rule: 'loopback' });
    expect((await caught(check('http://2130706433/'))).details).toMatchObject({ rule: 'loopback' });
    expect((await caught(check('http://0x0a.1/'))).details).toMatchObject({ rule: 'private' });
  });

  it('refuses a name when any of its addresses is forbidden', async () => {
    const error = await caught(check('https://mixed.test/'));
    expect(error.code).toBe('TARGET_FORBIDDEN');
    expect(error.details).toEqual({ field: 'url', host: 'mixed.test', address: '10.0.0.7', rule: 'private' });
    expect(error.message).toContain('10.0.0.7 (mixed.test): private addresses');
    expect((await caught(check('http://metadata.test/'))).details).toMatchObject({ rule: 'metadata' });
  });

  it('lets private targets through when the policy allows them, metadata never', async () => {
    await expect(check('http://127.0.0.1/', true)).resolves.toBeInstanceOf(URL);
    expect((await caught(check('http://metadata.test/', true))).details).toMatchObject({ rule: 'metadata' });
  });

  it('lets a name that does not resolve yet pass (it is judged again on each connection)', async () => {
    await expect(check('https://unknown.test/')).resolves.toBeInstanceOf(URL);
  });

  it('asks https of a URL that carries secrets, unless its host is an allowed private one', async () => {
    const strict = new TargetGuard(PUBLIC_TARGETS_ONLY, lookup);
    const error = await caught(strict.checkSecretUrl('http://public.test/token', 'auth.tokenUrl'));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([expect.objectContaining({ field: 'auth.tokenUrl' })]);
    expect(error.message).toContain('must be an https URL');
    await expect(
      strict.checkSecretUrl('https://public.test/token', 'auth.tokenUrl'),
    ).resolves.toBeUndefined();
    const local = new TargetGuard(parseTargetPolicy('127.0.0.0/8'), lookup);
    await expect(local.checkSecretUrl('http://127.0.0.1:9/token', 'auth.tokenUrl')).resolves.toBeUndefined();
  });

  it('judges both rules of a secret URL on one resolution of its name', async () => {
    const calls: unknown[] = [];
    const guard = new TargetGuard(
      parseTargetPolicy('10.0.0.0/8'),
      tableLookup({ 'lan.test': ['10.0.0.7'] }, calls),
    );
    await expect(guard.checkSecretUrl('http://lan.test/token', 'auth.tokenUrl')).resolves.toBeUndefined();
    expect(calls).toHaveLength(1);
    const metadata = await caught(guard.checkSecretUrl('http://[::ffff:169.254.169.254]/', 'auth.tokenUrl'));
    expect(metadata.details).toMatchObject({ field: 'auth.tokenUrl', rule: 'metadata' });
  });

  it('reports a malformed URL as VALIDATION_FAILED', async () => {
    expect((await caught(check('not a url'))).code).toBe('VALIDATION_FAILED');
  });
});

function callGuarded(lookup: LookupFunction, hostname: string, all: boolean) {
  return new Promise<{ error: unknown; address: unknown; family: unknown }>((resolve) =>
    lookup(hostname, { all }, (error, address, family) => resolve({ error, address, family })),
  );
}

describe('TargetGuard.lookup', () => {
  it('passes public answers through in both the all and the single-address forms', async () => {
    const lookup = new TargetGuard(PUBLIC_TARGETS_ONLY, tableLookup(table)).lookup();
    expect(await callGuarded(lookup, 'public.test', true)).toMatchObject({
      error: null,
      address: [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:4700::1111', family: 6 },
      ],
    });
    expect(await callGuarded(lookup, 'public.test', false)).toEqual({
      error: null,
      address: '93.184.216.34',
      family: 4,
    });
  });

  it('fails with TARGET_FORBIDDEN when a resolved address is forbidden', async () => {
    const lookup = new TargetGuard(PUBLIC_TARGETS_ONLY, tableLookup(table)).lookup();
    const all = await callGuarded(lookup, 'mixed.test', true);
    expect(all.error).toBeInstanceOf(AppError);
    expect((all.error as AppError).details).toEqual({
      host: 'mixed.test',
      address: '10.0.0.7',
      rule: 'private',
    });
    const single = await callGuarded(lookup, 'metadata.test', false);
    expect((single.error as AppError).code).toBe('TARGET_FORBIDDEN');
  });

  it('passes DNS errors through untouched and forwards the caller options to the base lookup', async () => {
    const calls: unknown[] = [];
    const lookup = new TargetGuard(PUBLIC_TARGETS_ONLY, tableLookup(table, calls)).lookup();
    const { error } = await callGuarded(lookup, 'unknown.test', false);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    expect(calls).toEqual([{ all: false }]);
  });
});
