import type { LookupFunction } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import type { SmtpServerConfig } from '../core/config/index.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import { type CheckReport, greetingTimeoutHint, handshakeHint, type StageResult, stagesOk } from './model.js';
import { dnsStage, judgeTls, NETWORK_CODES, serverName, ssrfStage, tcpStage } from './network.js';
import { StageError, StageRunner } from './runner.js';
import {
  authStage,
  capabilities,
  command,
  readReply,
  refusal,
  replyText,
  sendStage,
  timeoutStage,
} from './smtp-dialogue.js';
import { errorCodeOf, LineConnection, tlsFacts } from './wire.js';

/**
 * `doctor smtp`: a conversation with the relay written by hand, so that each stage is seen and
 * timed: dns, (ssrf), tcp, tls (implicit), greeting, ehlo, tls (STARTTLS), auth, send, and a
 * comparison of the configured timeouts with what was measured.
 */

/** Timeouts of the SMTP stages (FACTEUR_SMTP_*). */
export interface SmtpTimeouts {
  connectMs: number;
  greetingMs: number;
  socketMs: number;
  sendMs: number;
}

/** What `checkSmtp` checks and with what. */
export interface SmtpCheckOptions {
  server: SmtpServerConfig;
  /** Where the server comes from: FACTEUR_SMTP_URL, the built-in catcher, or a URL an API caller gave. */
  source: 'config' | 'catcher' | 'request';
  /** When set, the addresses are judged by the guard (an `ssrf` stage): a URL given by a caller. */
  guard?: TargetGuard;
  /** With an address, a `send` stage delivers a real test message to it. */
  sendTo?: string;
  /** The sender of the test message (FACTEUR_MAIL_FROM). */
  from: string;
  /** Each stage's timeout. */
  timeouts: SmtpTimeouts;
  /** The configured timeouts the measures are compared with; default `timeouts`. */
  configured?: SmtpTimeouts;
  /** Trusted CA certificates (PEM) instead of the system store; for tests and private relays. */
  ca?: string[];
  /** DNS lookup; default the system resolver. */
  lookup?: LookupFunction;
  clock: Clock;
  /** The EHLO name; default this host's name. */
  ehloName?: string;
  onStage?: (stage: StageResult) => void;
}

const CODES = NETWORK_CODES.smtp;
const CATCHER_HINT =
  'no transport is configured (FACTEUR_TRANSPORTS and FACTEUR_SMTP_URL are unset), so mail goes to the built-in catcher, which runs inside `facteur serve`: start it, or set FACTEUR_TRANSPORTS';

/** Runs the SMTP check; resolves with every stage (a failed check is a report, never a throw). */
export async function checkSmtp(options: SmtpCheckOptions): Promise<CheckReport> {
  const { server, clock, timeouts } = options;
  const runner = new StageRunner(clock, options.onStage);
  const scheme = server.secure ? 'smtps' : 'smtp';
  const target = `${scheme}://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
  const port = server.port;
  let conn: LineConnection | undefined;
  const tlsOptions = { ...serverName(server.host), ...(options.ca ? { ca: options.ca } : {}) };
  const timeoutOf = (what: string, hint?: string) => ({
    timeoutMs: timeouts.socketMs,
    timeoutCode: 'SMTP_TIMEOUT' as const,
    timeoutWhat: what,
    fallbackCode: 'SMTP_PROTOCOL' as const,
    ...(hint ? { timeoutHint: hint } : {}),
    classify: (error: unknown) =>
      new StageError(
        errorCodeOf(error) === 'CLOSED' ? 'SMTP_CONNECT' : 'SMTP_PROTOCOL',
        `${(error as Error).message} (${errorCodeOf(error) ?? 'error'})`,
        'the server dropped the conversation: its logs say why (a refused client, a crash)',
      ),
  });
  try {
    let addresses = await dnsStage(runner, CODES, server.host, timeouts.connectMs, options.lookup);
    if (options.guard) addresses = await ssrfStage(runner, options.guard, server.host, addresses);
    const socket = await tcpStage(
      runner,
      CODES,
      addresses,
      port,
      timeouts.connectMs,
      options.source === 'catcher' ? CATCHER_HINT : undefined,
    );
    if (socket) conn = new LineConnection(socket);
    const judge = async (signal: AbortSignal, extra = {}) => {
      const secure = await conn?.upgrade(tlsOptions, signal);
      if (!secure) throw new StageError('SMTP_TLS', 'no connection');
      return judgeTls(
        CODES,
        tlsFacts(secure, server.host),
        server.host,
        server.tlsVerify,
        clock.now(),
        extra,
      );
    };
    const handshakeError = (implicit: boolean) => (error: unknown) =>
      new StageError(
        'SMTP_TLS',
        `TLS handshake failed: ${(error as Error).message}`,
        handshakeHint(errorCodeOf(error), implicit),
      );
    if (server.secure) {
      await runner.stage(
        'tls',
        {
          timeoutMs: timeouts.connectMs,
          timeoutCode: 'SMTP_TIMEOUT',
          timeoutWhat: 'no TLS handshake',
          timeoutHint: 'the server does not answer TLS on this port: use smtp:// (STARTTLS, usually 587)',
          classify: handshakeError(true),
        },
        (signal) => judge(signal, { mode: 'implicit' }),
      );
    }
    await runner.stage(
      'greeting',
      {
        timeoutMs: timeouts.greetingMs,
        timeoutCode: 'SMTP_TIMEOUT',
        timeoutWhat: 'no greeting',
        timeoutHint: greetingTimeoutHint(server.secure, port),
        classify: timeoutOf('').classify,
      },
      async (signal) => {
        const reply = await readReply(conn as LineConnection, signal, port);
        if (reply.code !== 220)
          throw refusal(
            reply,
            'the server refused the session',
            'the server refuses this client: a blocklisted address, too many connections, or maintenance',
          );
        return { value: reply, detail: { banner: reply.lines.join(' / ').slice(0, 200) } };
      },
    );
    const ehloName = options.ehloName ?? osHostname();
    const ehlo = (signal: AbortSignal) => command(conn as LineConnection, `EHLO ${ehloName}`, signal, port);
    let caps = await runner.stage('ehlo', timeoutOf('no answer to EHLO'), async (signal) => {
      const reply = await ehlo(signal);
      if (reply.code !== 250) {
        const helo = await command(conn as LineConnection, `HELO ${ehloName}`, signal, port);
        if (helo.code !== 250)
          throw refusal(
            helo,
            'EHLO and HELO were refused',
            'the server refuses the client name or this client',
          );
        return {
          value: [] as string[],
          detail: { server: helo.lines[0], capabilities: [] },
          outcome: 'warning',
          message: `EHLO refused (${replyText(reply)}); HELO accepted`,
          hint: 'an old server without ESMTP: no STARTTLS, no AUTH',
        };
      }
      return {
        value: capabilities(reply),
        detail: { server: reply.lines[0], name: ehloName, capabilities: capabilities(reply) },
      };
    });
    // After a failure, recorded as skipped like the rest.
    if (!server.secure && !runner.ok) await runner.stage('tls', timeoutOf(''), async () => ({}));
    else if (!server.secure && caps) {
      if (server.ignoreTls) runner.skip('tls', 'starttls=off: the connection stays in clear');
      else if (!caps.includes('STARTTLS')) {
        const message = 'the server does not offer STARTTLS';
        await runner.stage('tls', timeoutOf('no TLS'), async () => {
          if (server.requireTls)
            throw new StageError(
              'SMTP_TLS',
              `${message}, and the URL says starttls=required`,
              'use the TLS port (smtps:// on 465), or a relay that offers STARTTLS',
              { offered: false },
            );
          return {
            outcome: 'warning',
            message: `${message}: mail and password go in clear`,
            hint: 'add ?starttls=required once the server offers it, or use smtps://',
            detail: { offered: false },
          };
        });
      } else {
        caps = await runner.stage(
          'tls',
          {
            ...timeoutOf('no TLS handshake after STARTTLS'),
            timeoutMs: timeouts.connectMs + timeouts.socketMs,
            classify: handshakeError(false),
          },
          async (signal) => {
            const reply = await command(conn as LineConnection, 'STARTTLS', signal, port);
            if (reply.code !== 220)
              throw refusal(
                reply,
                'STARTTLS was refused',
                'the server offers STARTTLS but refuses it: its logs say why',
              );
            const judged = await judge(signal, { mode: 'STARTTLS' });
            const again = await ehlo(signal);
            if (again.code !== 250)
              throw refusal(
                again,
                'EHLO after STARTTLS was refused',
                'the server refuses the client after TLS',
              );
            return {
              ...judged,
              value: capabilities(again),
              detail: { ...judged.detail, capabilities: capabilities(again) },
            };
          },
        );
      }
    }
    const authenticated = await authStage(runner, options, conn, caps ?? [], timeoutOf);
    if (options.sendTo !== undefined)
      await sendStage(runner, options, conn, Boolean(authenticated), timeoutOf);
    await timeoutStage(runner, options);
    if (conn && runner.ok) conn.writeLine('QUIT');
  } finally {
    conn?.close();
  }
  return { check: 'smtp', target, ok: stagesOk(runner.stages), stages: runner.stages };
}
