import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/**
 * An in-process SMTP server on 127.0.0.1 (random port) that records what it receives and can be
 * scripted to answer 4xx/5xx, stall, or drop the connection at greeting, RCPT or end of DATA.
 * STARTTLS is never offered; AUTH (PLAIN, LOGIN) is required and checked when `users` is given.
 */

/** What the sink answers at one point of the conversation. */
export type SinkReply =
  | { kind: 'accept' }
  /** A 4xx/5xx reply (at greeting the connection is closed after it). */
  | { kind: 'reply'; code: number; message: string }
  /** Never answer; the socket stays open silently until the client gives up or the sink closes. */
  | { kind: 'hang' }
  /** Destroy the socket without answering. */
  | { kind: 'drop' }
  /** Wait, then answer with `after` (accept by default). */
  | { kind: 'delay'; ms: number; after?: SinkReply };

/** A reply, or its shorthand for the kinds that take no parameters. */
export type SinkBehaviour = SinkReply | 'accept' | 'hang' | 'drop';

/** A fixed behaviour, or a function deciding one from the context (may be async). */
export type SinkScript<C> = SinkBehaviour | ((ctx: C) => SinkBehaviour | Promise<SinkBehaviour>);

/** Context of a decision at RCPT TO. */
export interface SinkRcptContext {
  /** 1-based count of RCPT commands seen since start or reset, including this one. */
  attempt: number;
  address: string;
  from: string;
  sessionId: string;
}

/** Context of a decision when a client connects (before the greeting). */
export interface SinkConnectContext {
  /** 1-based count of connections since start or reset. */
  connection: number;
  sessionId: string;
}

/** A message the sink accepted with 250. */
export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  messageId: string | undefined;
  /** The header value unfolded, not RFC 2047 decoded. */
  subject: string | undefined;
  receivedAt: number;
  sessionId: string;
  /** The authenticated user, if the client authenticated. */
  user: string | undefined;
}

/** Context of a decision at the end of DATA. */
export interface SinkDataContext extends ReceivedMessage {
  /** 1-based count of DATA commands seen since start or reset, including this one. */
  attempt: number;
}

/** Every DATA the sink received, with the answer it decided. */
export interface SinkAttempt extends SinkDataContext {
  /** The reply as scripted (delays included). */
  reply: SinkReply;
  /** The final SMTP code: 250 when accepted, the scripted code, or undefined for hang/drop. */
  code: number | undefined;
}

/** Options of {@link startSmtpSink}. */
export interface SmtpSinkOptions {
  /** With `users`: offer AUTH but do not require it. */
  authOptional?: boolean;
  /** Accounts (user → password); when set, AUTH PLAIN/LOGIN is required and checked. */
  users?: Record<string, string>;
  /** Implicit TLS is not supported. */
  secure?: false;
  /** SIZE limit in bytes; bigger messages get 552. */
  size?: number;
}

/** A running SMTP sink. */
export interface SmtpSink {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `smtp://[user:pass@]127.0.0.1:PORT?starttls=off` (first user when `users` is set). */
  readonly url: string;
  /** Accepted messages, in order. */
  readonly messages: ReceivedMessage[];
  /** Every DATA received, accepted or not. */
  readonly attempts: SinkAttempt[];
  /** Errors of client connections (resets and the like), kept for inspection. */
  readonly errors: Error[];
  /** Number of TCP connections accepted since start or reset. */
  readonly connections: number;
  /** Resolves once at least `count` messages were accepted. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Resolves once at least `count` DATA commands were received. */
  waitForAttempts(count: number, timeoutMs?: number): Promise<SinkAttempt[]>;
  /** Sets the answer at the end of DATA (default: accept). */
  script(behaviour: SinkScript<SinkDataContext>): void;
  /** Answers the next DATA commands with `replies` in turn, then accepts. */
  replyOnce(...replies: SinkBehaviour[]): void;
  /** Sets the answer to each RCPT TO (default: accept). */
  onRcpt(behaviour: SinkScript<SinkRcptContext>): void;
  /** Sets what happens when a client connects (default: accept, i.e. send the banner). */
  onConnect(behaviour: SinkScript<SinkConnectContext>): void;
  /** Forgets recorded messages, attempts, errors and counters, and restores the default behaviours. */
  reset(): void;
  /** Destroys every open socket (hanging ones included) and stops listening. */
  close(): Promise<void>;
}

const HEADER_END = /\r?\n\r?\n/;

/** Reads an unfolded header value from the raw message header block. */
export function headerValue(raw: Buffer, name: string): string | undefined {
  const text = raw.subarray(0, 64 * 1024).toString('utf8');
  const end = text.search(HEADER_END);
  const unfolded = (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const prefix = `${name.toLowerCase()}:`;
  for (const line of unfolded.split(/\r?\n/)) {
    if (line.toLowerCase().startsWith(prefix)) return line.slice(prefix.length).trim();
  }
  return undefined;
}

/** A delay before `after` (accept by default). */
export function delayedSinkReply(ms: number, after?: SinkBehaviour): SinkReply {
  return after === undefined ? { kind: 'delay', ms } : { kind: 'delay', ms, after: normalize(after) };
}

function normalize(behaviour: SinkBehaviour): SinkReply {
  return typeof behaviour === 'string' ? { kind: behaviour } : behaviour;
}

function finalReply(reply: SinkReply): SinkReply {
  return reply.kind === 'delay' ? finalReply(reply.after ?? { kind: 'accept' }) : reply;
}

async function decide<C>(script: SinkScript<C>, ctx: C): Promise<SinkReply> {
  return normalize(typeof script === 'function' ? await script(ctx) : script);
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

type Waiter = { check: () => boolean; timer: NodeJS.Timeout };

/** Starts an SMTP sink on 127.0.0.1 with a random free port. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const users = options.users;
  const sockets = new Map<string, Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<Waiter>();
  const messages: ReceivedMessage[] = [];
  const attempts: SinkAttempt[] = [];
  const errors: Error[] = [];
  let counts = { connections: 0, data: 0, rcpt: 0 };
  let dataScript: SinkScript<SinkDataContext> = 'accept';
  let rcptScript: SinkScript<SinkRcptContext> = 'accept';
  let connectScript: SinkScript<SinkConnectContext> = 'accept';

  const notify = () => {
    for (const waiter of waiters) waiter.check();
  };
  /** Carries out a reply: `accept` runs `onAccept` (which answers 250), errors go through `done`. */
  const perform = (
    session: SMTPServerSession,
    reply: SinkReply,
    done: (err?: Error | null) => void,
    onAccept: () => void = () => done(),
  ): void => {
    if (reply.kind === 'accept') onAccept();
    else if (reply.kind === 'reply') done(smtpError(reply.code, reply.message));
    else if (reply.kind === 'drop') sockets.get(`${session.remoteAddress}:${session.remotePort}`)?.destroy();
    else if (reply.kind === 'delay') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        perform(session, reply.after ?? { kind: 'accept' }, done, onAccept);
      }, reply.ms);
      timers.add(timer);
    }
    // 'hang': never answer.
  };

  const server = new SMTPServer({
    secure: false,
    logger: false,
    name: 'smtp-sink.test',
    banner: 'smtp-sink ready',
    disableReverseLookup: true,
    disabledCommands: users ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: users ? (options.authOptional ?? false) : true,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    size: options.size,
    socketTimeout: 10 * 60_000,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      if (users && auth.username !== undefined && users[auth.username] === auth.password) {
        return callback(null, { user: auth.username });
      }
      callback(smtpError(535, 'Authentication failed'));
    },
    onConnect(session, callback) {
      const ctx = { connection: counts.connections, sessionId: session.id };
      decide(connectScript, ctx).then((reply) => perform(session, reply, callback), callback);
    },
    onRcptTo(address, session, callback) {
      counts.rcpt += 1;
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const ctx = { attempt: counts.rcpt, address: address.address, from, sessionId: session.id };
      decide(rcptScript, ctx).then((reply) => perform(session, reply, callback), callback);
    },
    onData(stream, session, callback) {
      counts.data += 1;
      const attempt = counts.data;
      stream
        .toArray()
        .then(async (chunks: Buffer[]) => {
          const raw = Buffer.concat(chunks);
          const message: ReceivedMessage = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            raw,
            messageId: headerValue(raw, 'message-id'),
            subject: headerValue(raw, 'subject'),
            receivedAt: Date.now(),
            sessionId: session.id,
            user: typeof session.user === 'string' ? session.user : undefined,
          };
          const reply = stream.sizeExceeded
            ? { kind: 'reply' as const, code: 552, message: 'Message exceeds fixed maximum message size' }
            : await decide(dataScript, { attempt, ...message });
          const final = finalReply(reply);
          const code = final.kind === 'accept' ? 250 : final.kind === 'reply' ? final.code : undefined;
          attempts.push({ ...message, attempt, reply, code });
          notify();
          perform(session, reply, callback, () => {
            messages.push(message);
            notify();
            callback(null, 'OK: message queued');
          });
        })
        .catch((error: Error) => callback(error));
    },
  });
  server.on('error', (error) => errors.push(error));
  // Runs before smtp-server's own listener, so scripts see the socket and the count.
  server.server.prependListener('connection', (socket: Socket) => {
    counts.connections += 1;
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => sockets.delete(key));
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('smtp sink: no TCP address');
  const port = address.port;
  const first = users ? Object.entries(users)[0] : undefined;
  const credentials = first ? `${encodeURIComponent(first[0])}:${encodeURIComponent(first[1])}@` : '';

  const waitFor = <T>(list: T[], what: string, count: number, timeoutMs: number): Promise<T[]> =>
    new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          if (list.length < count) return false;
          clearTimeout(waiter.timer);
          waiters.delete(waiter);
          resolve(list.slice());
          return true;
        },
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`smtp sink: expected ${count} ${what} within ${timeoutMs} ms, got ${list.length}`),
          );
        }, timeoutMs),
      };
      waiters.add(waiter);
      waiter.check();
    });

  return {
    host: '127.0.0.1',
    port,
    url: `smtp://${credentials}127.0.0.1:${port}?starttls=off`,
    messages,
    attempts,
    errors,
    get connections() {
      return counts.connections;
    },
    waitForMessages: (count, timeoutMs = 10_000) => waitFor(messages, 'accepted messages', count, timeoutMs),
    waitForAttempts: (count, timeoutMs = 10_000) => waitFor(attempts, 'DATA attempts', count, timeoutMs),
    script(behaviour) {
      dataScript = behaviour;
    },
    replyOnce(...replies) {
      const queue = replies.slice();
      dataScript = () => queue.shift() ?? 'accept';
    },
    onRcpt(behaviour) {
      rcptScript = behaviour;
    },
    onConnect(behaviour) {
      connectScript = behaviour;
    },
    reset() {
      messages.length = 0;
      attempts.length = 0;
      errors.length = 0;
      counts = { connections: 0, data: 0, rcpt: 0 };
      dataScript = 'accept';
      rcptScript = 'accept';
      connectScript = 'accept';
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets.values()) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
