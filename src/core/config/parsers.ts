import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { addressProblem, parseMailbox } from '../email-address.js';
import type { DatabaseConfig, SqliteSynchronous } from './types.js';

/**
 * Parsers for boot-configuration values. Each returns the value or throws a `ParseProblem`
 * whose message states the expected form, so that the config loader can name the variable.
 */

/** A value that does not have the expected form; the message says what was expected. */
export class ParseProblem extends Error {}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `10s`, `5m`, `2h`, `7d` into milliseconds. A bare number is refused (ambiguous). */
export function parseDuration(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(raw);
  if (!match) throw new ParseProblem('expected a duration with a unit, like 500ms, 10s, 5m, 2h or 7d');
  const value = Number(match[1]) * (DURATION_UNITS[(match[2] as string).toLowerCase()] as number);
  if (!Number.isFinite(value)) throw new ParseProblem('expected a finite duration');
  return Math.round(value);
}

/** Parses a comma-separated list of durations, e.g. `10s,1m,5m`. */
export function parseDurationList(raw: string): number[] {
  const parts = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0)
    throw new ParseProblem('expected a comma-separated list of durations, like 10s,1m,5m');
  return parts.map((part, index) => {
    try {
      return parseDuration(part);
    } catch {
      throw new ParseProblem(
        `item ${index + 1} ("${part}") is not a duration; expected a list like 10s,1m,5m (units ms, s, m, h, d)`,
      );
    }
  });
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses `512kb`, `10mb`, `1gb` or `2048b` into bytes. */
export function parseSize(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$/i.exec(raw);
  if (!match) throw new ParseProblem('expected a size with a unit, like 512kb, 10mb or 1gb');
  return Math.round(Number(match[1]) * (SIZE_UNITS[(match[2] as string).toLowerCase()] as number));
}

/** Parses a whole number within [min, max]. */
export function parseInteger(raw: string, min: number, max: number): number {
  if (!/^\s*-?\d+\s*$/.test(raw)) throw new ParseProblem(`expected a whole number from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max) throw new ParseProblem(`expected a whole number from ${min} to ${max}`);
  return value;
}

/** Parses a TCP port; 0 asks the system for a free one. */
export function parsePort(raw: string): number {
  try {
    return parseInteger(raw, 0, 65535);
  } catch {
    throw new ParseProblem('expected a TCP port number from 0 to 65535 (0 picks a free port)');
  }
}

/** Parses one of `choices`, case-insensitively. */
export function parseChoice<T extends string>(raw: string, choices: readonly T[]): T {
  const value = raw.trim().toLowerCase();
  const found = choices.find((c) => c === value);
  if (!found) throw new ParseProblem(`expected one of: ${choices.join(', ')}`);
  return found;
}

/** Parses a duration greater than zero. */
export function parsePositiveDuration(raw: string): number {
  const ms = parseDuration(raw);
  if (ms <= 0) throw new ParseProblem('expected a duration greater than zero');
  return ms;
}

/** Parses a host name or IP address (a listen address). */
export function parseHost(raw: string): string {
  if (/\s/.test(raw)) throw new ParseProblem('expected a host name or IP address without spaces');
  return raw;
}

/** Parses `sqlite:<path>` (resolved against `cwd`) or a `postgres://` URL. */
export function parseDatabaseUrl(raw: string, cwd: string, synchronous: SqliteSynchronous): DatabaseConfig {
  if (/^postgres(ql)?:\/\//.test(raw)) {
    try {
      const url = new URL(raw);
      if (!url.hostname) throw new Error('no host');
    } catch {
      throw new ParseProblem('expected postgres://user:password@host:port/database');
    }
    return { kind: 'postgres', url: raw };
  }
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '' || path === ':memory:') {
      throw new ParseProblem('expected sqlite:<file path> (an in-memory database would lose accepted work)');
    }
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path), synchronous };
  }
  throw new ParseProblem('expected sqlite:<path> or postgres://user:password@host:port/database');
}

/** Parses a 32-byte key written as base64 or hex. */
export function parseSecretKey(raw: string): Buffer {
  const fromHex = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : undefined;
  const fromBase64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : undefined;
  const key = fromHex ?? fromBase64;
  if (key?.length !== 32) {
    throw new ParseProblem(
      'expected 32 random bytes as base64 (44 characters) or hex (64 digits); generate one with `openssl rand -base64 32`',
    );
  }
  return key;
}

/** Parses one sender, `addr` or `Name <addr>`; the value is kept as written. */
export function parseSender(raw: string): string {
  const parsed = parseMailbox(raw);
  if ('problem' in parsed) {
    throw new ParseProblem(
      `expected an email address, like reports@example.com or "Reports <reports@example.com>"; this one ${parsed.problem}`,
    );
  }
  return raw;
}

/** Parses comma-separated email addresses (at least one). */
export function parseAddressList(raw: string): string[] {
  const addresses = raw
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (addresses.length === 0) throw new ParseProblem('expected at least one email address');
  for (const address of addresses) {
    const problem = addressProblem(address);
    if (problem)
      throw new ParseProblem(`expected email addresses separated by commas; ${address} ${problem}`);
  }
  return addresses;
}

/** Which proxies may say who the client is (Fastify's `trustProxy`): false, a hop count, or addresses. */
export type TrustProxy = false | number | string[];

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Parses `FACTEUR_TRUST_PROXY`: `false`; a number of proxy hops (1-10); or a comma-separated
 * list of proxy addresses, CIDR ranges (`10.0.0.0/8`) and the names `loopback`, `linklocal`,
 * `uniquelocal`.
 */
export function parseTrustProxy(raw: string): TrustProxy {
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > 10) throw new ParseProblem('expected a number of proxy hops from 1 to 10');
    return hops;
  }
  const entries = raw.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    if (PROXY_NAMES.has(entry)) continue;
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (family === 0 || !prefixOk || extra !== undefined)
      throw new ParseProblem(
        `expected false, a hop count, or proxy addresses, CIDR ranges and loopback/linklocal/uniquelocal separated by commas; "${entry}" is none of them`,
      );
  }
  return entries;
}
