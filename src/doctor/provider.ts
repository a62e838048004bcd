import type { LookupFunction, Socket } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { ProviderTransportConfig } from '../core/config/index.js';
import { type ErrorCode, isAppError } from '../core/errors.js';
import { type CheckReport, type Facts, type StageResult, stagesOk } from './model.js';
import { dnsStage, judgeTls, NETWORK_CODES, serverName, tcpStage } from './network.js';
import {
  hideSecrets,
  providerAuthHint,
  transportFacts,
  transportSecrets,
  verifyRequestLine,
} from './provider-model.js';
import { StageError, StageRunner } from './runner.js';
import { errorCodeOf, startTls, tlsFacts } from './wire.js';

/**
 * `doctor transport NAME` for a provider API (Postmark, SendGrid, Mailgun, SES): dns, tcp and tls
 * to the API base, then `auth`, the transport's own `verify()` (one authenticated read request,
 * nothing sent). No ssrf stage: the operator configured the API base, as for the SMTP relay of
 * the environment (the transport's own connections still go through the guard).
 */

/** What `checkProvider` checks and with what. */
export interface ProviderCheckOptions {
  transport: ProviderTransportConfig;
  /** The transport's `verify()`: its one authenticated read request. */
  verify: () => Promise<void>;
  /** FACTEUR_SMTP_CONNECT_TIMEOUT (dns, tcp, tls) and FACTEUR_SMTP_SEND_TIMEOUT (the request). */
  timeouts: { connectMs: number; sendMs: number };
  clock: Clock;
  /** Trusted CA certificates (PEM) for the tls stage instead of the system store. */
  ca?: string[];
  lookup?: LookupFunction;
  onStage?: (stage: StageResult) => void;
}

const CODES = NETWORK_CODES.provider;

/** Runs the provider check; resolves with every stage (a failed check is a report, never a throw). */
export async function checkProvider(options: ProviderCheckOptions): Promise<CheckReport> {
  const { transport, clock, timeouts } = options;
  const base = new URL(transport.apiBase);
  const https = base.protocol === 'https:';
  const port = Number(base.port) || (https ? 443 : 80);
  const runner = new StageRunner(clock, options.onStage);
  let socket: Socket | undefined;
  try {
    const addresses = await dnsStage(runner, CODES, base.hostname, timeouts.connectMs, options.lookup);
    socket = await tcpStage(runner, CODES, addresses, port, timeouts.connectMs);
    await runner.stage(
      'tls',
      {
        timeoutMs: timeouts.connectMs,
        timeoutCode: 'PROVIDER_TIMEOUT',
        timeoutWhat: 'no TLS handshake',
        timeoutHint: 'the port does not answer TLS: a proxy, or a port that is not the HTTPS API',
        classify: (error) =>
          new StageError(
            'PROVIDER_UNAVAILABLE',
            `TLS handshake failed: ${(error as Error).message}`,
            errorCodeOf(error) === 'ERR_SSL_WRONG_VERSION_NUMBER'
              ? 'the port answers plain HTTP, not TLS: check the host and port (or api_base)'
              : 'the API and Node agree on no TLS protocol or cipher, or a proxy cut the connection',
          ),
      },
      async (signal) => {
        if (!https)
          return {
            outcome: 'skipped',
            message: 'api_base is http://: no TLS, the key goes in clear (allowed only on a private host)',
          };
        const secure = await startTls(
          socket as Socket,
          {
            ...serverName(base.hostname),
            ...(options.ca ? { ca: options.ca } : {}),
            ALPNProtocols: ['http/1.1'],
          },
          signal,
        );
        socket = secure;
        return judgeTls(CODES, tlsFacts(secure, base.hostname), base.hostname, true, clock.now());
      },
    );
    socket?.destroy();
    socket = undefined;
    await authStage(runner, options);
  } finally {
    socket?.destroy();
  }
  return {
    check: 'provider',
    target: transport.apiBase,
    transport: transport.name,
    ok: stagesOk(runner.stages),
    stages: runner.stages,
  };
}

/** `auth`: the verify request, its answer read as the transport reads it, with a hint per outcome. */
function authStage(runner: StageRunner, options: ProviderCheckOptions): Promise<true | undefined> {
  const { transport, timeouts } = options;
  const secrets = transportSecrets(transport);
  const facts: Facts = { request: verifyRequestLine(transport), ...transportFacts(transport) };
  return runner.stage(
    'auth',
    {
      // The transport bounds the request itself (connect, then the whole exchange).
      timeoutMs: timeouts.connectMs + timeouts.sendMs,
      timeoutCode: 'PROVIDER_TIMEOUT',
      timeoutWhat: 'no answer from the API',
      timeoutHint: providerAuthHint(
        transport,
        { code: 'PROVIDER_TIMEOUT', httpStatus: null, providerCode: null },
        timeouts.sendMs,
      ),
    },
    async () => {
      try {
        await options.verify();
      } catch (error) {
        throw authFailure(options, error, facts, secrets);
      }
      return { value: true as const, detail: { ...facts, status: 200 } };
    },
  );
}

function authFailure(
  options: ProviderCheckOptions,
  error: unknown,
  facts: Facts,
  secrets: readonly string[],
): StageError {
  const { transport } = options;
  const details = (isAppError(error) ? error.details : undefined) as
    | { httpStatus?: number | null; providerCode?: string | null; providerMessage?: string | null }
    | undefined;
  const code: ErrorCode = isAppError(error) ? error.code : 'PROVIDER_PROTOCOL';
  const httpStatus = details?.httpStatus ?? null;
  const providerCode = details?.providerCode ?? null;
  const said = details?.providerMessage ? hideSecrets(details.providerMessage, secrets).slice(0, 200) : null;
  const message =
    code === 'PROVIDER_AUTH'
      ? `${transport.kind} refused the credentials (${httpStatus ?? providerCode ?? 'auth'})${said ? `: ${said}` : ''}`
      : hideSecrets(error instanceof Error ? error.message : String(error), secrets);
  return new StageError(
    code,
    message,
    providerAuthHint(transport, { code, httpStatus, providerCode }, options.timeouts.sendMs),
    { ...facts, status: httpStatus, ...(providerCode ? { providerCode } : {}) },
  );
}
