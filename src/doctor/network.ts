import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.js';
import { bareHost, forbiddenAddressRule, type TargetGuard } from '../core/net/ssrf.js';
import {
  type CertificateFacts,
  certificateHint,
  certificateProblems,
  connectHint,
  dnsHint,
  type Facts,
  formatDuration,
  type Service,
  ssrfHint,
} from './model.js';
import { StageError, type StageRunner, type StageValue } from './runner.js';
import { connectTcp, errorCodeOf } from './wire.js';

/**
 * The stages every check shares: `dns` (every address, A and AAAA), `ssrf` (the guard's verdict
 * for each address, for targets reached on a user's behalf), `tcp` (a connection to each
 * address, each timed) and the judgement of a TLS session.
 */

/** The error codes of one kind of server, for the shared stages. */
export interface NetworkCodes {
  service: Service;
  dns: ErrorCode;
  connect: ErrorCode;
  timeout: ErrorCode;
  tls: ErrorCode;
}

/** The codes per service (the existing SMTP_*, IMAP_*, WEBHOOK_* and PROVIDER_* ones). */
export const NETWORK_CODES: Record<Service, NetworkCodes> = {
  smtp: {
    service: 'smtp',
    dns: 'SMTP_CONNECT',
    connect: 'SMTP_CONNECT',
    timeout: 'SMTP_TIMEOUT',
    tls: 'SMTP_TLS',
  },
  imap: {
    service: 'imap',
    dns: 'IMAP_CONNECT_FAILED',
    connect: 'IMAP_CONNECT_FAILED',
    timeout: 'IMAP_TIMEOUT',
    tls: 'IMAP_CONNECT_FAILED',
  },
  webhook: {
    service: 'webhook',
    dns: 'WEBHOOK_DNS_FAILED',
    connect: 'WEBHOOK_CONNECT_FAILED',
    timeout: 'WEBHOOK_TIMEOUT',
    tls: 'WEBHOOK_CONNECT_FAILED',
  },
  provider: {
    service: 'provider',
    dns: 'PROVIDER_UNAVAILABLE',
    connect: 'PROVIDER_UNAVAILABLE',
    timeout: 'PROVIDER_TIMEOUT',
    tls: 'PROVIDER_UNAVAILABLE',
  },
};

/** One address a name resolved to. */
export interface Resolved {
  address: string;
  family: number;
}

const defaultLookup: LookupFunction = (hostname, options, callback) => dnsLookup(hostname, options, callback);

function resolveAll(lookup: LookupFunction, host: string): Promise<Resolved[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, address, family) => {
      if (error) return reject(error);
      resolve(typeof address === 'string' ? [{ address, family: family ?? isIP(address) }] : address);
    });
  });
}

/** `dns`: every address of `host` (an IP literal stands for itself). */
export function dnsStage(
  runner: StageRunner,
  codes: NetworkCodes,
  hostname: string,
  timeoutMs: number,
  lookup: LookupFunction = defaultLookup,
): Promise<Resolved[] | undefined> {
  const host = bareHost(hostname);
  return runner.stage(
    'dns',
    {
      timeoutMs,
      timeoutCode: codes.dns,
      timeoutWhat: `no DNS answer for ${host}`,
      timeoutHint: dnsHint('EAI_AGAIN', host),
    },
    async (): Promise<StageValue<Resolved[]>> => {
      if (isIP(host))
        return { value: [{ address: host, family: isIP(host) }], detail: { host, literal: true } };
      let addresses: Resolved[];
      try {
        addresses = await resolveAll(lookup, host);
      } catch (error) {
        const code = errorCodeOf(error);
        throw new StageError(
          codes.dns,
          `${host} does not resolve (${code ?? String(error)})`,
          dnsHint(code, host),
          {
            host,
          },
        );
      }
      if (addresses.length === 0)
        throw new StageError(codes.dns, `${host} has no address`, dnsHint('ENOTFOUND', host), { host });
      return {
        value: addresses,
        detail: {
          host,
          A: addresses.filter((a) => a.family === 4).map((a) => a.address),
          AAAA: addresses.filter((a) => a.family === 6).map((a) => a.address),
        },
      };
    },
  );
}

/** `ssrf`: the guard's verdict for each address; one refused address fails the stage. */
export function ssrfStage(
  runner: StageRunner,
  guard: TargetGuard,
  hostname: string,
  addresses: readonly Resolved[] | undefined,
): Promise<Resolved[] | undefined> {
  const host = bareHost(hostname);
  return runner.stage(
    'ssrf',
    { timeoutMs: 1000, timeoutCode: 'TARGET_FORBIDDEN', timeoutWhat: 'no verdict' },
    async (): Promise<StageValue<Resolved[]>> => {
      const list = addresses ?? [];
      const verdicts = list.map(({ address }) => {
        const refused = guard.refusal(address);
        const kind = forbiddenAddressRule(address);
        return {
          address,
          verdict: refused
            ? `refused (${refused})`
            : kind
              ? `allowed (${kind}, FACTEUR_ALLOW_PRIVATE_TARGETS)`
              : 'public',
          refused,
        };
      });
      const detail: Facts = { verdicts: verdicts.map((v) => `${v.address} ${v.verdict}`) };
      const bad = verdicts.find((v) => v.refused);
      if (bad?.refused) {
        const error = guard.forbidden(host, bad.address, bad.refused);
        throw new StageError('TARGET_FORBIDDEN', error.message, ssrfHint(bad.refused), detail);
      }
      return { value: [...list], detail };
    },
  );
}

/**
 * `tcp`: a connection to every address at once, each with its time. The first address (in DNS
 * order) that connected carries the rest of the check; the others are closed. Some addresses
 * failing while another connected is a warning (an IPv6 address without a route, typically).
 */
export function tcpStage(
  runner: StageRunner,
  codes: NetworkCodes,
  addresses: readonly Resolved[] | undefined,
  port: number,
  timeoutMs: number,
  /** Replaces the hint when no address connects (the catcher: start `facteur serve`). */
  failedHint?: string,
): Promise<Socket | undefined> {
  return runner.stage(
    'tcp',
    {
      // Each address has its own timer of `timeoutMs`; this one only bounds the stage itself.
      timeoutMs: timeoutMs + 1000,
      timeoutCode: codes.timeout,
      timeoutWhat: 'no TCP connection',
      timeoutHint: connectHint('TIMEOUT', codes.service, port),
    },
    async (signal): Promise<StageValue<Socket>> => {
      const list = addresses ?? [];
      const sockets: Socket[] = [];
      signal.addEventListener('abort', () => {
        for (const s of sockets) s.destroy();
      });
      const attempts = await Promise.all(
        list.map(async ({ address }) => {
          const started = runner.now();
          try {
            const socket = await connectTcp(address, port, timeoutMs, signal);
            sockets.push(socket);
            return { address, ms: runner.now() - started, socket, code: undefined };
          } catch (error) {
            return {
              address,
              ms: runner.now() - started,
              socket: undefined,
              code: errorCodeOf(error) ?? 'ERROR',
            };
          }
        }),
      );
      const chosen = attempts.find((a) => a.socket)?.socket;
      for (const a of attempts) if (a.socket && a.socket !== chosen) a.socket.destroy();
      const connections = attempts.map((a) => {
        const result = a.socket
          ? 'connected'
          : a.code === 'TIMEOUT'
            ? `no answer within ${formatDuration(timeoutMs)}`
            : a.code;
        const where = a.address.includes(':') ? `[${a.address}]:${port}` : `${a.address}:${port}`;
        return `${where} ${result} in ${a.ms} ms`;
      });
      const failed = attempts.filter((a) => !a.socket);
      if (!chosen) {
        const code = failed[0]?.code;
        const where =
          list.length === 1 ? `${list[0]?.address}:${port}` : `every address of the host on port ${port}`;
        throw code === 'TIMEOUT'
          ? new StageError(
              codes.timeout,
              `no TCP connection to ${where} within ${formatDuration(timeoutMs)}`,
              failedHint ?? connectHint('TIMEOUT', codes.service, port),
              { connections },
            )
          : new StageError(
              codes.connect,
              `cannot connect to ${where} (${code})`,
              failedHint ?? connectHint(code, codes.service, port),
              { connections },
            );
      }
      if (failed.length > 0) {
        return {
          value: chosen,
          detail: { connections },
          outcome: 'warning',
          message: `${failed.length} of ${attempts.length} addresses did not connect (${failed.map((f) => f.address).join(', ')})`,
          hint: connectHint(failed[0]?.code, codes.service, port),
        };
      }
      return { value: chosen, detail: { connections } };
    },
  );
}

/** The servername for SNI and certificate checks: none for an IP literal (RFC 6066 forbids it). */
export function serverName(hostname: string): { servername?: string } {
  const host = bareHost(hostname);
  return isIP(host) ? {} : { servername: host };
}

/**
 * Judges a TLS session: facts always; with problems, a failure when the setting verifies, a
 * warning when it does not (the connection is then used anyway).
 */
export function judgeTls(
  codes: NetworkCodes,
  facts: { protocol: string; cipher: string; cert: CertificateFacts },
  hostname: string,
  verify: boolean,
  now: number,
  extra: Facts = {},
): StageValue<true> {
  const host = bareHost(hostname);
  const { cert } = facts;
  const detail: Facts = {
    protocol: facts.protocol,
    cipher: facts.cipher,
    subject: cert.subject,
    names: cert.names,
    issuer: cert.issuer,
    validFrom: cert.validFrom,
    validTo: cert.validTo,
    hostMatch: cert.identityError === null,
    selfSigned: cert.selfSigned,
    ...extra,
  };
  const problems = certificateProblems(cert, host, now);
  if (problems.length === 0) {
    const to = cert.validTo ? Date.parse(cert.validTo) : Number.NaN;
    const days = Math.floor((to - now) / 86_400_000);
    if (Number.isFinite(days) && days < 14) {
      return {
        value: true,
        detail,
        outcome: 'warning',
        message: `the certificate expires in ${days} day(s)`,
        hint: 'the server must renew its certificate soon',
      };
    }
    return { value: true, detail };
  }
  const message = problems.map((p) => p.message).join('; ');
  const hint = certificateHint(problems, codes.service, verify);
  if (!verify) return { value: true, detail, outcome: 'warning', message, hint };
  throw new StageError(codes.tls, message, hint, detail);
}
