import { createHash } from 'node:crypto';
import type { ImapFlow } from 'imapflow';
import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import type { Logger } from '../core/observability/index.js';
import { arrivalFromRaw, type ParseLike, readFeedback } from './arrival.js';
import { folderCursor, lastReceivedAt, saveFolderCursor } from './folder-store.js';
import { type Arrival, recordArrivals } from './ledger.js';
import { mailboxPurpose } from './mailbox-model.js';
import type { Mailbox } from './mailboxes.js';

/**
 * What a watcher does with an open folder: set its resume point, then record every message from
 * there on, batch by batch, each batch in one transaction with the resume point moved past it.
 */

/** What fetching needs of its watcher. */
export interface FolderFetchDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  parser: ParseLike;
}

/** An open folder: its mailbox, name and UIDVALIDITY. */
export interface OpenFolder {
  mailbox: Mailbox;
  folder: string;
  uidvalidity: number;
}

/** Messages and bytes fetched and recorded per transaction. */
const BATCH_MESSAGES = 100;
const BATCH_BYTES = 16 * 1024 * 1024;

/** Reads (or sets, on first connection and after a UIDVALIDITY change) the folder's resume point. */
export async function setResumePoint(
  deps: FolderFetchDeps,
  client: ImapFlow,
  open: OpenFolder,
  uidNext: number,
): Promise<void> {
  const { store, clock, logger } = deps;
  const { mailbox, folder, uidvalidity } = open;
  const cursor = await folderCursor(store.db, mailbox.id, folder);
  if (cursor && cursor.uidvalidity === uidvalidity) return;
  let since: Date | null = null;
  const start = mailbox.settings.startFrom;
  if (cursor) {
    // UIDs were renumbered: look again from a day before the last message recorded here;
    // the ones already handled are recognised by Message-ID and content and skipped.
    const last = await lastReceivedAt(store.db, mailbox.id, folder);
    since = last !== null ? new Date(last - 86_400_000) : new Date(0);
    logger.warn(
      {
        event: 'watcher.uidvalidity_changed',
        mailboxId: mailbox.id,
        folder,
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
    saveFolderCursor(tx, { mailboxId: mailbox.id, folder, uidvalidity, nextUid }, clock.now()),
  );
}

/**
 * Fetches and records every message from the resume point on, in UID order, batch by batch;
 * `recorded` hears of each batch once committed. Stops between batches when `stopping` says so.
 */
export async function fetchNewMessages(
  deps: FolderFetchDeps,
  client: ImapFlow,
  open: OpenFolder,
  hooks: { stopping(): boolean; recorded(arrivals: Arrival[]): void },
): Promise<void> {
  const { store, clock } = deps;
  const { mailbox, folder, uidvalidity } = open;
  const cursor = await folderCursor(store.db, mailbox.id, folder);
  if (!cursor) return;
  const metas = (
    await client.fetchAll(`${cursor.nextUid}:*`, { uid: true, size: true, internalDate: true }, { uid: true })
  )
    .filter((m) => m.uid >= cursor.nextUid)
    .sort((a, b) => a.uid - b.uid);
  const maxBytes = mailbox.settings.maxMessageMb * 1024 * 1024;
  const bounces = mailboxPurpose(mailbox.settings) === 'bounces';
  for (let start = 0; start < metas.length && !hooks.stopping(); ) {
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
    const sources = await fetchSources(
      client,
      batch.filter((m) => (m.size ?? 0) <= maxBytes).map((m) => m.uid),
    );
    const reports = bounces ? await readFeedback(sources) : undefined;
    const arrivals = await Promise.all(
      batch.map((meta) => {
        const receivedAt = meta.internalDate ? new Date(meta.internalDate).getTime() : clock.now();
        const imap = { folder, uidvalidity, uid: meta.uid };
        const raw = sources.get(meta.uid);
        if (!raw) return tooLarge(mailbox.id, imap, meta.size ?? 0, maxBytes, receivedAt);
        return arrivalFromRaw(
          deps.parser,
          raw,
          { source: 'imap', mailboxId: mailbox.id, imap, receivedAt },
          { feedback: reports?.get(meta.uid) },
        );
      }),
    );
    const last = batch.at(-1)?.uid as number;
    await store.groupTransaction(async (tx) => {
      await recordArrivals(tx, arrivals, clock.now());
      await saveFolderCursor(
        tx,
        { mailboxId: mailbox.id, folder, uidvalidity, nextUid: last + 1 },
        clock.now(),
      );
    });
    hooks.recorded(arrivals);
  }
}

async function fetchSources(client: ImapFlow, uids: number[]): Promise<Map<number, Buffer>> {
  const sources = new Map<number, Buffer>();
  if (uids.length === 0) return sources;
  for await (const message of client.fetch(uids.join(','), { uid: true, source: true }, { uid: true })) {
    if (message.source) sources.set(message.uid, message.source);
  }
  return sources;
}

/** A message over the size limit: recorded (fetched, with the error), never downloaded. */
function tooLarge(
  mailboxId: string,
  imap: { folder: string; uidvalidity: number; uid: number },
  size: number,
  maxBytes: number,
  receivedAt: number,
): Arrival {
  return {
    source: 'imap',
    mailboxId,
    imap,
    contentHash: createHash('sha256')
      .update(`too-large:${mailboxId}:${imap.folder}:${imap.uidvalidity}:${imap.uid}`)
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
