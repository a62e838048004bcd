import { parseMailbox } from '../core/email-address.js';
import { uuidv7 } from '../core/ids.js';
import { foreignGreetingHint, mailFromHint, rcptHint, smtpAuthFailure, timeoutWarnings } from './model.js';
import { StageError, type StageRunner } from './runner.js';
import type { SmtpCheckOptions } from './smtp.js';
import type { LineConnection } from './wire.js';

/**
 * The SMTP dialogue of `doctor smtp`: replies read line by line, and the stages after the
 * connection is up (auth, send) and the comparison of the configured timeouts with the measures.
 */
/** An SMTP reply: its code and every line's text. */
export interface Reply {
  code: number;
  lines: string[];
}

export const replyText = (reply: Reply): string => `${reply.code} ${reply.lines.join(' / ')}`.slice(0, 500);

/** Reads one reply, multi-line included; a line that is not SMTP is a protocol error naming it. */
export async function readReply(conn: LineConnection, signal: AbortSignal, port: number): Promise<Reply> {
  const lines: string[] = [];
  for (;;) {
    const line = await conn.readLine(signal);
    const match = /^(\d{3})([ -])(.*)$/.exec(line) ?? /^(\d{3})()$/.exec(line);
    if (!match) {
      const shown = line.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
      throw new StageError(
        'SMTP_PROTOCOL',
        `the server answered something that is not SMTP: "${shown}"`,
        foreignGreetingHint(line, port) ?? 'check the port: it does not serve SMTP',
      );
    }
    lines.push(match[3] ?? '');
    if (match[2] !== '-') return { code: Number(match[1]), lines };
  }
}

export async function command(
  conn: LineConnection,
  line: string,
  signal: AbortSignal,
  port: number,
): Promise<Reply> {
  conn.writeLine(line);
  return readReply(conn, signal, port);
}

export function refusal(reply: Reply, what: string, hint: string): StageError {
  return new StageError(
    reply.code >= 500 ? 'SMTP_REJECTED' : reply.code >= 400 ? 'SMTP_TRANSIENT' : 'SMTP_PROTOCOL',
    `${what}: ${replyText(reply)}`,
    hint,
    { reply: replyText(reply) },
  );
}

/** Capability keywords of an EHLO reply (the first line is the server's name). */
export function capabilities(reply: Reply): string[] {
  return reply.lines.slice(1).map((l) => l.trim().toUpperCase());
}

export function authMechanisms(caps: readonly string[]): string[] {
  const line = caps.find((c) => c.startsWith('AUTH ') || c.startsWith('AUTH='));
  return line ? line.slice(5).split(/\s+/).filter(Boolean) : [];
}

const bareAddress = (text: string): string => {
  const parsed = parseMailbox(text);
  return 'address' in parsed ? parsed.address : text;
};

export type TimeoutOf = (what: string, hint?: string) => Parameters<StageRunner['stage']>[1];

export async function authStage(
  runner: StageRunner,
  options: SmtpCheckOptions,
  conn: LineConnection | undefined,
  caps: readonly string[],
  timeoutOf: TimeoutOf,
): Promise<boolean | undefined> {
  const { server } = options;
  const port = server.port;
  if (server.user === undefined) {
    if (runner.ok) runner.skip('auth', 'no user in the URL: the relay must accept mail without a login');
    else await runner.stage('auth', timeoutOf(''), async () => ({}));
    return false;
  }
  const user = server.user;
  const password = server.password ?? '';
  return runner.stage('auth', timeoutOf('no answer to AUTH'), async (signal) => {
    const c = conn as LineConnection;
    const mechanisms = authMechanisms(caps);
    if (mechanisms.length === 0) {
      throw new StageError(
        'SMTP_AUTH',
        'the server offers no AUTH',
        c.encrypted
          ? 'this port does not take logins: use the submission port (587 with STARTTLS, or 465)'
          : 'many servers offer AUTH only after TLS: remove starttls=off, or use smtps://',
        { offered: [] },
      );
    }
    const detail = { user, offered: mechanisms };
    let reply: Reply;
    let mechanism: string;
    if (mechanisms.includes('PLAIN')) {
      mechanism = 'PLAIN';
      reply = await command(
        c,
        `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`,
        signal,
        port,
      );
    } else if (mechanisms.includes('LOGIN')) {
      mechanism = 'LOGIN';
      reply = await command(c, 'AUTH LOGIN', signal, port);
      if (reply.code === 334) reply = await command(c, Buffer.from(user).toString('base64'), signal, port);
      if (reply.code === 334)
        reply = await command(c, Buffer.from(password).toString('base64'), signal, port);
    } else {
      throw new StageError(
        'SMTP_AUTH',
        `the server offers only ${mechanisms.join(', ')}`,
        'Facteur logs in with PLAIN or LOGIN: use a relay or port that offers one of them',
        detail,
      );
    }
    if (reply.code === 235) return { value: true, detail: { ...detail, mechanism } };
    const failure = smtpAuthFailure(reply.code, reply.lines.join(' '), server.host);
    throw new StageError(
      failure.errorCode,
      `the server refused the login: ${replyText(reply)}`,
      failure.hint,
      { ...detail, mechanism },
    );
  });
}

function testMessage(from: string, to: string, now: number, host: string): string {
  return [
    `From: ${from}`,
    `To: ${to}`,
    'Subject: Facteur doctor test message',
    `Date: ${new Date(now).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${uuidv7()}@doctor.facteur>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This message was sent by \`facteur doctor smtp --send-to\` through ${host}.`,
    'If you can read it, Facteur can send mail through this relay.',
    '',
  ].join('\r\n');
}

export async function sendStage(
  runner: StageRunner,
  options: SmtpCheckOptions,
  conn: LineConnection | undefined,
  authenticated: boolean,
  timeoutOf: TimeoutOf,
): Promise<void> {
  const { server } = options;
  const to = options.sendTo as string;
  const from = bareAddress(options.from);
  const stage = { ...timeoutOf('the send did not finish'), timeoutMs: options.timeouts.sendMs };
  await runner.stage('send', stage, async (signal) => {
    const c = conn as LineConnection;
    const mail = await command(c, `MAIL FROM:<${from}>`, signal, server.port);
    if (mail.code !== 250) throw refusal(mail, `the sender ${from} was refused`, mailFromHint(mail.code));
    const rcpt = await command(c, `RCPT TO:<${to}>`, signal, server.port);
    if (rcpt.code !== 250 && rcpt.code !== 251)
      throw refusal(
        rcpt,
        `the recipient ${to} was refused`,
        rcptHint(rcpt.code, rcpt.lines.join(' '), authenticated),
      );
    const data = await command(c, 'DATA', signal, server.port);
    if (data.code !== 354)
      throw refusal(data, 'DATA was refused', 'the server refuses the message before its content');
    c.write(`${testMessage(options.from, to, options.clock.now(), server.host)}.\r\n`);
    const done = await readReply(c, signal, server.port);
    if (done.code !== 250)
      throw refusal(done, 'the message was refused', 'the server refused the message: its reply says why');
    return { detail: { from, to, reply: replyText(done) } };
  });
}

/** Compares the configured timeouts with what each stage took. */
export async function timeoutStage(runner: StageRunner, options: SmtpCheckOptions): Promise<void> {
  const configured = options.configured ?? options.timeouts;
  const ms = (name: string) =>
    runner.stages.filter((s) => s.stage === name).reduce((sum, s) => sum + s.ms, 0);
  await runner.stage(
    'timeouts',
    { timeoutMs: 1000, timeoutCode: 'SMTP_TIMEOUT', timeoutWhat: 'nothing' },
    async () => {
      const comparisons = [
        {
          variable: 'FACTEUR_SMTP_CONNECT_TIMEOUT',
          configuredMs: configured.connectMs,
          measuredMs: ms('dns') + ms('tcp') + (options.server.secure ? ms('tls') : 0),
        },
        {
          variable: 'FACTEUR_SMTP_GREETING_TIMEOUT',
          configuredMs: configured.greetingMs,
          measuredMs: ms('greeting'),
        },
        {
          variable: 'FACTEUR_SMTP_SOCKET_TIMEOUT',
          configuredMs: configured.socketMs,
          measuredMs: Math.max(ms('ehlo'), ms('auth')),
        },
        ...(options.sendTo !== undefined
          ? [
              {
                variable: 'FACTEUR_SMTP_SEND_TIMEOUT',
                configuredMs: configured.sendMs,
                measuredMs: ms('send'),
              },
            ]
          : []),
      ];
      const warnings = timeoutWarnings(comparisons);
      const detail = Object.fromEntries(
        comparisons.map((c) => [c.variable, `${c.measuredMs} ms of ${c.configuredMs} ms`]),
      );
      if (warnings.length === 0) return { detail };
      return {
        detail,
        outcome: 'warning',
        message: warnings.join('; '),
        hint: 'set the FACTEUR_SMTP_* timeouts named above',
      };
    },
  );
}
