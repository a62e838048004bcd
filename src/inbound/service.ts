import type { Registry } from 'prom-client';
import { parseDsn } from '../campaigns/index.js';
import type { Clock } from '../core/clock.js';
import type { Store, Tx } from '../core/db/index.js';
import { uuidv7 } from '../core/ids.js';
import { type LeaseIdentity, leaseIdentity } from '../core/instance.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import type { ComponentHealth, Logger, ObserveDependency } from '../core/observability/index.js';
import type { RuleStore } from '../rules/index.js';
import { deliveriesOfEvents, eventOfDelivery, type Webhooks } from '../webhooks/index.js';
import { appsScriptIdentity, emailFromAppsScript } from './apps-script.js';
import { arrivalFromRaw } from './arrival.js';
import { OAuthTokens } from './imap.js';
import { ACK_READY_CHANNEL, type Arrival, type Recorded, recordArrivals } from './ledger.js';
import { mailboxPurpose } from './mailbox-model.js';
import { MAILBOXES_CHANNEL, type Mailbox, MailboxRegistry } from './mailboxes.js';
import { InboundMetrics } from './metrics.js';
import { ParsePool } from './parse-pool.js';
import { eventsOfMessage, markLedgerDelivered, messagesOfEvent } from './store.js';
import { FolderWatcher, type WatcherStatus } from './watcher.js';

/**
 * The inbound module's front: mailboxes and their watchers, HTTP ingestion, the mailbox cache
 * routing reads (the route queue itself is `routeQueue`, jobs.ts), and the link back from webhook deliveries to the messages that raised them. The composition
 * root makes one; routes use it.
 */

export interface InboundOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  secretKey: Buffer;
  metrics?: Registry;
  webhooks: Webhooks;
  rules: RuleStore;
  /** Parser worker threads (0: parse on the main thread). */
  parseWorkers: number;
  /** Whether this process runs mailbox watchers (default true). */
  watch?: boolean;
  /**
   * This instance's id (`stableInstanceId`); default a random id. Give one that survives a
   * restart, so that a process restarted after a crash takes its watchers' leases back at once
   * (they are held by an earlier run of the same instance) instead of waiting for them to expire.
   */
  instanceId?: string;
  /** The SSRF guard for IMAP hosts and OAuth token URLs, on save and on connect. */
  guard: TargetGuard;
  /** The engine's `runDeferredNow`, for routing that waited on a mailbox schedule just changed. */
  resumeDeferred?: (queue: string, errorCode: string) => Promise<unknown>;
  /** Gets one sample per IMAP operation of the watchers (dependency watching). */
  observe?: ObserveDependency;
}

/** A watcher that has not succeeded for this long reads as down in /readyz. */
const DOWN_AFTER_MS = 60_000;

export class Inbound {
  readonly mailboxes: MailboxRegistry;
  readonly parser: ParsePool;
  private readonly tokens: OAuthTokens;
  private readonly watchers = new Map<string, FolderWatcher>();
  private readonly identity: LeaseIdentity;
  private readonly metrics: InboundMetrics | undefined;
  private unsubscribe: (() => void) | undefined;
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: InboundOptions) {
    const { store, clock, logger } = options;
    this.identity = leaseIdentity(options.instanceId ?? uuidv7());
    this.mailboxes = new MailboxRegistry({
      store,
      clock,
      logger,
      secretKey: options.secretKey,
      guard: options.guard,
      ...(options.resumeDeferred ? { resumeDeferred: options.resumeDeferred } : {}),
    });
    this.parser = new ParsePool({ workers: options.parseWorkers });
    this.tokens = new OAuthTokens(() => clock.now(), options.guard);
    this.metrics = options.metrics ? new InboundMetrics(options.metrics, () => this.statuses()) : undefined;
    options.webhooks.onDeliverySucceeded((tx, deliveryId, now) =>
      this.noteDeliverySucceeded(tx, deliveryId, now),
    );
  }

  /**
   * A mailbox as routing reads it (schedule, allowlist; the `mailbox` of `routeQueue`): from
   * memory, forgotten whenever any instance changes a mailbox, so each message does not cost a
   * read and an unseal.
   */
  routingMailbox(id: string): Promise<Mailbox | undefined> {
    return this.mailboxes.get(id);
  }

  get store(): Store {
    return this.options.store;
  }

  get clock(): Clock {
    return this.options.clock;
  }

  get rules(): RuleStore {
    return this.options.rules;
  }

  get webhooks(): Webhooks {
    return this.options.webhooks;
  }

  /** Starts a watcher for every watched folder of every active mailbox, and follows changes. */
  async start(): Promise<void> {
    if (this.options.watch === false) return;
    const unsubscribeMailboxes = this.options.store.subscribe(MAILBOXES_CHANNEL, () => {
      this.reconciling = this.reconciling.then(() => this.reconcile()).catch(() => undefined);
    });
    const unsubscribeAcks = this.options.store.subscribe(ACK_READY_CHANNEL, (mailboxId) =>
      this.signalMailbox(mailboxId),
    );
    this.unsubscribe = () => {
      unsubscribeMailboxes();
      unsubscribeAcks();
    };
    await this.reconcile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.mailboxes.close();
    await this.reconciling;
    await Promise.all([...this.watchers.values()].map((w) => w.stop()));
    this.watchers.clear();
    await this.parser.close();
    await this.tokens.close();
  }

  /** Brings the running watchers in line with the mailboxes: new, changed, paused, deleted. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, Mailbox>();
    for (const mailbox of await this.mailboxes.list()) {
      if (mailbox.status !== 'active') continue;
      for (const folder of mailbox.settings.folders) wanted.set(`${mailbox.id}\n${folder}`, mailbox);
    }
    for (const [key, watcher] of this.watchers) {
      const mailbox = wanted.get(key);
      if (mailbox && mailbox.updatedAt === watcher.mailbox.updatedAt) continue;
      this.watchers.delete(key);
      await watcher.stop();
    }
    for (const [key, mailbox] of wanted) {
      if (this.watchers.has(key) || this.stopped) continue;
      const watcher = new FolderWatcher(
        {
          store: this.options.store,
          clock: this.options.clock,
          logger: this.options.logger,
          tokens: this.tokens,
          guard: this.options.guard,
          parser: this.parser,
          identity: this.identity,
          onRecorded: (count) => this.metrics?.recorded(count, 'imap'),
          ...(this.options.observe ? { observe: this.options.observe } : {}),
        },
        mailbox,
        key.slice(key.indexOf('\n') + 1),
      );
      this.watchers.set(key, watcher);
      watcher.start();
    }
  }

  /** Wakes the watchers of a mailbox (handled messages wait for the mailbox action). */
  signalMailbox(mailboxId: string): void {
    for (const watcher of this.watchers.values()) if (watcher.mailbox.id === mailboxId) watcher.signal();
  }

  /** Every watcher's report. */
  statuses(): WatcherStatus[] {
    return [...this.watchers.values()].map((w) => w.report());
  }

  /** Records a raw RFC 822 message pushed over HTTP; resolves once it is durably in the ledger. */
  async ingestRaw(raw: Buffer, mailboxId: string | null): Promise<Recorded> {
    const arrival = await arrivalFromRaw(
      this.parser,
      raw,
      { source: 'raw', mailboxId, imap: null, receivedAt: this.options.clock.now() },
      (await this.isBounceMailbox(mailboxId)) ? { feedback: parseDsn(raw) } : {},
    );
    return this.record(arrival);
  }

  /** Whether `mailboxId` names a bounce mailbox (`purpose: "bounces"`). */
  private async isBounceMailbox(mailboxId: string | null): Promise<boolean> {
    const mailbox = mailboxId === null ? undefined : await this.mailboxes.get(mailboxId);
    return mailbox !== undefined && mailboxPurpose(mailbox.settings) === 'bounces';
  }

  /** Records a message pushed by the Gmail Apps Script; resolves once it is durably in the ledger. */
  async ingestAppsScript(
    payload: Parameters<typeof emailFromAppsScript>[0],
    mailboxId: string | null,
  ): Promise<Recorded> {
    const email = emailFromAppsScript(payload);
    const receivedAt = email.date ? Date.parse(email.date) : this.options.clock.now();
    return this.record({
      source: 'gmail',
      mailboxId,
      imap: null,
      contentHash: appsScriptIdentity(payload),
      receivedAt: Number.isFinite(receivedAt) ? receivedAt : this.options.clock.now(),
      size: email.size,
      // A push carries the HTML body only, never a report's parts: in a bounce mailbox it reports nothing.
      ...((await this.isBounceMailbox(mailboxId)) ? { feedback: [] } : {}),
      parsed: { ok: true, email },
    });
  }

  private async record(arrival: Arrival): Promise<Recorded> {
    const [recorded] = await this.options.store.groupTransaction((tx) =>
      recordArrivals(tx, [arrival], this.options.clock.now()),
    );
    this.metrics?.recorded(1, arrival.source);
    return recorded as Recorded;
  }

  /**
   * In the settlement transaction of a delivery that succeeded: when every delivery of the
   * message that raised it has succeeded, the message is delivered and its mailbox action may run.
   */
  private async noteDeliverySucceeded(tx: Tx, deliveryId: string, now: number): Promise<void> {
    const eventId = await eventOfDelivery(tx.db, deliveryId);
    if (eventId === undefined) return;
    for (const inboundId of await messagesOfEvent(tx.db, eventId)) {
      const deliveries = await deliveriesOfEvents(tx.db, await eventsOfMessage(tx.db, inboundId));
      if (deliveries.some((d) => d.status !== 'succeeded')) continue;
      const updated = await markLedgerDelivered(tx, inboundId, now);
      if (updated?.mailbox_id && updated.ack_state === 'pending')
        tx.notify(ACK_READY_CHANNEL, updated.mailbox_id);
    }
  }

  /** /readyz: each watcher's state; down when one has not succeeded for a minute. */
  health(): ComponentHealth {
    const statuses = this.statuses();
    const now = this.options.clock.now();
    const failing = statuses.filter(
      (s) =>
        s.state !== 'standby' &&
        (s.lastSuccessAt === null
          ? s.lastError !== null
          : now - s.lastSuccessAt > DOWN_AFTER_MS && s.state !== 'idle' && s.state !== 'polling'),
    );
    const lastError =
      statuses
        .map((s) => s.lastError)
        .filter((e) => e !== null)
        .sort((a, b) => b.at - a.at)[0] ?? null;
    const lastSuccessAt = statuses.reduce<number | null>(
      (max, s) =>
        s.lastSuccessAt !== null && (max === null || s.lastSuccessAt > max) ? s.lastSuccessAt : max,
      null,
    );
    return {
      status: failing.length === 0 ? 'ok' : failing.length === statuses.length ? 'down' : 'degraded',
      ...(failing.length > 0
        ? {
            message: `${failing.map((s) => `${s.mailbox}/${s.folder}`).join(', ')}: ${failing[0]?.lastError?.message ?? 'not connected'}`,
          }
        : {}),
      lastError: lastError ? { message: `${lastError.code}: ${lastError.message}`, at: lastError.at } : null,
      lastSuccessAt,
      detail: { watchers: statuses },
    };
  }
}
