import type { LookupFunction } from 'node:net';
import type { Clock } from '../core/clock.js';
import { isAppError } from '../core/errors.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import { type Inbound, OAuthTokens } from '../inbound/index.js';
import { type CheckReport, type Facts, imapLoginHint, type StageResult, stagesOk } from './model.js';
import { dnsStage, judgeTls, NETWORK_CODES, serverName, ssrfStage, tcpStage } from './network.js';
import { StageError, type StageOptions, StageRunner } from './runner.js';
import { errorCodeOf, LineConnection, tlsFacts } from './wire.js';

/**
 * `doctor imap`: a mailbox's connection, stage by stage, over a small IMAP client of its own:
 * dns, ssrf, tcp, tls, greeting, capability (IDLE?), login (LOGIN or XOAUTH2), select (each
 * watched folder, read-only with EXAMINE, so nothing changes on the server).
 */

/** A mailbox as the registry returns it, credentials included (never reported). */
export type DoctorMailbox = NonNullable<Awaited<ReturnType<Inbound['mailboxes']['get']>>>;

/** Timeouts of the IMAP stages. */
export interface ImapTimeouts {
  connectMs: number;
  greetingMs: number;
  commandMs: number;
}

/** The watcher's defaults (inbound/imap.ts IMAP_TIMEOUTS), and 30 s for one command. */
export const IMAP_DOCTOR_TIMEOUTS: ImapTimeouts = {
  connectMs: 15_000,
  greetingMs: 15_000,
  commandMs: 30_000,
};

/** What `checkImap` checks and with what. */
export interface ImapCheckOptions {
  mailbox: DoctorMailbox;
  /** The SSRF guard: the IMAP host and the token URL are reached on a user's behalf. */
  guard: TargetGuard;
  clock: Clock;
  timeouts?: Partial<ImapTimeouts>;
  /** Trusted CA certificates (PEM) instead of the system store. */
  ca?: string[];
  lookup?: LookupFunction;
  /** The running instance's watchers of this mailbox, added to the report. */
  watchers?: Facts[];
  onStage?: (stage: StageResult) => void;
}

const CODES = NETWORK_CODES.imap;

interface Tagged {
  status: string;
  text: string;
  untagged: string[];
}

/** A small IMAP client: tagged commands, continuations answered by `next`. */
class ImapSession {
  private counter = 0;
  constructor(readonly conn: LineConnection) {}

  async command(
    line: string,
    signal: AbortSignal,
    next: (text: string) => string | undefined = () => undefined,
  ): Promise<Tagged> {
    const tag = `d${++this.counter}`;
    this.conn.writeLine(`${tag} ${line}`);
    const untagged: string[] = [];
    for (;;) {
      const reply = await this.conn.readLine(signal);
      if (reply.startsWith('+')) {
        this.conn.writeLine(next(reply.slice(1).trim()) ?? '');
        continue;
      }
      if (reply.startsWith(`${tag} `)) {
        const [, status = '', text = ''] = /^\S+ (\S+) ?(.*)$/.exec(reply) ?? [];
        return { status: status.toUpperCase(), text, untagged };
      }
      untagged.push(reply);
    }
  }
}

/** A string as an IMAP astring: quoted when printable ASCII, else a literal (one line per continuation). */
function imapArguments(values: readonly string[]): string[] {
  const lines: string[] = [];
  let current = '';
  values.forEach((value, i) => {
    const sep = i === 0 ? '' : ' ';
    if (/^[\x20-\x7e]*$/.test(value)) current += `${sep}"${value.replace(/[\\"]/g, '\\$&')}"`;
    else {
      lines.push(`${current}${sep}{${Buffer.byteLength(value)}}`);
      current = value;
    }
  });
  lines.push(current);
  return lines;
}

/** A folder name in modified UTF-7 (RFC 3501 §5.1.3). */
export function encodeFolder(name: string): string {
  return name.replace(/&/g, '&-').replace(/[^\x20-\x7e]+/g, (run) => {
    const units = Buffer.alloc(run.length * 2);
    for (let i = 0; i < run.length; i++) units.writeUInt16BE(run.charCodeAt(i), i * 2);
    return `&${units.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
  });
}

function capabilitiesOf(lines: readonly string[]): string[] {
  for (const line of lines) {
    const m = /^\* CAPABILITY (.*)$/i.exec(line) ?? /\[CAPABILITY ([^\]]*)\]/i.exec(line);
    if (m?.[1]) return m[1].trim().toUpperCase().split(/\s+/);
  }
  return [];
}

/** Runs the IMAP check of a mailbox. */
export async function checkImap(options: ImapCheckOptions): Promise<CheckReport> {
  const { mailbox, clock } = options;
  const s = mailbox.settings;
  const t = { ...IMAP_DOCTOR_TIMEOUTS, ...options.timeouts };
  const runner = new StageRunner(clock, options.onStage);
  const tlsOptions = { ...serverName(s.host), ...(options.ca ? { ca: options.ca } : {}) };
  const command = (what: string, hint?: string): StageOptions => ({
    timeoutMs: t.commandMs,
    timeoutCode: 'IMAP_TIMEOUT',
    timeoutWhat: what,
    ...(hint ? { timeoutHint: hint } : {}),
    classify: (error) =>
      isAppError(error)
        ? new StageError(error.code, error.message)
        : new StageError(
            errorCodeOf(error) === 'CLOSED' ? 'IMAP_CONNECT_FAILED' : 'IMAP_PROTOCOL',
            `${(error as Error).message} (${errorCodeOf(error) ?? 'error'})`,
            'the server dropped the connection: its logs say why',
          ),
  });
  let session: ImapSession | undefined;
  const tlsStage = (mode: string, body: (signal: AbortSignal) => Promise<unknown>) =>
    runner.stage(
      'tls',
      {
        ...command(
          'no TLS handshake',
          'the server does not answer TLS here: check `tls` (implicit on 993, starttls on 143)',
        ),
        timeoutMs: t.connectMs,
        classify: (error) =>
          error instanceof StageError
            ? error
            : new StageError(
                'IMAP_CONNECT_FAILED',
                `TLS handshake failed: ${(error as Error).message}`,
                'the server does not speak TLS this way: check `tls` (implicit on 993, starttls on 143)',
              ),
      },
      async (signal) => {
        await body(signal);
        const secure = session?.conn.tlsSocket;
        if (!secure) throw new StageError('IMAP_CONNECT_FAILED', 'no TLS session');
        return judgeTls(CODES, tlsFacts(secure, s.host), s.host, s.tlsVerify, clock.now(), { mode });
      },
    );
  try {
    let addresses = await dnsStage(runner, CODES, s.host, t.connectMs, options.lookup);
    addresses = await ssrfStage(runner, options.guard, s.host, addresses);
    const socket = await tcpStage(runner, CODES, addresses, s.port, t.connectMs);
    if (socket) session = new ImapSession(new LineConnection(socket));
    const conn = () => (session as ImapSession).conn;
    if (s.tls === 'implicit') await tlsStage('implicit', (signal) => conn().upgrade(tlsOptions, signal));
    let caps = await runner.stage(
      'greeting',
      {
        ...command(
          'no greeting',
          s.tls === 'implicit'
            ? 'the TLS connection is up but the server says nothing: a proxy, or a port that is not IMAP'
            : 'the server never greeted: a port that speaks TLS first (tls: implicit, 993), or a proxy',
        ),
        timeoutMs: t.greetingMs,
      },
      async (signal) => {
        const line = await conn().readLine(signal);
        const banner = line.slice(0, 200);
        if (/^\* (OK|PREAUTH)\b/i.test(line)) return { value: capabilitiesOf([line]), detail: { banner } };
        if (/^\* BYE\b/i.test(line))
          throw new StageError(
            'IMAP_PROTOCOL',
            `the server refused the session: ${banner}`,
            'the server refuses this client (too many connections, maintenance)',
            { banner },
          );
        const smtp = /^\d{3}[ -]/.test(line);
        throw new StageError(
          'IMAP_PROTOCOL',
          `the server answered something that is not IMAP: "${banner.replace(/[^\x20-\x7e]/g, '?')}"`,
          smtp
            ? `port ${s.port} answers SMTP, not IMAP`
            : 'check the port and `tls`: this is not an IMAP greeting',
        );
      },
    );
    const capability = async (signal: AbortSignal) => {
      const answer = await (session as ImapSession).command('CAPABILITY', signal);
      if (answer.status !== 'OK')
        throw new StageError('IMAP_PROTOCOL', `CAPABILITY failed: ${answer.status} ${answer.text}`);
      return capabilitiesOf(answer.untagged);
    };
    caps =
      (await runner.stage('capability', command('no answer to CAPABILITY'), async (signal) => {
        const list = await capability(signal);
        const idle = list.includes('IDLE');
        const detail = { capabilities: list, idle };
        if (!idle && s.mode === 'idle')
          return {
            value: list,
            detail,
            outcome: 'warning',
            message: 'the server does not offer IDLE',
            hint: `the watcher polls every ${s.pollInterval} instead of being told of new mail`,
          };
        return { value: list, detail };
      })) ?? caps;
    if (s.tls === 'starttls') {
      caps = await tlsStage('STARTTLS', async (signal) => {
        if (!caps?.includes('STARTTLS'))
          throw new StageError(
            'IMAP_CONNECT_FAILED',
            'the server does not offer STARTTLS',
            'use tls: implicit (port 993), or a server that offers STARTTLS',
          );
        const answer = await (session as ImapSession).command('STARTTLS', signal);
        if (answer.status !== 'OK')
          throw new StageError('IMAP_CONNECT_FAILED', `STARTTLS refused: ${answer.status} ${answer.text}`);
        await conn().upgrade(tlsOptions, signal);
        caps = await capability(signal);
      }).then((ok) => (ok ? caps : undefined));
    } else if (s.tls === 'none') {
      if (runner.ok) runner.skip('tls', 'tls: none: the connection (and the password) stays in clear');
      else await tlsStage('none', async () => undefined);
    }
    await loginStage(runner, options, session, caps ?? [], command);
    await runner.stage(
      'select',
      command('no answer to EXAMINE', 'the folder is slow to open: a very large folder, or a busy server'),
      async (signal) => {
        const folders: Facts[] = [];
        for (const folder of s.folders) {
          const answer = await (session as ImapSession).command(
            `EXAMINE ${imapArguments([encodeFolder(folder)])[0]}`,
            signal,
          );
          if (answer.status !== 'OK') {
            throw new StageError(
              'IMAP_PROTOCOL',
              `the folder ${folder} cannot be opened: ${answer.status} ${answer.text}`,
              'the folder does not exist on the server: names are case-sensitive except INBOX (Gmail labels are like [Gmail]/Sent Mail)',
              { folders },
            );
          }
          const exists = answer.untagged.map((l) => /^\* (\d+) EXISTS/i.exec(l)?.[1]).find(Boolean);
          const validity = answer.untagged.map((l) => /UIDVALIDITY (\d+)/i.exec(l)?.[1]).find(Boolean);
          folders.push({ folder, messages: Number(exists ?? 0), uidValidity: validity ?? null });
        }
        return { detail: { folders } };
      },
    );
    if (runner.ok) session?.conn.writeLine('d0 LOGOUT');
  } finally {
    session?.conn.close();
  }
  return {
    check: 'imap',
    target: s.name,
    ok: stagesOk(runner.stages),
    stages: runner.stages,
    ...(options.watchers ? { watchers: options.watchers } : {}),
  };
}

async function loginStage(
  runner: StageRunner,
  options: ImapCheckOptions,
  session: ImapSession | undefined,
  caps: readonly string[],
  command: (what: string) => StageOptions,
): Promise<void> {
  const { mailbox } = options;
  const s = mailbox.settings;
  const oauth = s.auth.type === 'oauth2';
  await runner.stage(
    'login',
    command(oauth ? 'no answer to AUTHENTICATE XOAUTH2' : 'no answer to LOGIN'),
    async (signal) => {
      const imap = session as ImapSession;
      const detail = { user: s.auth.user, method: oauth ? 'XOAUTH2' : 'LOGIN' };
      if (mailbox.secretsProblem)
        throw new StageError(
          'CONFIG_INVALID',
          mailbox.secretsProblem,
          'set the credentials again (PATCH /api/mailboxes/{id})',
          detail,
        );
      let answer: Tagged;
      if (s.auth.type === 'oauth2') {
        const token = await accessToken(options, detail);
        const sasl = Buffer.from(`user=${s.auth.user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
        answer = caps.includes('SASL-IR')
          ? await imap.command(`AUTHENTICATE XOAUTH2 ${sasl}`, signal)
          : await imap.command('AUTHENTICATE XOAUTH2', signal, (text) => (text === '' ? sasl : ''));
      } else {
        if (caps.includes('LOGINDISABLED'))
          throw new StageError(
            'IMAP_AUTH_FAILED',
            'the server refuses LOGIN on this connection (LOGINDISABLED)',
            'the server wants TLS before the password: set tls to starttls or implicit',
            detail,
          );
        const [first = '', ...rest] = imapArguments([s.auth.user, mailbox.secrets.password ?? '']);
        answer = await imap.command(`LOGIN ${first}`, signal, () => rest.shift());
      }
      if (answer.status === 'OK') return { detail };
      throw new StageError(
        'IMAP_AUTH_FAILED',
        `the server refused the login: ${answer.status} ${answer.text}`.slice(0, 300),
        imapLoginHint(s.host, oauth),
        detail,
      );
    },
  );
}

/**
 * Exchanges the mailbox's refresh token for an access token the way its watcher does
 * (inbound's `OAuthTokens`, through the guard), naming the likely cause in the hint; a failure
 * keeps the login stage's facts (`detail`).
 */
async function accessToken(options: ImapCheckOptions, detail: Facts): Promise<string> {
  const tokens = new OAuthTokens(() => options.clock.now(), options.guard);
  try {
    return await tokens.accessToken(options.mailbox);
  } catch (error) {
    if (!isAppError(error) || error.code !== 'IMAP_OAUTH_FAILED') throw error;
    const hint = /invalid_grant/.test(error.message)
      ? 'the refresh token was revoked or expired: set a new one (PATCH /api/mailboxes/{id})'
      : /invalid_client/.test(error.message)
        ? 'the OAuth2 client id or secret is wrong'
        : /cannot be reached/.test(error.message)
          ? 'check auth.tokenUrl and that this host can reach it'
          : 'the token URL refused the exchange: check auth.clientId, auth.clientSecret and auth.tokenUrl';
    throw new StageError('IMAP_OAUTH_FAILED', error.message, hint, detail);
  } finally {
    await tokens.close();
  }
}
