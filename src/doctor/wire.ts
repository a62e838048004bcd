import { connect as netConnect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import {
  type ConnectionOptions,
  checkServerIdentity,
  type DetailedPeerCertificate,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import type { CertificateFacts } from './model.js';

/**
 * The doctor's own wire: a TCP connection to one address, a TLS upgrade of it (implicit or after
 * STARTTLS), and a line reader for SMTP and IMAP. Written here rather than through nodemailer or
 * imapflow because those hide the stages: each step must be observable and timed on its own.
 */

/** Longest line kept; a server sending more without a line break is not speaking SMTP or IMAP. */
const MAX_LINE = 64 * 1024;

/** An error of the wire with a Node-like code (ECONNREFUSED, TIMEOUT, CLOSED, ...). */
export function wireError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** The code of a socket error, if it has one. */
export function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Opens a TCP connection to `address:port`; rejects with code TIMEOUT after `timeoutMs`. */
export function connectTcp(
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: address, port });
    const fail = (error: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => fail(signal.reason as Error);
    const timer = setTimeout(
      () => fail(wireError('TIMEOUT', `no TCP connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/**
 * Runs a TLS handshake over `socket`. The certificate is never refused here
 * (`rejectUnauthorized: false`): the caller judges it, so that a bad one is described (which
 * names, which issuer, when it expires) instead of ending as a bare handshake error.
 */
export function startTls(
  socket: Socket,
  options: ConnectionOptions,
  signal: AbortSignal,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ ...options, socket, rejectUnauthorized: false });
    const onAbort = (): void => {
      secure.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      secure.destroy();
      reject(error);
    });
    secure.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      secure.removeAllListeners('error');
      resolve(secure);
    });
  });
}

/** The facts of a TLS session for `host`: protocol, cipher, and what the certificate says. */
export function tlsFacts(
  socket: TLSSocket,
  host: string,
): { protocol: string; cipher: string; cert: CertificateFacts } {
  const peer = socket.getPeerCertificate(true) as DetailedPeerCertificate;
  const names = (peer.subjectaltname ?? '')
    .split(', ')
    .filter(Boolean)
    .map((name) => name.replace(/^(DNS|IP Address):/, ''));
  const dn = (part: Record<string, unknown> | undefined): string | null => {
    if (!part) return null;
    const text = Object.entries(part)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', ');
    return text || null;
  };
  const subject = dn(peer.subject as unknown as Record<string, unknown>);
  const issuer = dn(peer.issuer as unknown as Record<string, unknown>);
  const rawError = socket.authorizationError as unknown;
  const authorizationError = socket.authorized
    ? null
    : rawError
      ? String(errorCodeOf(rawError) ?? rawError)
      : 'UNVERIFIED';
  const identity = peer.raw ? checkServerIdentity(host, peer) : new Error('no certificate');
  return {
    protocol: socket.getProtocol() ?? 'unknown',
    cipher: socket.getCipher()?.name ?? 'unknown',
    cert: {
      subject,
      names,
      issuer,
      validFrom: peer.valid_from ? new Date(peer.valid_from).toISOString() : null,
      validTo: peer.valid_to ? new Date(peer.valid_to).toISOString() : null,
      authorizationError,
      identityError: identity ? identity.message : null,
      selfSigned:
        authorizationError === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
        (subject !== null && subject === issuer && peer.issuerCertificate === peer),
    },
  };
}

/** A connection read line by line (CRLF or LF), whose socket can be upgraded to TLS. */
export class LineConnection {
  private socket: Socket;
  private decoder = new StringDecoder('utf8');
  private buffer = '';
  private readonly lines: string[] = [];
  private ended: Error | undefined;
  private waiter: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    this.attach();
  }

  /** Whether the connection is encrypted now. */
  get encrypted(): boolean {
    return 'encrypted' in this.socket && Boolean((this.socket as TLSSocket).encrypted);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffer += this.decoder.write(chunk);
    let at = this.buffer.indexOf('\n');
    while (at !== -1) {
      this.lines.push(this.buffer.slice(0, at).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(at + 1);
      at = this.buffer.indexOf('\n');
    }
    if (this.buffer.length > MAX_LINE) {
      this.lines.push(this.buffer.slice(0, MAX_LINE));
      this.buffer = '';
    }
    this.deliver();
  };

  private readonly onError = (error: Error): void => this.finish(error);
  private readonly onClose = (): void => this.finish(wireError('CLOSED', 'the server closed the connection'));

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
  }

  private finish(error: Error): void {
    this.ended ??= error;
    this.deliver();
  }

  private deliver(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      this.waiter = undefined;
      waiter.resolve(line);
    } else if (this.ended) {
      this.waiter = undefined;
      waiter.reject(this.ended);
    }
  }

  /** The next line; an aborted read closes the connection (the stage gave up on it). */
  readLine(signal: AbortSignal): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = undefined;
        this.close();
        reject(signal.reason as Error);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (line) => {
          signal.removeEventListener('abort', onAbort);
          resolve(line);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
    });
  }

  /** Writes `text` followed by CRLF. */
  writeLine(text: string): void {
    this.socket.write(`${text}\r\n`);
  }

  /** Writes raw text (a message body). */
  write(text: string): void {
    this.socket.write(text);
  }

  /**
   * Upgrades the connection to TLS (after STARTTLS was accepted). Anything the server sent in
   * clear after its STARTTLS answer is dropped (RFC 3207 §6: it could be injected).
   */
  async upgrade(options: ConnectionOptions, signal: AbortSignal): Promise<TLSSocket> {
    this.detach();
    this.lines.length = 0;
    this.buffer = '';
    const secure = await startTls(this.socket, options, signal);
    this.socket = secure;
    this.decoder = new StringDecoder('utf8');
    this.attach();
    return secure;
  }

  /** The TLS socket, when the connection is encrypted. */
  get tlsSocket(): TLSSocket | undefined {
    return this.encrypted ? (this.socket as TLSSocket) : undefined;
  }

  /** Closes the connection. */
  close(): void {
    this.detach();
    this.socket.on('error', () => undefined);
    this.socket.destroy();
    this.finish(wireError('CLOSED', 'the connection was closed'));
  }
}
