import { ImapFlow } from 'imapflow';
import { type DovecotInstance, startDovecot } from '../test/support/dovecot.js';
import { onParentMessage, report } from './lib/child.js';
import {
  Appender,
  descendantsCpuSeconds,
  FacteurLink,
  InboundReceiver,
  ledgerStates,
  now,
  sleep,
} from './lib/inbound.js';
import { kindOf, type MessageKind, messageOf } from './lib/inbound-messages.js';
import { UsageMonitor, type UsageSnapshot } from './lib/usage.js';

/**
 * B7's driver, pinned to core 1 by the parent: the private Dovecot (its processes inherit the
 * pinning) holding the backlog folder, built once and reused by every round; the webhook
 * receiver (answers 200 at once, counts); Facteur's API client; read-only polls of Facteur's
 * ledger. One command per line on stdin, one answer each.
 */

const FOLDER = 'Backlog';
const receiver = new InboundReceiver(false);
const monitor = new UsageMonitor();
let dovecot: DovecotInstance;
let link: FacteurLink | undefined;
let holdDeliveries = false;

/** What building the backlog did. */
export interface BuildResult {
  messages: number;
  bytes: number;
  byKind: Record<MessageKind, { count: number; bytes: number }>;
  seconds: number;
}

/** One Facteur ingestion of the backlog, times in epoch ms (driver clock). */
export interface IngestResult {
  messages: number;
  /** Just before POST /api/mailboxes. */
  startedAt: number;
  firstRowAt: number | null;
  /** First poll that saw every message in the ledger. */
  recordedAt: number | null;
  /** First poll that saw every message in the ledger and none left `parsed` (every route result written). */
  routedAt: number | null;
  /** When the receiver had a webhook for every message (null with deliveries held). */
  deliveredAt: number | null;
  states: Record<string, number>;
  webhooks: number;
  dovecotCpuSeconds: number;
  driverCpuSeconds: number;
}

type Command =
  | { cmd: 'build'; messages: number; connections: number }
  | { cmd: 'warm' }
  | { cmd: 'setup'; url: string; key: string; dbPath: string; deliveries: boolean }
  | { cmd: 'ingest'; messages: number; timeoutMs: number; pollMs: number }
  | { cmd: 'teardown' }
  | { cmd: 'usage' }
  | { cmd: 'close' };

async function build(messages: number, connections: number): Promise<BuildResult> {
  const started = now();
  const byKind: BuildResult['byKind'] = {
    text: { count: 0, bytes: 0 },
    html: { count: 0, bytes: 0 },
    attachment: { count: 0, bytes: 0 },
  };
  const appenders = Array.from({ length: connections }, () => new Appender(() => dovecot.imapConfig()));
  await appenders[0]?.ensureFolder(FOLDER);
  let next = 0;
  // UIDs follow the order APPENDs complete in, not seq; the mix is the same either way.
  await Promise.all(
    appenders.map(async (appender) => {
      while (next < messages) {
        const seq = next++;
        const kind = kindOf(seq);
        const raw = messageOf(kind, `b7 ${kind} ${seq}`, `b7.${seq}.${kind}`);
        byKind[kind].count++;
        byKind[kind].bytes += raw.length;
        await appender.append(FOLDER, raw);
      }
      await appender.close();
    }),
  );
  const bytes = Object.values(byKind).reduce((n, k) => n + k.bytes, 0);
  return { messages, bytes, byKind, seconds: (now() - started) / 1000 };
}

/** Reads every message once (Dovecot's indexes and the page cache warm, as for a mailbox in use). */
async function warm(): Promise<{ messages: number; seconds: number }> {
  const started = now();
  const client = new ImapFlow({ ...dovecot.imapConfig(), disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen(FOLDER);
  let messages = 0;
  for await (const message of client.fetch('1:*', { uid: true, source: true })) {
    if (message.source) messages++;
  }
  await client.logout();
  return { messages, seconds: (now() - started) / 1000 };
}

async function ingest(messages: number, timeoutMs: number, pollMs: number): Promise<IngestResult> {
  if (!link) throw new Error('ingest: run setup first');
  const { api, db } = link;
  receiver.reset();
  const before = { dovecot: descendantsCpuSeconds(), driver: monitor.snapshot().cpuSeconds };
  const startedAt = now();
  await api.createMailbox(dovecot.imapConfig(), FOLDER, {
    startFrom: 'all',
    // The backlog stays as built (no \Seen flags), so every round reads the same folder.
    afterHandled: { markSeen: false },
  });
  const deadline = startedAt + timeoutMs;
  let firstRowAt: number | null = null;
  let recordedAt: number | null = null;
  let routedAt: number | null = null;
  let deliveredAt: number | null = null;
  let states: Record<string, number> = {};
  while (now() < deadline) {
    const at = now();
    if (routedAt === null) {
      const ledger = ledgerStates(db);
      states = ledger.byState;
      if (firstRowAt === null && ledger.total > 0) firstRowAt = at;
      if (recordedAt === null && ledger.total >= messages) recordedAt = at;
      if (ledger.total >= messages && (ledger.byState.parsed ?? 0) === 0) routedAt = at;
    }
    if (deliveredAt === null && receiver.ids.size >= messages) deliveredAt = now();
    if (routedAt !== null && (deliveredAt !== null || holdDeliveries)) break;
    await sleep(pollMs);
  }
  states = ledgerStates(db).byState;
  return {
    messages,
    startedAt,
    firstRowAt,
    recordedAt,
    routedAt,
    deliveredAt,
    states,
    webhooks: receiver.ids.size,
    dovecotCpuSeconds: descendantsCpuSeconds() - before.dovecot,
    driverCpuSeconds: monitor.snapshot().cpuSeconds - before.driver,
  };
}

async function teardown(): Promise<void> {
  await link?.close();
  link = undefined;
  receiver.reset();
}

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'build':
      return build(command.messages, command.connections);
    case 'warm':
      return warm();
    case 'setup': {
      await teardown();
      link = new FacteurLink(command);
      const { api } = link;
      const route = await api.routeEverythingTo(receiver.url);
      // Deliveries off: the endpoint is paused, so each route result queues its delivery as held.
      holdDeliveries = !command.deliveries;
      if (holdDeliveries) await api.call('POST', `/endpoints/${route.endpointId}/pause`);
      return route;
    }
    case 'ingest':
      return ingest(command.messages, command.timeoutMs, command.pollMs);
    case 'teardown':
      await teardown();
      return {};
    case 'usage':
      return { ...monitor.snapshot(), dovecotCpuSeconds: descendantsCpuSeconds() } satisfies UsageSnapshot & {
        dovecotCpuSeconds: number;
      };
    case 'close':
      await teardown();
      await dovecot.close();
      await receiver.close();
      return {};
  }
}

async function main(): Promise<void> {
  dovecot = await startDovecot();
  await receiver.start();
  report({ imap: dovecot.imapConfig(), folder: FOLDER });
  onParentMessage(async (message) => report(await handle(message as Command)));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
