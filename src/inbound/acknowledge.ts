import type { ImapFlow } from 'imapflow';
import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import type { Logger } from '../core/observability/index.js';
import { replaceForbiddenChars } from '../core/text.js';
import { markAcksDone, markAcksStale, noteAckError, pendingAcks } from './folder-store.js';
import { imapError } from './imap.js';
import type { Mailbox } from './mailboxes.js';

/**
 * The mailbox action (mark seen, add a flag, move) on handled messages, and only on them: a
 * message whose deliveries have not all succeeded stays `waiting` and untouched on the server,
 * so a person looking at the mailbox sees it unread. Runs on the watcher's own connection.
 */

const ACK_BATCH = 500;

/** Applies the mailbox action to this folder's handled messages; their rows move to done (delivered ones to acknowledged). */
export async function applyMailboxActions(
  deps: { store: Store; clock: Clock; logger: Logger },
  client: ImapFlow,
  mailbox: Mailbox,
  folder: string,
  uidvalidity: number,
): Promise<void> {
  const { store, clock } = deps;
  for (;;) {
    const rows = await pendingAcks(store.db, mailbox.id, folder, ACK_BATCH);
    if (rows.length === 0) return;
    const current = rows.filter((r) => Number(r.uidvalidity) === uidvalidity && r.uid !== null);
    const stale = rows.filter((r) => !current.includes(r)).map((r) => r.id);
    let error: string | null = null;
    if (current.length > 0) {
      try {
        await act(client, mailbox, current.map((r) => Number(r.uid)).join(','));
      } catch (thrown) {
        // The server's words, kept in a text column: no NUL may reach PostgreSQL from them.
        error = replaceForbiddenChars(
          imapError(thrown, `applying the mailbox action in ${folder}`).message,
        ).text;
      }
    }
    const now = clock.now();
    await store.transaction(async (tx) => {
      await markAcksStale(tx, stale, now);
      const ids = current.map((r) => r.id);
      if (error) await noteAckError(tx, ids, error, now);
      else await markAcksDone(tx, ids, now);
    });
    if (error) {
      deps.logger.warn(
        { event: 'watcher.ack_failed', mailboxId: mailbox.id, folder, err: error },
        'mailbox action failed; retried on the next cycle',
      );
      return;
    }
    if (rows.length < ACK_BATCH) return;
  }
}

async function act(client: ImapFlow, mailbox: Mailbox, uids: string): Promise<void> {
  const { markSeen, addFlag, moveTo } = mailbox.settings.afterHandled;
  if (markSeen) await client.messageFlagsAdd(uids, ['\\Seen'], { uid: true });
  if (addFlag) await client.messageFlagsAdd(uids, [addFlag], { uid: true });
  if (moveTo) await client.messageMove(uids, moveTo, { uid: true });
}
