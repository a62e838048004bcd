import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import SqliteDatabase from 'better-sqlite3';
import { ImapFlow } from 'imapflow';
import { Pool } from 'undici';
import type { DovecotImapConfig } from '../../test/support/dovecot.js';

/**
 * What B6 and B7 (inbound mail) share: test messages of the three sizes of the backlog mix, the
 * webhook receiver, Facteur's API client for mailboxes, endpoints and rules, read-only reads of
 * Facteur's ledger, an IMAP appender on one kept connection, and the CPU time of a process tree
 * (the private Dovecot runs as children of the driver).
 */

/** Epoch milliseconds with sub-millisecond precision (one clock per process; see `clockOffset` in b6.ts). */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Messages

/** The three kinds of the B7 mix. */
export type MessageKind = 'text' | 'html' | 'attachment';

/** Target raw sizes (bytes): 4 KB text, 136 KB HTML, 1.4 MB with an attachment. */
export const MESSAGE_SIZES: Record<MessageKind, number> = {
  text: 4 * 1024,
  html: 136 * 1024,
  attachment: 1_400_000,
};

/** The B7 mix by sequence number: of every 20 messages, 1 has an attachment (5%), 3 are HTML (15%), 16 text (80%). */
export function kindOf(seq: number): MessageKind {
  const slot = seq % 20;
  if (slot === 7) return 'attachment';
  if (slot === 2 || slot === 9 || slot === 15) return 'html';
  return 'text';
}

const WORDS =
  'commande livraison facture colis adresse client suivi numéro réception paiement merci bonjour équipe semaine produit quantité prix total remise délai dépôt retour échange service urgent'.split(
    ' ',
  );

/** Deterministic word stream (xorshift), so every message of a given seq has the same body. */
function words(seed: number, bytes: number, lineWords = 12): string {
  let x = (seed * 2654435761) >>> 0 || 1;
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const line: string[] = [];
    for (let i = 0; i < lineWords; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      line.push(WORDS[x % WORDS.length] as string);
    }
    const text = line.join(' ');
    lines.push(text);
    size += Buffer.byteLength(text) + 2;
  }
  return lines.join('\r\n');
}

function headers(subject: string, messageId: string, contentType: string, extra: string[] = []): string[] {
  return [
    'From: "Boutique Exemple" <orders@shop.example.org>',
    'To: "Alice" <alice@test.local>',
    `Subject: ${subject}`,
    `Message-ID: <${messageId}@bench.example.org>`,
    'Date: Sat, 21 Nov 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
    ...extra,
  ];
}

/** Quoted-printable with soft line breaks (what a mail client sends for UTF-8 HTML). */
function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let encoded = '';
    for (const byte of Buffer.from(line, 'utf8')) {
      encoded +=
        (byte >= 33 && byte <= 126 && byte !== 61) || byte === 32
          ? String.fromCharCode(byte)
          : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    let rest = encoded;
    while (rest.length > 75) {
      let cut = 75;
      // Never split an =XX escape.
      const lastEquals = rest.lastIndexOf('=', cut);
      if (lastEquals > cut - 3) cut = lastEquals;
      out.push(`${rest.slice(0, cut)}=`);
      rest = rest.slice(cut);
    }
    out.push(rest);
  }
  return out.join('\r\n');
}

/** A plain-text order notification of about `bytes` (default 4 KB), with a tracking link. */
export function textMessage(subject: string, messageId: string, bytes = MESSAGE_SIZES.text): Buffer {
  const head = headers(subject, messageId, 'text/plain; charset=utf-8', ['Content-Transfer-Encoding: 8bit']);
  const intro = `Bonjour Alice,\r\n\r\nVotre commande ${messageId} est en route : https://track.example.org/p/${messageId}\r\n\r\n`;
  const fixed = Buffer.byteLength(`${head.join('\r\n')}\r\n\r\n${intro}`) + 2;
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${intro}${words(hash(messageId), bytes - fixed)}\r\n`);
}

/** An HTML-only newsletter of about 136 KB (quoted-printable, layout tables, links): no text part, so the text is rendered from the HTML. */
export function htmlMessage(subject: string, messageId: string, bytes = MESSAGE_SIZES.html): Buffer {
  const head = headers(subject, messageId, 'text/html; charset=utf-8', [
    'Content-Transfer-Encoding: quoted-printable',
  ]);
  const seed = hash(messageId);
  const rows: string[] = [];
  let size = 2000;
  for (let i = 0; size < bytes * 0.93; i++) {
    const text = words(seed + i, 160, 8).replace(/\r\n/g, ' ');
    const row = `<tr><td style="padding:8px 12px;font-family:Arial,sans-serif;font-size:14px;color:#333333;border-bottom:1px solid #eeeeee"><a href="https://shop.example.org/produit/${i}?utm_source=newsletter&amp;utm_medium=email&amp;ref=${messageId}" style="color:#1a73e8;text-decoration:none">Produit n°${i}</a><br>${text}</td><td style="padding:8px 12px;text-align:right;font-family:Arial,sans-serif;font-size:14px">${(i * 7.3).toFixed(2)} €</td></tr>`;
    rows.push(row);
    size += Buffer.byteLength(row) * 1.04;
  }
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${subject}</title><style>body{margin:0;padding:0}table{border-collapse:collapse}</style></head>\n<body><table width="100%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center"><table width="600" cellpadding="0" cellspacing="0">\n<tr><td colspan="2"><h1 style="font-family:Arial">Nouveautés de la semaine</h1><p>Bonjour Alice, voici notre sélection (${messageId}).</p></td></tr>\n${rows.join('\n')}\n<tr><td colspan="2"><p style="font-size:11px;color:#999">Se désinscrire : <a href="https://shop.example.org/unsubscribe?id=${messageId}">cliquez ici</a></p></td></tr>\n</table></td></tr></table></body></html>\n`;
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${quotedPrintable(html)}\r\n`);
}

/** A short text part and a PDF-like binary attachment (base64), about 1.4 MB in all. */
export function attachmentMessage(
  subject: string,
  messageId: string,
  bytes = MESSAGE_SIZES.attachment,
): Buffer {
  const boundary = `----=_bench_${messageId}`;
  const head = headers(subject, messageId, `multipart/mixed; boundary="${boundary}"`);
  const text = `Bonjour Alice,\r\n\r\nVeuillez trouver la facture ${messageId} en pièce jointe.\r\n\r\n${words(hash(messageId), 2000)}\r\n`;
  // base64 is 4/3 of the binary plus CRLF every 76 characters.
  const binary = Math.floor(((bytes - 3500) * 3) / 4 / (78 / 76));
  const encoded = randomBytes(binary).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      ...head,
      '',
      'This is a multi-part message in MIME format.',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      text,
      `--${boundary}`,
      `Content-Type: application/pdf; name="facture-${messageId}.pdf"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="facture-${messageId}.pdf"`,
      '',
      encoded,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

/** A message of `kind` with a unique subject and Message-ID. */
export function messageOf(kind: MessageKind, subject: string, messageId: string): Buffer {
  if (kind === 'html') return htmlMessage(subject, messageId);
  if (kind === 'attachment') return attachmentMessage(subject, messageId);
  return textMessage(subject, messageId);
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver

/**
 * Raw node:http receiver answering `200 {"success":true}` at once. Counts deliveries and
 * distinct `webhook-id`s; with `trackSubjects`, also parses each body and notes the arrival
 * time of the first delivery per `data.subject` (the inbound payload's subject).
 */
export class InboundReceiver {
  private server: Server | undefined;
  port = 0;
  requests = 0;
  readonly ids = new Set<string>();
  /** subject -> first arrival (epoch ms). */
  readonly arrivals = new Map<string, number>();
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  constructor(private readonly trackSubjects: boolean) {}

  async start(): Promise<void> {
    this.server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = now();
        this.requests++;
        const id = req.headers['webhook-id'];
        if (typeof id === 'string') this.ids.add(id);
        if (this.trackSubjects) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              data?: { subject?: string };
            };
            const subject = body.data?.subject;
            if (subject !== undefined && !this.arrivals.has(subject)) this.arrivals.set(subject, at);
          } catch {
            // Counted, not tracked.
          }
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 16 });
        res.end('{"success":true}');
        if (this.waiters.length > 0) this.check();
      });
    });
    this.server.headersTimeout = 60_000;
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/inbound`;
  }

  reset(): void {
    this.requests = 0;
    this.ids.clear();
    this.arrivals.clear();
  }

  /** Resolves true once `test()` holds (checked on every delivery), false after `timeoutMs`. */
  waitUntil(test: () => boolean, timeoutMs: number): Promise<boolean> {
    if (test()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private check(): void {
    const done = this.waiters.filter((w) => w.test());
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    for (const w of done) w.resolve();
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Facteur's API

/** The watcher part of `GET /api/mailboxes/{id}`. */
export interface WatcherView {
  folder: string;
  state: string;
  connectedSince: string | null;
  lastError: { code: string; message: string } | null;
  recorded: number;
}

/** Facteur's API over one undici pool. */
export class InboundApi {
  private readonly pool: Pool;

  constructor(
    url: string,
    private readonly key: string,
  ) {
    this.pool = new Pool(url, { connections: 4, keepAliveTimeout: 60_000 });
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, expect = 200): Promise<T> {
    const response = await this.pool.request({
      path: `/api${path}`,
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    if (response.statusCode !== expect)
      throw new Error(`${method} ${path} answered ${response.statusCode}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** One endpoint (`inbound.*`) at `url` and a catch-all rule sending every message to it. */
  async routeEverythingTo(url: string): Promise<{ endpointId: string; ruleId: string }> {
    const endpoint = await this.call<{ id: string }>(
      'POST',
      '/endpoints',
      { name: 'bench-inbound', url, eventTypes: ['inbound.*'] },
      201,
    );
    const rule = await this.call<{ id: string }>(
      'POST',
      '/rules',
      { name: 'everything', actions: [{ type: 'webhook', endpoints: [endpoint.id] }] },
      201,
    );
    return { endpointId: endpoint.id, ruleId: rule.id };
  }

  /** Creates a password mailbox on the private Dovecot; its watcher connects at once. */
  async createMailbox(
    imap: DovecotImapConfig,
    folder: string,
    extra: Record<string, unknown>,
  ): Promise<{ id: string }> {
    return this.call<{ id: string }>(
      'POST',
      '/mailboxes',
      {
        name: `bench ${folder}`,
        host: imap.host,
        port: imap.port,
        tls: 'none',
        auth: { type: 'password', user: imap.auth.user, password: imap.auth.pass },
        folders: [folder],
        ...extra,
      },
      201,
    );
  }

  async watcher(mailboxId: string): Promise<WatcherView | undefined> {
    const view = await this.call<{ watchers: WatcherView[] }>('GET', `/mailboxes/${mailboxId}`);
    return view.watchers[0];
  }

  /** Polls until the mailbox's watcher is in `state` (e.g. idle); throws after `timeoutMs`. */
  async waitForWatcher(mailboxId: string, state: string, timeoutMs: number): Promise<WatcherView> {
    const deadline = now() + timeoutMs;
    let last: WatcherView | undefined;
    while (now() < deadline) {
      last = await this.watcher(mailboxId);
      if (last?.state === state) return last;
      await sleep(20);
    }
    throw new Error(`the watcher did not reach ${state} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Ledger reads

/** Facteur's SQLite file, read-only (WAL readers do not block its writer). */
export function openLedger(path: string): SqliteDatabase.Database {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Rows of `inbound_messages` by state, and in all. */
export function ledgerStates(db: SqliteDatabase.Database): {
  total: number;
  byState: Record<string, number>;
} {
  const rows = db.prepare('select state, count(*) as n from inbound_messages group by state').all() as Array<{
    state: string;
    n: number;
  }>;
  const byState: Record<string, number> = {};
  let total = 0;
  for (const row of rows) {
    byState[row.state] = row.n;
    total += row.n;
  }
  return { total, byState };
}

// ---------------------------------------------------------------------------------------------
// IMAP

/** APPENDs on one kept connection; `append` resolves when the server answered OK (the APPEND completed). */
export class Appender {
  private client: ImapFlow | undefined;

  constructor(private readonly config: () => DovecotImapConfig) {}

  private async connection(): Promise<ImapFlow> {
    if (this.client?.usable) return this.client;
    const client = new ImapFlow({ ...this.config(), disableAutoIdle: true });
    client.on('error', () => undefined);
    await client.connect();
    this.client = client;
    return client;
  }

  /** Appends `raw` to `folder`; returns the time the APPEND completed and the UID. */
  async append(folder: string, raw: Buffer): Promise<{ at: number; uid: number }> {
    const client = await this.connection();
    const result = await client.append(folder, raw);
    const at = now();
    if (!result || result.uid === undefined) throw new Error(`APPEND to ${folder} returned no UID`);
    return { at, uid: result.uid };
  }

  async ensureFolder(folder: string): Promise<void> {
    const client = await this.connection();
    if (folder.toUpperCase() !== 'INBOX') await client.mailboxCreate(folder).catch(() => undefined);
  }

  /** Forgets the connection (after a server restart). */
  drop(): void {
    this.client?.close();
    this.client = undefined;
  }

  async close(): Promise<void> {
    await this.client?.logout().catch(() => this.client?.close());
    this.client = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// CPU of a process tree

let ticksPerSecond: number | undefined;

/**
 * CPU seconds (user + system) of every descendant of `root` (not `root` itself), including
 * descendants that already exited and were reaped by a live one (their time is in its
 * cutime/cstime). Used for Dovecot, which runs as children of the driver.
 */
export function descendantsCpuSeconds(root = process.pid): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(name);
      parent.set(pid, Number(fields[1]));
      // utime, stime, cutime, cstime are fields 14-17 (1-based); here index 11-14.
      ticks.set(pid, Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
    } catch {
      // The process ended meanwhile.
    }
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    let p = parent.get(pid);
    while (p !== undefined && p !== root && p > 1) p = parent.get(p);
    if (p === root && pid !== root) total += t;
  }
  return total / ticksPerSecond;
}
