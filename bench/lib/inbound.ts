import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import SqliteDatabase from 'better-sqlite3';
import { ImapFlow } from 'imapflow';
import type { DovecotImapConfig } from '../../test/support/dovecot.js';
import { FacteurClient } from './api.js';

/**
 * What B6 and B7 (inbound mail) share (their test messages are in inbound-messages.ts): the
 * webhook receiver, Facteur's API client for mailboxes, endpoints and rules, read-only reads of
 * Facteur's ledger, an IMAP appender on one kept connection, and the CPU time of a process tree
 * (the private Dovecot runs as children of the driver).
 */

/** Epoch milliseconds with sub-millisecond precision (one clock per process; see `clockOffset` in b6.ts). */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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

/** Facteur's API for mailboxes, endpoints and rules. */
export class InboundApi extends FacteurClient {
  constructor(url: string, key: string) {
    super(url, key, 4);
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
}

// ---------------------------------------------------------------------------------------------
// Ledger reads

/** Facteur's SQLite file, read-only (WAL readers do not block its writer). */
export function openLedger(path: string): SqliteDatabase.Database {
  const db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** A driver's hold on one Facteur instance (its `setup` command): the API and the ledger, read-only. */
export class FacteurLink {
  readonly api: InboundApi;
  readonly db: SqliteDatabase.Database;

  constructor(target: { url: string; key: string; dbPath: string }) {
    this.api = new InboundApi(target.url, target.key);
    this.db = openLedger(target.dbPath);
  }

  async close(): Promise<void> {
    await this.api.close().catch(() => undefined);
    this.db.close();
  }
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
