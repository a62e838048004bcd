import SMTPConnection, {
  type SMTPConnectionOptions,
  type SMTPConnectionSendInfo,
} from 'nodemailer/lib/smtp-connection/index.js';

/**
 * Facteur's SMTP connection pool: up to `size` sessions to one server, each opened (greeting,
 * STARTTLS, AUTH) when a message needs it and kept for the next ones, over nodemailer's
 * SMTPConnection, which speaks the protocol. The pool hands each message, already composed
 * (mime.ts), to a free session; one try per message (the job engine does retries), and a message
 * given up (whole-send timeout, abort) closes the session it was on, so that nothing is sent
 * after Facteur recorded the attempt as failed. Errors are SMTPConnection's own (a `code`, the
 * server's `response` and `responseCode`, `rejectedErrors`), classified by transport.ts.
 */

/** Where and how to connect: the SMTPConnection options Facteur sets. */
export interface SmtpPoolOptions {
  host: string;
  port: number;
  secure: boolean;
  requireTLS: boolean;
  ignoreTLS: boolean;
  tls: { rejectUnauthorized: boolean; servername: string };
  auth?: { user: string; pass: string };
  /** Sessions open at most. */
  size: number;
  /** Messages per session, then it says QUIT and a new one opens. */
  maxMessages: number;
  connectionTimeout: number;
  greetingTimeout: number;
  socketTimeout: number;
}

/** Who gets the message: the SMTP envelope. */
export interface SmtpEnvelope {
  from: string;
  to: string[];
}

/** One message in the pool: waiting for a session, or on one. */
interface PoolSend {
  envelope: SmtpEnvelope;
  raw: Buffer;
  resolve(info: SMTPConnectionSendInfo): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The session it is on, once taken from the queue. */
  session: Session | undefined;
  settled: boolean;
}

/** An SMTP session of the pool. */
interface Session {
  connection: SMTPConnection;
  /** Greeted (and authenticated): it can take a message. */
  ready: boolean;
  /** The message it is connecting for or sending. */
  current: PoolSend | undefined;
  sent: number;
  ended: boolean;
}

export class SmtpPool {
  private readonly sessions = new Set<Session>();
  private readonly idle: Session[] = [];
  /** Messages waiting for a session, oldest first (`head` is the next one). */
  private queue: PoolSend[] = [];
  private head = 0;
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {}

  /**
   * Sends `raw` to `envelope` on a free session. Rejects with SMTPConnection's error, with an
   * ETIMEDOUT error after `timeoutMs` in all, or with the signal's reason when aborted; a
   * message given up on a session closes that session.
   */
  send(
    envelope: SmtpEnvelope,
    raw: Buffer,
    options: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<SMTPConnectionSendInfo> {
    return new Promise((resolve, reject) => {
      const item: PoolSend = {
        envelope,
        raw,
        resolve,
        reject,
        timer: undefined,
        signal: options.signal,
        onAbort: undefined,
        session: undefined,
        settled: false,
      };
      if (this.closed) return reject(connectionError('the SMTP pool is closed'));
      if (options.signal?.aborted) return reject(options.signal.reason);
      item.timer = setTimeout(() => {
        const error = Object.assign(
          new Error(`no result within ${options.timeoutMs} ms (FACTEUR_SMTP_SEND_TIMEOUT)`),
          { code: 'ETIMEDOUT' },
        );
        this.giveUp(item, error);
      }, options.timeoutMs);
      if (options.signal) {
        const signal = options.signal;
        item.onAbort = () => this.giveUp(item, signal.reason);
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.queue.push(item);
      this.dispatch();
    });
  }

  /** Opens a session (greeting, STARTTLS, AUTH) and closes it with QUIT, sending nothing. */
  verify(): Promise<void> {
    return new Promise((resolve, reject) => {
      const connection = new SMTPConnection(this.connectionOptions());
      let done = false;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        if (error) {
          connection.close();
          reject(error);
        } else {
          connection.quit();
          resolve();
        }
      };
      connection.on('error', finish);
      connection.once('end', () => finish(connectionError('Connection closed unexpectedly')));
      connection.connect((error) => (error ? finish(error) : this.login(connection, finish)));
    });
  }

  /** Fails what waits, closes every session (a message on one fails with ECONNECTION). */
  close(): void {
    this.closed = true;
    for (const item of this.queue.slice(this.head))
      this.settle(item, connectionError('the SMTP pool is closed'));
    this.queue = [];
    this.head = 0;
    for (const session of [...this.sessions]) session.connection.close();
  }

  /** Hands waiting messages to idle sessions, opening sessions while under `size`. */
  private dispatch(): void {
    while (this.head < this.queue.length) {
      const item = this.queue[this.head] as PoolSend;
      if (item.settled) {
        this.head++;
        continue;
      }
      const session = this.idle.pop() ?? (this.sessions.size < this.options.size ? this.open() : undefined);
      if (!session) break;
      this.head++;
      this.run(session, item);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private open(): Session {
    const session: Session = {
      connection: new SMTPConnection(this.connectionOptions()),
      ready: false,
      current: undefined,
      sent: 0,
      ended: false,
    };
    this.sessions.add(session);
    // While a message is being sent, its callback gets the same error; while connecting, the
    // connect step below does. Listening keeps an 'error' from being thrown.
    session.connection.on('error', (error) => {
      if (!session.ready && session.current) this.settle(session.current, error);
    });
    session.connection.once('end', () => this.ended(session));
    return session;
  }

  private run(session: Session, item: PoolSend): void {
    session.current = item;
    item.session = session;
    if (session.ready) {
      this.transmit(session, item);
      return;
    }
    session.connection.connect((error) => {
      if (error) return this.settle(item, error);
      this.login(session.connection, (loginError) => {
        if (loginError) {
          this.settle(item, loginError);
          session.connection.close();
          return;
        }
        session.ready = true;
        if (item.settled) this.release(session);
        else this.transmit(session, item);
      });
    });
  }

  /** AUTH when the pool has credentials and the server offers it (as nodemailer's pool does). */
  private login(connection: SMTPConnection, done: (error?: unknown) => void): void {
    const { auth } = this.options;
    if (!auth || !connection.allowsAuth) {
      done();
      return;
    }
    connection.login({ credentials: { user: auth.user, pass: auth.pass } }, (error) =>
      done(error ?? undefined),
    );
  }

  private transmit(session: Session, item: PoolSend): void {
    session.connection.send(item.envelope, item.raw, (error, info) => {
      session.sent++;
      if (!error) {
        this.settle(item, undefined, info);
        this.release(session);
        return;
      }
      this.settle(item, error);
      const refusal = error.code === 'EENVELOPE' || error.code === 'EMESSAGE';
      if (refusal && error.responseCode !== 421 && !session.connection.destroyed) {
        // The server refused this message; the session is fine: RSET and keep it.
        session.connection.reset((resetError) => {
          if (resetError) session.connection.close();
          else this.release(session);
        });
        return;
      }
      session.connection.close();
    });
  }

  /** The session is free again: next message, or QUIT after `maxMessages`. */
  private release(session: Session): void {
    session.current = undefined;
    if (session.ended) return;
    if (this.closed || session.sent >= this.options.maxMessages) {
      // Out of the pool at once, so that a new session can open while this one says QUIT.
      this.sessions.delete(session);
      session.connection.quit();
      if (!this.closed) this.dispatch();
      return;
    }
    this.idle.push(session);
    this.dispatch();
  }

  private ended(session: Session): void {
    session.ended = true;
    this.sessions.delete(session);
    const at = this.idle.indexOf(session);
    if (at >= 0) this.idle.splice(at, 1);
    const item = session.current;
    session.current = undefined;
    // The send callback of a failing session runs right after its 'end'; a session closed under
    // a message (given up, pool closed) has none: that message fails here.
    if (item) setImmediate(() => this.settle(item, connectionError('Connection closed unexpectedly')));
    if (!this.closed) this.dispatch();
  }

  /** Stops waiting for `item`: out of the queue, or its session closed. */
  private giveUp(item: PoolSend, error: unknown): void {
    if (item.settled) return;
    const session = item.session;
    this.settle(item, error);
    if (session && session.current === item) {
      session.current = undefined;
      session.connection.close();
    }
  }

  private settle(item: PoolSend, error: unknown, info?: SMTPConnectionSendInfo): void {
    if (item.settled) return;
    item.settled = true;
    clearTimeout(item.timer);
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
    if (error !== undefined) item.reject(error);
    else item.resolve(info as SMTPConnectionSendInfo);
  }

  private connectionOptions(): SMTPConnectionOptions {
    const { auth: _auth, size: _size, maxMessages: _max, ...connection } = this.options;
    return { ...connection, dnsTimeout: connection.connectionTimeout, logger: false, debug: false };
  }
}

function connectionError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNECTION' });
}
