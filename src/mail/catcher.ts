import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { Clock } from '../core/clock.js';
import type { Database, Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import { framedBody } from '../core/http/pages.js';
import { uuidv7 } from '../core/ids.js';
import type { ComponentHealth, Logger } from '../core/observability/index.js';
import { type CaughtRow, getCaughtRow, insertCaught, listCaughtRows, pruneCaught } from './catcher-store.js';

/**
 * The built-in mail catcher: when no SMTP relay is configured, Facteur sends to this local SMTP
 * server, which stores what it receives so that a newcomer can send and look at the result
 * without any mail account. It keeps the newest `retain` messages.
 */

/** Largest message the catcher takes. */
export const CATCHER_MAX_BYTES = 25 * 1024 * 1024;

/** A caught message, listed. */
export interface CaughtMessageSummary {
  id: string;
  messageId: string | null;
  from: string | null;
  to: string[];
  subject: string | null;
  size: number;
  receivedAt: string;
}

/** The catcher's SMTP server. */
export class MailCatcher {
  private server: SMTPServer | undefined;
  private boundPort = 0;
  private received = 0;
  private lastError: { message: string; at: number } | null = null;

  constructor(private readonly deps: { store: Store; clock: Clock; logger: Logger; retain: number }) {}

  /** The port it listens on (after `start`). */
  get port(): number {
    return this.boundPort;
  }

  /** Listens on 127.0.0.1:`port` (0 picks a free port). CATCHER_PORT_IN_USE if taken. */
  async start(port: number): Promise<void> {
    const server = new SMTPServer({
      name: 'facteur-catcher',
      banner: 'Facteur mail catcher',
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      size: CATCHER_MAX_BYTES,
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
            callback(
              Object.assign(new Error('message larger than the catcher limit of 25 MB'), {
                responseCode: 552,
              }),
            );
            return;
          }
          const to = session.envelope.rcptTo.map((r) => r.address);
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
          this.store(Buffer.concat(chunks), from, to).then(
            (id) => callback(null, `stored as ${id}`),
            (error: unknown) => {
              this.lastError = { message: (error as Error).message, at: this.deps.clock.now() };
              this.deps.logger.error(
                { event: 'catcher.store_failed', err: error },
                'the catcher could not store a message',
              );
              // 451: the sender keeps the message and tries again; nothing is lost.
              callback(
                Object.assign(new Error('cannot store the message now; try again later'), {
                  responseCode: 451,
                }),
              );
            },
          );
        });
      },
    });
    server.on('error', (error) =>
      this.deps.logger.warn({ event: 'catcher.error', err: error }, 'catcher connection error'),
    );
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        reject(
          error.code === 'EADDRINUSE'
            ? new AppError(
                'CATCHER_PORT_IN_USE',
                `port ${port} is taken; set FACTEUR_CATCHER_PORT to a free port (or FACTEUR_SMTP_URL to a relay)`,
                { cause: error },
              )
            : error,
        );
      };
      server.server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.server.address() as AddressInfo).port;
    this.deps.logger.info(
      { event: 'catcher.started', port: this.boundPort },
      `mail catcher listening on 127.0.0.1:${this.boundPort}`,
    );
  }

  /** State for /readyz. */
  health(): ComponentHealth {
    return {
      status: this.server ? 'ok' : 'down',
      lastError: this.lastError,
      detail: { port: this.boundPort, received: this.received },
    };
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async store(raw: Buffer, from: string | null, to: string[]): Promise<string> {
    const headerEnd = raw.indexOf('\r\n\r\n');
    const headers = await simpleParser(headerEnd >= 0 ? raw.subarray(0, headerEnd + 4) : raw, {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
    });
    const id = uuidv7();
    const { db } = this.deps.store;
    // In a transaction so that it is durable before the 250 reply (see WalSync).
    await this.deps.store.transaction((tx) =>
      insertCaught(tx, {
        id,
        message_id: headers.messageId ?? null,
        from_address: headers.from?.text ?? from,
        to_addresses: JSON.stringify(to),
        subject: headers.subject ?? null,
        size: raw.length,
        raw,
        received_at: this.deps.clock.now(),
      }),
    );
    this.received++;
    if (this.received % 50 === 1) await pruneCaught(db, this.deps.retain);
    return id;
  }
}

/** Caught messages, newest first. */
export async function listCaught(
  db: Kysely<Database>,
  filter: { limit: number; before?: string },
): Promise<CaughtMessageSummary[]> {
  return (await listCaughtRows(db, filter)).map(caughtSummary);
}

function caughtSummary(row: Omit<CaughtRow, 'raw'>): CaughtMessageSummary {
  return {
    id: row.id,
    messageId: row.message_id,
    from: row.from_address,
    to: JSON.parse(row.to_addresses) as string[],
    subject: row.subject,
    size: Number(row.size),
    receivedAt: new Date(Number(row.received_at)).toISOString(),
  };
}

/** One caught message with its raw source; NOT_FOUND when absent. */
/**
 * The header Facteur puts on its own sign-in mail (links that sign a person in). The catcher
 * shows the body of such a message to admins only: anyone may ask for a link to any address, so
 * a viewer who could read the catcher could sign in as an admin.
 */
export const SIGN_IN_MAIL_HEADER = 'X-Facteur-Sign-In';

/** What a reader below admin sees instead of a sign-in message's body. */
const WITHHELD = 'This message holds a sign-in link: only an admin can read its body in the catcher.';

/** Whether the raw message's header block carries the sign-in header. */
function isSignInMail(raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  return new RegExp(`^${SIGN_IN_MAIL_HEADER}:`, 'im').test(head);
}

/** The header block alone, then the note: a withheld sign-in message. */
function withheldRaw(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  return `${raw.subarray(0, end === -1 ? raw.length : end).toString('utf8')}\r\n\r\n[${WITHHELD}]\r\n`;
}

/** One caught message with its source; a sign-in message's body only when `mayReadSignIn`. */
export async function getCaught(
  db: Kysely<Database>,
  id: string,
  mayReadSignIn: boolean,
): Promise<CaughtMessageSummary & { raw: string }> {
  const row = await getCaughtRow(db, id);
  if (!row) throw new AppError('NOT_FOUND', `no caught message has the id ${id}`);
  const raw = Buffer.from(row.raw);
  const text = !mayReadSignIn && isSignInMail(raw) ? withheldRaw(raw) : raw.toString('utf8');
  return { ...caughtSummary(row), raw: text };
}

/**
 * A caught message's body as one HTML document for the dashboard's sandboxed frame: its HTML
 * part (inline `cid:` images turned into `data:` URLs), else its text part in a `<pre>`; a
 * sign-in message's only when `mayReadSignIn`.
 */
export async function getCaughtHtml(
  db: Kysely<Database>,
  id: string,
  mayReadSignIn: boolean,
): Promise<string> {
  const row = await getCaughtRow(db, id);
  if (!row) throw new AppError('NOT_FOUND', `no caught message has the id ${id}`);
  const raw = Buffer.from(row.raw);
  if (!mayReadSignIn && isSignInMail(raw)) return framedBody({ text: WITHHELD });
  const parsed = await simpleParser(raw, { skipTextToHtml: true, skipHtmlToText: true });
  return framedBody({ html: typeof parsed.html === 'string' ? parsed.html : null, text: parsed.text });
}
