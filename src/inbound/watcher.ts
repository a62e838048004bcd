import { createHash } from 'node:crypto';
import type { ImapFlow } from 'imapflow';
import type { Clock, Timer } from '../core/clock.js';
import { parseDuration } from '../core/config/parsers.js';
import { acquireLease, releaseLease, type Store } from '../core/db/index.js';
import type { AppError } from '../core/errors.js';
import type { LeaseIdentity } from '../core/instance.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Logger } from '../core/observability/index.js';
import { applyMailboxActions } from './acknowledge.js';
import { arrivalFromRaw, type ParseLike } from './arrival.js';
import { IDLE_REFRESH_MS, imapClient, imapError, type OAuthTokens } from './imap.js';
import { type Arrival, folderCursor, recordArrivals, saveFolderCursor } from './ledger.js';
import type { Mailbox } from './mailboxes.js';

/**
 * One watcher per watched folder of a mailbox: connect, record every message from the resume
 * point on, then wait in IDLE (entered again at once after each fetch, not after imapflow's
 * 15 s auto-IDLE delay) or poll; on any failure, reconnect with backoff and jitter. Only one
 * instance watches a folder at a time (a lease); the others stand by.
 */

/** What a watcher is doing. */
export type WatcherState =
  | 'starting'
  | 'connecting'
  | 'idle'
  | 'polling'
  | 'fetching'
  | 'backoff'
  | 'standby'
  | 'stopped';

/** A watcher's report for /readyz, metrics and the heartbeat. */
export interface WatcherStatus {
  mailboxId: string;
  mailbox: string;
  folder: string;
  state: WatcherState;
  connectedSince: number | null;
  lastSuccessAt: number | null;
  lastError: { code: string; message: string; at: number } | null;
  /** From a message's arrival on the server (INTERNALDATE) to its recording, for the last one recorded. */
  lagMs: number | null;
  recorded: number;
}

/** Dependencies of a watcher. */
export interface WatcherDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  tokens: OAuthTokens;
  /** The SSRF guard the IMAP connection goes through. */
  guard: TargetGuard;
  parser: ParseLike;
  /** This process, as lease owner; an earlier run of the same instance is taken over at once. */
  identity: LeaseIdentity;
  /** New messages recorded (the route jobs wake by themselves); for metrics. */
  onRecorded?(count: number, mailboxId: string): void;
}

/**
 * The lease outlives a crashed holder by at most this long. A process restarted on the same
 * host and data directory is the same instance and takes its lease back at once.
 */
const LEASE_TTL_MS = 30_000;
const LEASE_RENEW_MS = 10_000;
/** How often a standby instance tries to take the lease. */
const STANDBY_RETRY_MS = 5_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;
/** Messages and bytes fetched and recorded per transaction. */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 16 * 1024 * 1024;

export class FolderWatcher {
  private status: WatcherStatus;
  private stopping = false;
  private client: ImapFlow | undefined;
  private wake: (() => void) | undefined;
  private interruptSleep: (() => void) | undefined;
  private pendingWake = false;
  private loop: Promise<void> | undefined;
  private failures = 0;

  constructor(
    private readonly deps: WatcherDeps,
    readonly mailbox: Mailbox,
    readonly folder: string,
  ) {
    this.status = {
      mailboxId: mailbox.id,
      mailbox: mailbox.settings.name,
      folder,
      state: 'starting',
      connectedSince: null,
      lastSuccessAt: null,
      lastError: null,
      lagMs: null,
      recorded: 0,
    };
  }

  private get leaseName(): string {
    return `mailbox:${this.mailbox.id}:${this.folder}`;
  }

  /** Starts watching in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops: breaks IDLE, logs out, gives the lease up. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signal();
    this.interruptSleep?.();
    this.client?.close();
    await this.loop;
    await releaseLease(this.deps.store.db, this.leaseName, this.deps.identity.owner).catch(() => undefined);
    this.setState('stopped');
  }

  /** Handled messages are waiting for the mailbox action, or new mail may be there: look now. */
  signal(): void {
    this.pendingWake = true;
    this.wake?.();
  }

  report(): WatcherStatus {
    return { ...this.status };
  }

  private setState(state: WatcherState): void {
    if (this.status.state === state) return;
    this.status.state = state;
    this.deps.logger.debug({ event: `watcher.${state}`, mailboxId: this.mailbox.id, folder: this.folder });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!(await this.holdLease())) {
        this.setState('standby');
        await this.sleep(STANDBY_RETRY_MS);
        continue;
      }
      try {
        await this.session();
      } catch (error) {
        this.noteError(imapError(error, `${this.mailbox.settings.host}:${this.mailbox.settings.port}`));
      } finally {
        this.client?.close();
        this.client = undefined;
        this.status.connectedSince = null;
      }
      if (this.stopping) break;
      this.setState('backoff');
      await this.sleep(this.backoffMs());
    }
  }

  /** Exponential backoff with full jitter; the first retry comes quickly (a restarted server is back in a second). */
  private backoffMs(): number {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.failures, 10));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private noteError(error: AppError): void {
    this.failures += 1;
    this.status.lastError = { code: error.code, message: error.message, at: this.deps.clock.now() };
    if (error.code === 'IMAP_AUTH_FAILED') this.deps.tokens.forget(this.mailbox.id);
    this.deps.logger.warn(
      {
        event: 'watcher.error',
        mailboxId: this.mailbox.id,
        folder: this.folder,
        code: error.code,
        err: error.message,
      },
      'mailbox watcher failed; reconnecting',
    );
  }

  private async holdLease(): Promise<boolean> {
    const { identity, logger } = this.deps;
    // An earlier run of this instance died holding the folder (kill -9): take it back now
    // rather than after LEASE_TTL_MS. Another instance's lease is left to expire.
    const mayTakeOver = (owner: string): boolean => {
      if (!identity.isEarlierRun(owner)) return false;
      logger.info(
        {
          event: 'watcher.lease_recovered',
          mailboxId: this.mailbox.id,
          folder: this.folder,
          previousOwner: owner,
        },
        'taking back the folder lease of an earlier run of this instance',
      );
      return true;
    };
    try {
      return await acquireLease(
        this.deps.store.db,
        { name: this.leaseName, owner: identity.owner, ttlMs: LEASE_TTL_MS, mayTakeOver },
        this.deps.clock.now(),
      );
    } catch {
      return false;
    }
  }

  /** One connection's life: open the folder, catch up, then wait for news until the connection ends. */
  private async session(): Promise<void> {
    this.setState('connecting');
    const client = await imapClient(this.mailbox, this.deps.tokens, this.deps.guard);
    this.client = client;
    let closed = false;
    client.on('close', () => {
      closed = true;
      this.signal();
    });
    client.on('error', () => undefined); // reported through the failed command or 'close'
    client.on('exists', () => this.signal());
    // A folder deleted and made again under a selected session: Dovecot sends no BYE and no
    // EXISTS, only an untagged NO, and goes on answering FETCH and STATUS from the old folder's
    // index, so new mail would never be seen. A new SELECT reads the folder as it is: it runs
    // after an untagged NO or BAD, and whenever a wait ends with no news.
    let recheck = false;
    client.on('log', (entry) => {
      if (entry.src === 's' && typeof entry.msg === 'string' && /^\* (NO|BAD)\b/i.test(entry.msg)) {
        recheck = true;
        this.signal();
      }
    });
    await client.connect();
    const opened = await client.mailboxOpen(this.folder);
    this.status.connectedSince = this.deps.clock.now();
    const uidvalidity = Number(opened.uidValidity);
    const idle = this.mailbox.settings.mode === 'idle' && client.capabilities.has('IDLE');
    const pollMs = parseDuration(this.mailbox.settings.pollInterval);
    // The lease is renewed on its own timer, so neither a long IDLE nor a long poll interval nor a
    // long fetch lets it lapse; losing it (another instance took over) ends the session.
    const renewal = this.renewLeaseEvery(LEASE_RENEW_MS, () => {
      closed = true;
      client.close();
    });
    try {
      await this.resumePoint(client, uidvalidity, Number(opened.uidNext));
      await this.watch(client, uidvalidity, {
        idle,
        pollMs,
        isClosed: () => closed,
        recheck: () => recheck,
        rechecked: (value) => {
          recheck = value;
        },
      });
    } finally {
      renewal.cancel();
    }
  }

  /** Renews the lease every `ms` until cancelled; calls `lost` if another instance holds it. */
  private renewLeaseEvery(ms: number, lost: () => void): Timer {
    let timer: Timer;
    let cancelled = false;
    const renew = (): void => {
      void this.holdLease().then((held) => {
        if (cancelled) return;
        if (!held && !this.stopping) {
          this.deps.logger.warn({
            event: 'watcher.lease_lost',
            mailboxId: this.mailbox.id,
            folder: this.folder,
          });
          lost();
          return;
        }
        timer = this.deps.clock.setTimer(ms, renew);
      });
    };
    timer = this.deps.clock.setTimer(ms, renew);
    return {
      cancel: () => {
        cancelled = true;
        timer.cancel();
      },
    };
  }

  /** Fetch, mark, wait for news; again, until the connection ends. */
  private async watch(
    client: ImapFlow,
    uidvalidity: number,
    session: {
      idle: boolean;
      pollMs: number;
      isClosed: () => boolean;
      recheck: () => boolean;
      rechecked: (value: boolean) => void;
    },
  ): Promise<void> {
    const { idle, pollMs } = session;
    while (!this.stopping && !session.isClosed()) {
      this.pendingWake = false;
      this.setState('fetching');
      if (session.recheck()) {
        const reopened = await client.mailboxOpen(this.folder);
        session.rechecked(false);
        // UIDs were renumbered under this session: reconnect, and the resume point is set again.
        if (Number(reopened.uidValidity) !== uidvalidity) return;
      }
      await this.fetchNew(client, uidvalidity);
      await applyMailboxActions(this.deps, client, this.mailbox, this.folder, uidvalidity);
      this.status.lastSuccessAt = this.deps.clock.now();
      this.failures = 0;
      if (this.pendingWake || this.stopping || session.isClosed()) continue;
      this.setState(idle ? 'idle' : 'polling');
      // IDLE is left every IDLE_REFRESH_MS for a fetch (a safety net) and entered again, well
      // within RFC 2177's 29 minutes; in poll mode the wait is the poll interval.
      const waited = this.waitForNews(idle ? IDLE_REFRESH_MS : pollMs);
      // IDLE at once: imapflow's automatic IDLE would start only after 15 s of quiet. Any
      // command (the next fetch) ends it.
      if (idle) void client.idle().catch(() => undefined);
      await waited;
      if (!this.pendingWake) session.rechecked(true);
    }
  }

  /** Resolves on a signal (new mail, a handled message, a stop) or after `ms`. */
  private waitForNews(ms: number): Promise<void> {
    if (this.pendingWake) return Promise.resolve();
    return new Promise((resolve) => {
      const timer: Timer = this.deps.clock.setTimer(ms, () => done());
      const done = (): void => {
        timer.cancel();
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  /**
   * Waits out a backoff or a standby; only `stop` cuts it short. Mail and handled-message
   * signals do not: they leave `pendingWake` set until the next session, and a sleep that
   * returned on it at once turned standby and backoff into loops hammering the lease table and
   * the server (after a kill -9, for the whole lease TTL, starving the process).
   */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer: Timer = this.deps.clock.setTimer(ms, () => done());
      const done = (): void => {
        timer.cancel();
        this.interruptSleep = undefined;
        resolve();
      };
      this.interruptSleep = done;
    });
  }

  /** Reads (or sets, on first connection and after a UIDVALIDITY change) the folder's resume point. */
  private async resumePoint(client: ImapFlow, uidvalidity: number, uidNext: number): Promise<void> {
    const { store, clock, logger } = this.deps;
    const cursor = await folderCursor(store.db, this.mailbox.id, this.folder);
    if (cursor && cursor.uidvalidity === uidvalidity) return;
    let since: Date | null = null;
    const start = this.mailbox.settings.startFrom;
    if (cursor) {
      // UIDs were renumbered: look again from a day before the last message recorded here;
      // the ones already handled are recognised by Message-ID and content and skipped.
      const last = await store.db
        .selectFrom('inbound_messages')
        .select((eb) => eb.fn.max('received_at').as('at'))
        .where('mailbox_id', '=', this.mailbox.id)
        .where('folder', '=', this.folder)
        .executeTakeFirst();
      since = last?.at ? new Date(Number(last.at) - 86_400_000) : new Date(0);
      logger.warn(
        {
          event: 'watcher.uidvalidity_changed',
          mailboxId: this.mailbox.id,
          folder: this.folder,
          from: cursor.uidvalidity,
          to: uidvalidity,
        },
        'UIDVALIDITY changed; rescanning recent mail (already handled messages are skipped)',
      );
    } else if (start !== 'new' && start !== 'all') {
      since = new Date(clock.now() - start.lastDays * 86_400_000);
    }
    let nextUid = start === 'all' && !cursor ? 1 : uidNext;
    if (since) {
      const uids = (await client.search({ since }, { uid: true })) || [];
      nextUid = uids.length > 0 ? Math.min(...uids) : uidNext;
    }
    await store.transaction((tx) =>
      saveFolderCursor(
        tx,
        { mailboxId: this.mailbox.id, folder: this.folder, uidvalidity, nextUid },
        clock.now(),
      ),
    );
  }

  /** Fetches and records every message from the resume point on, in UID order, batch by batch. */
  private async fetchNew(client: ImapFlow, uidvalidity: number): Promise<void> {
    const { store, clock } = this.deps;
    const cursor = await folderCursor(store.db, this.mailbox.id, this.folder);
    if (!cursor) return;
    const metas = (
      await client.fetchAll(
        `${cursor.nextUid}:*`,
        { uid: true, size: true, internalDate: true },
        { uid: true },
      )
    )
      .filter((m) => m.uid >= cursor.nextUid)
      .sort((a, b) => a.uid - b.uid);
    const maxBytes = this.mailbox.settings.maxMessageMb * 1024 * 1024;
    for (let start = 0; start < metas.length && !this.stopping; ) {
      const batch: typeof metas = [];
      let bytes = 0;
      while (
        start < metas.length &&
        batch.length < BATCH_MESSAGES &&
        (batch.length === 0 || bytes < BATCH_BYTES)
      ) {
        const meta = metas[start++] as (typeof metas)[number];
        batch.push(meta);
        if ((meta.size ?? 0) <= maxBytes) bytes += meta.size ?? 0;
      }
      const sources = await this.fetchSources(
        client,
        batch.filter((m) => (m.size ?? 0) <= maxBytes).map((m) => m.uid),
      );
      const arrivals = await Promise.all(
        batch.map((meta) => {
          const receivedAt = meta.internalDate ? new Date(meta.internalDate).getTime() : clock.now();
          const imap = { folder: this.folder, uidvalidity, uid: meta.uid };
          const raw = sources.get(meta.uid);
          if (!raw) return tooLarge(this.mailbox.id, imap, meta.size ?? 0, maxBytes, receivedAt, meta.uid);
          return arrivalFromRaw(this.deps.parser, raw, {
            source: 'imap',
            mailboxId: this.mailbox.id,
            imap,
            receivedAt,
          });
        }),
      );
      const last = batch.at(-1)?.uid as number;
      await store.groupTransaction(async (tx) => {
        await recordArrivals(tx, arrivals, clock.now());
        await saveFolderCursor(
          tx,
          { mailboxId: this.mailbox.id, folder: this.folder, uidvalidity, nextUid: last + 1 },
          clock.now(),
        );
      });
      const now = clock.now();
      this.status.recorded += arrivals.length;
      this.status.lagMs = Math.max(0, now - (arrivals.at(-1)?.receivedAt ?? now));
      this.deps.onRecorded?.(arrivals.length, this.mailbox.id);
    }
  }

  private async fetchSources(client: ImapFlow, uids: number[]): Promise<Map<number, Buffer>> {
    const sources = new Map<number, Buffer>();
    if (uids.length === 0) return sources;
    for await (const message of client.fetch(uids.join(','), { uid: true, source: true }, { uid: true })) {
      if (message.source) sources.set(message.uid, message.source);
    }
    return sources;
  }
}

/** A message over the size limit: recorded (fetched, with the error), never downloaded. */
function tooLarge(
  mailboxId: string,
  imap: { folder: string; uidvalidity: number; uid: number },
  size: number,
  maxBytes: number,
  receivedAt: number,
  uid: number,
): Arrival {
  return {
    source: 'imap',
    mailboxId,
    imap,
    contentHash: createHash('sha256')
      .update(`too-large:${mailboxId}:${imap.folder}:${imap.uidvalidity}:${uid}`)
      .digest('hex'),
    receivedAt,
    size,
    parsed: {
      ok: false,
      code: 'INBOUND_TOO_LARGE',
      message: `the message is ${size} bytes, over the mailbox's limit of ${maxBytes} (maxMessageMb)`,
      subject: '',
      from: null,
      messageId: null,
    },
  };
}
