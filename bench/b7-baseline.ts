import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import type { DovecotImapConfig } from '../test/support/dovecot.js';
import { onParentMessage, report } from './lib/child.js';
import { now } from './lib/inbound.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B7's baseline (core 0): a raw imapflow client fetches every message of the folder in one
 * `FETCH 1:* (UID BODY[])` stream and parses each with mailparser's `simpleParser` (default
 * options: attachments buffered, text rendered from HTML-only messages) before taking the next:
 * one message at a time, nothing stored, no rules. On `{cmd: 'run'}` it connects, reads the
 * folder and answers with the count, the time from before connecting to the last parse, its
 * CPU, peak RSS and event-loop stall (same sampling as Facteur's child).
 *
 * usage: b7-baseline.ts '<imap config JSON>' <folder>
 */

const ELD_RESOLUTION_MS = 5;

/** What one baseline run measured. */
export interface BaselineRun {
  messages: number;
  bytes: number;
  attachments: number;
  seconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  involuntarySwitches: number;
  maxStallMs: number;
}

async function run(config: DovecotImapConfig, folder: string, monitor: UsageMonitor): Promise<BaselineRun> {
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  monitor.resetPeak();
  const before = monitor.snapshot();
  eld.enable();
  const started = now();
  const client = new ImapFlow({ ...config, disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen(folder);
  let messages = 0;
  let bytes = 0;
  let attachments = 0;
  for await (const message of client.fetch('1:*', { uid: true, source: true })) {
    if (!message.source) continue;
    const parsed = await simpleParser(message.source);
    messages++;
    bytes += message.source.length;
    attachments += parsed.attachments.length;
  }
  const seconds = (now() - started) / 1000;
  eld.disable();
  await client.logout();
  const after = monitor.snapshot();
  return {
    messages,
    bytes,
    attachments,
    seconds,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    peakRssBytes: after.peakRssBytes,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
    maxStallMs: Math.max(0, eld.max / 1e6 - ELD_RESOLUTION_MS),
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] as string) as DovecotImapConfig;
  const folder = process.argv[3] ?? 'INBOX';
  const monitor = new UsageMonitor();
  report({ ready: true });
  onParentMessage(async (message) => {
    const { cmd } = message as { cmd: string };
    if (cmd === 'run') report(await run(config, folder, monitor));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
