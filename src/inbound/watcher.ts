import type { ImapFlow } from 'imapflow';
import type { Clock, Timer } from '../core/clock.js';
import { parseDuration } from '../core/config/parsers.js';
import { LeaseHolder, type Store } from '../core/db/index.js';
import type { AppError } from '../core/errors.js';
import type { LeaseIdentity } from '../core/instance.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { Logger, ObserveDependency } from '../core/observability/index.js';
import { applyMailboxActions } from './acknowledge.js';
import type { ParseLike } from './arrival.js';
import { fetchNewMessages, type OpenFolder, setResumePoint } from './folder-fetch.js';
import { IDLE_REFRESH_MS, imapClient, imapError, type OAuthTokens } from './imap.js';
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
  /** Gets one sample per IMAP operation (connect and open, each fetch round), kind `mailbox`. */
  observe?: ObserveDependency;
}

/**
 * The lease outlives a crashed holder by at most this long. A process restarted on the same
 * host and data directory is the same instance and takes its lease back at once.
 */
const LEASE_TTL_MS = 30_000;
/** How often a standby instance tries to take the lease. */
const STANDBY_RETRY_MS = 5_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 60_000;

export class FolderWatcher {
  private status: WatcherStatus;
  private stopping = false;
  private client: ImapFlow | undefined;
  private wake: (() => void) | undefined;
  private interruptSleep: (() => void) | undefined;
  private pendingWake = false;
  private loop: Promise<void> | undefined;
  private failures = 0;
  /** The folder's lease, renewed every third of its ttl while a session runs. */
  private readonly lease: LeaseHolder;
  /** Ends the session running now (the lease was lost). */
  private endSession: (() => void) | undefined;
  /** When the IMAP operation under way (connect, a fetch round) started, for its dependency sample. */
  private operationFrom: number | undefined;

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
    this.lease = new LeaseHolder({
      db: deps.store.db,
      clock: deps.clock,
      name: `mailbox:${mailbox.id}:${folder}`,
      owner: deps.identity.owner,
      ttlMs: LEASE_TTL_MS,
      mayTakeOver: (owner) => this.mayTakeOver(owner),
      onLost: () => {
        if (this.stopping) return;
        this.deps.logger.warn({ event: 'watcher.lease_lost', mailboxId: mailbox.id, folder });
        this.endSession?.();
      },
    });
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
    await this.lease.release();
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
      if (!(await this.lease.acquire())) {
        this.setState('standby');
        await this.sleep(STANDBY_RETRY_MS);
        continue;
      }
      try {
        await this.session();
      } catch (error) {
        const failure = imapError(error, `${this.mailbox.settings.host}:${this.mailbox.settings.port}`);
        this.observe(failure.code);
        this.noteError(failure);
      } finally {
        this.client?.close();
        this.client = undefined;
        this.status.connectedSince = null;
        // Renewed during sessions only: in a long backoff another instance may take the folder over.
        this.lease.pause();
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

  /** Reports the operation under way as one sample (at most once; stopping is not an outcome). */
  private observe(outcome: string): void {
    const from = this.operationFrom;
    this.operationFrom = undefined;
    if (from === undefined || this.stopping) return;
    const ms = performance.now() - from;
    this.deps.observe?.({ kind: 'mailbox', name: this.mailbox.settings.name, outcome, ms });
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

  /**
   * An earlier run of this instance died holding the folder (kill -9): take it back now rather
   * than after LEASE_TTL_MS. Another instance's lease is left to expire.
   */
  private mayTakeOver(owner: string): boolean {
    if (!this.deps.identity.isEarlierRun(owner)) return false;
    this.deps.logger.info(
      {
        event: 'watcher.lease_recovered',
        mailboxId: this.mailbox.id,
        folder: this.folder,
        previousOwner: owner,
      },
      'taking back the folder lease of an earlier run of this instance',
    );
    return true;
  }

  /** One connection's life: open the folder, catch up, then wait for news until the connection ends. */
  private async session(): Promise<void> {
    this.setState('connecting');
    this.operationFrom = performance.now();
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
    this.endSession = () => {
      closed = true;
      client.close();
    };
    if (!this.lease.held) this.endSession(); // lost while connecting
    try {
      await setResumePoint(this.deps, client, this.opened(uidvalidity), Number(opened.uidNext));
      this.observe('ok'); // connected, opened the folder and read where to resume
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
      this.endSession = undefined;
    }
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
      this.operationFrom = performance.now();
      if (session.recheck()) {
        const reopened = await client.mailboxOpen(this.folder);
        session.rechecked(false);
        // UIDs were renumbered under this session: reconnect, and the resume point is set again.
        if (Number(reopened.uidValidity) !== uidvalidity) return;
      }
      await this.fetchNew(client, uidvalidity);
      await applyMailboxActions(this.deps, client, this.mailbox, this.folder, uidvalidity);
      this.observe('ok');
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

  /** Records the folder's new messages, keeping this watcher's figures. */
  private async fetchNew(client: ImapFlow, uidvalidity: number): Promise<void> {
    await fetchNewMessages(this.deps, client, this.opened(uidvalidity), {
      stopping: () => this.stopping,
      recorded: (arrivals) => {
        const now = this.deps.clock.now();
        this.status.recorded += arrivals.length;
        this.status.lagMs = Math.max(0, now - (arrivals.at(-1)?.receivedAt ?? now));
        this.deps.onRecorded?.(arrivals.length, this.mailbox.id);
      },
    });
  }

  private opened(uidvalidity: number): OpenFolder {
    return { mailbox: this.mailbox, folder: this.folder, uidvalidity };
  }
}
