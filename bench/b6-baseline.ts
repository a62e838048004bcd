import { ImapFlow } from 'imapflow';
import type { DovecotImapConfig } from '../test/support/dovecot.js';
import { onParentMessage, report } from './lib/child.js';
import { now } from './lib/inbound.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B6's baseline (core 0): Dovecot's floor. A raw imapflow client with automatic IDLE off that
 * selects the folder and enters IDLE itself at once; on each EXISTS notice it notes the time
 * and the message count, then re-enters IDLE at once (a NOOP ends the IDLE, then IDLE again, as
 * Facteur's watcher does after its fetch). It fetches nothing. Answers `reset` (clears the
 * notices; returns the folder's message count), `notices`, `clock` and `usage`.
 *
 * usage: b6-baseline.ts '<imap config JSON>' <folder>
 */

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] as string) as DovecotImapConfig;
  const folder = process.argv[3] ?? 'INBOX';
  const monitor = new UsageMonitor();
  const client = new ImapFlow({ ...config, disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen(folder);
  let notices: Array<[number, number]> = [];
  let busy = false;
  client.on('exists', (event: { count: number }) => {
    notices.push([now(), event.count]);
    if (busy) return;
    busy = true;
    void client
      .noop()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
        void client.idle().catch(() => undefined);
      });
  });
  void client.idle().catch(() => undefined);
  report({ ready: true, count: client.mailbox ? client.mailbox.exists : 0 });
  onParentMessage((message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'reset') {
      notices = [];
      report({ count: client.mailbox ? client.mailbox.exists : 0 });
    }
    if (cmd === 'notices') report(notices);
    if (cmd === 'clock') report({ now: now() });
    if (cmd === 'usage') report(monitor.snapshot());
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
