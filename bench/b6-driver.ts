import { type DovecotInstance, startDovecot } from '../test/support/dovecot.js';
import type { PacedResult, ReconnectResult, StageBreakdown, SustainResult } from './b6-shared.js';
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
import { textMessage } from './lib/inbound-messages.js';
import { percentile } from './lib/stats.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B6's driver, pinned to core 1 by the parent: the private Dovecot (its processes are this
 * process's children and inherit the pinning), the IMAP appender (one kept connection; the
 * append time is when the server answered the APPEND), the webhook receiver and Facteur's API
 * client, so that append times and webhook arrivals come from one clock. One command per line on
 * stdin, one answer each.
 */

const FOLDER = 'INBOX';
/** APPEND connections of the sustained phase, and APPENDs waiting at most (about 2 s of mail at 50/s). */
const SUSTAIN_CONNECTIONS = 4;
const MAX_IN_FLIGHT = 100;
const receiver = new InboundReceiver(true);
const monitor = new UsageMonitor();
let dovecot: DovecotInstance;
let appender: Appender;
let link: FacteurLink | undefined;
let mailboxId = '';

type Command =
  | { cmd: 'setup'; url: string; key: string; dbPath: string; markSeen: boolean }
  | { cmd: 'paced'; tag: string; count: number; intervalMs: number; waitHooks: boolean }
  | { cmd: 'restart'; tag: string }
  | { cmd: 'sustain'; rate: number; seconds: number; sampleMs: number }
  | { cmd: 'teardown' }
  | { cmd: 'usage' }
  | { cmd: 'clock' }
  | { cmd: 'close' };

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what}: run setup first`);
  return value;
}

const subjectOf = (tag: string, i: number | string) => `b6 ${tag} ${i}`;

async function paced(
  tag: string,
  count: number,
  intervalMs: number,
  waitHooks: boolean,
): Promise<PacedResult> {
  const appendAt: number[] = [];
  const subjects: string[] = [];
  let late = 0;
  const start = now();
  for (let i = 0; i < count; i++) {
    const due = start + i * intervalMs;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    else if (i > 0) late++;
    const subject = subjectOf(tag, i);
    subjects.push(subject);
    const { at } = await appender.append(FOLDER, textMessage(subject, `${tag}.${i}.${process.pid}`));
    appendAt.push(at);
  }
  if (!waitHooks) return { appendAt, hookAt: subjects.map(() => null), late };
  await receiver.waitUntil(() => subjects.every((s) => receiver.arrivals.has(s)), 15_000 + count * 100);
  const hookAt = subjects.map((s) => receiver.arrivals.get(s) ?? null);
  return { appendAt, hookAt, late, stages: stages(subjects, appendAt, hookAt) };
}

function stages(
  subjects: string[],
  appendAt: number[],
  hookAt: Array<number | null>,
): StageBreakdown | undefined {
  if (!link) return undefined;
  const rows = link.db
    .prepare(
      `select m.subject, m.created_at as recorded, j.started_at as routeStart,
              (select min(a.started_at) from inbound_message_events e
                 join webhook_deliveries d on d.event_id = e.event_id
                 join webhook_attempts a on a.delivery_id = d.id
               where e.inbound_id = m.id) as attempt
       from inbound_messages m
       left join jobs j on j.queue = 'inbound.route' and json_extract(j.payload, '$.inboundId') = m.id
       where m.subject in (${subjects.map(() => '?').join(',')})`,
    )
    .all(...subjects) as Array<{
    subject: string;
    recorded: number;
    routeStart: number | null;
    attempt: number | null;
  }>;
  const bySubject = new Map(rows.map((r) => [r.subject, r]));
  const parts: Record<Exclude<keyof StageBreakdown, 'messages'>, number[]> = {
    appendToRecorded: [],
    recordedToRouteStart: [],
    routeToAttempt: [],
    attemptToReceived: [],
  };
  subjects.forEach((subject, i) => {
    const r = bySubject.get(subject);
    const hook = hookAt[i];
    if (!r || r.routeStart === null || r.attempt === null || !hook) return;
    parts.appendToRecorded.push(Number(r.recorded) - (appendAt[i] as number));
    parts.recordedToRouteStart.push(Number(r.routeStart) - Number(r.recorded));
    parts.routeToAttempt.push(Number(r.attempt) - Number(r.routeStart));
    parts.attemptToReceived.push(hook - Number(r.attempt));
  });
  const med = (values: number[]) => {
    const sorted = Float64Array.from(values).sort();
    return percentile(sorted, 0.5);
  };
  return {
    appendToRecorded: med(parts.appendToRecorded),
    recordedToRouteStart: med(parts.recordedToRouteStart),
    routeToAttempt: med(parts.routeToAttempt),
    attemptToReceived: med(parts.attemptToReceived),
    messages: parts.routeToAttempt.length,
  };
}

async function reconnect(tag: string): Promise<ReconnectResult> {
  const facteur = need(link, 'restart').api;
  appender.drop();
  const before = now();
  await dovecot.restart();
  const up = now();
  const subject = subjectOf(tag, 'after-restart');
  await appender.append(FOLDER, textMessage(subject, `${tag}.restart.${process.pid}`));
  let reconnectMs: number | null = null;
  let observedMs: number | null = null;
  let lastError: string | null = null;
  const deadline = up + 30_000;
  while (now() < deadline) {
    const watcher = await facteur.watcher(mailboxId);
    if (watcher?.lastError) lastError = `${watcher.lastError.code}: ${watcher.lastError.message}`;
    const since = watcher?.connectedSince ? Date.parse(watcher.connectedSince) : null;
    if (since !== null && since >= before) {
      observedMs = now() - up;
      reconnectMs = since - up;
      break;
    }
    await sleep(20);
  }
  await receiver.waitUntil(() => receiver.arrivals.has(subject), Math.max(0, deadline - now()));
  const hook = receiver.arrivals.get(subject);
  return { downMs: up - before, reconnectMs, observedMs, webhookMs: hook ? hook - up : null, lastError };
}

async function sustain(rate: number, seconds: number, sampleMs: number): Promise<SustainResult> {
  const database = need(link, 'sustain').db;
  receiver.reset();
  const total = Math.round(rate * seconds);
  const appendAt: Array<number | undefined> = new Array(total);
  let appended = 0;
  let failures = 0;
  let inFlight = 0;
  let slipped = 0;
  const pending: Array<Promise<void>> = [];
  const samples: SustainResult['samples'] = [];
  // Mail arrives over several connections at once (as from an MTA), so one slow APPEND does not hold the others.
  const appenders = Array.from(
    { length: SUSTAIN_CONNECTIONS },
    () => new Appender(() => dovecot.imapConfig()),
  );
  const dovecotCpuAtStart = descendantsCpuSeconds();
  const start = now();
  const end = start + seconds * 1000;
  let lastReport = start;
  const sample = () => {
    const { total: recorded, byState } = ledgerStates(database);
    const open = (byState.parsed ?? 0) + (byState.fetched ?? 0);
    const entry = {
      t: (now() - start) / 1000,
      appended,
      recorded,
      routed: recorded - open,
      delivered: receiver.arrivals.size,
      inFlight,
      dovecotCpuSeconds: descendantsCpuSeconds() - dovecotCpuAtStart,
    };
    samples.push(entry);
    if (now() - lastReport >= 60_000) {
      lastReport = now();
      // Plain stdout lines reach the parent's stderr (progress).
      process.stdout.write(`  sustained: ${JSON.stringify(entry)}\n`);
    }
  };
  const sampler = setInterval(sample, sampleMs);
  // Open loop at `rate`, but never more than MAX_IN_FLIGHT APPENDs waiting: past that the pace
  // slips (counted), and the phase ends after `seconds` whatever was appended.
  for (let i = 0; i < total && now() < end; i++) {
    const wait = start + (i * 1000) / rate - now();
    if (wait > 1) await sleep(wait);
    while (inFlight >= MAX_IN_FLIGHT && now() < end) {
      slipped++;
      await sleep(5);
    }
    if (now() >= end) break;
    inFlight++;
    const connection = appenders[i % appenders.length] as Appender;
    pending.push(
      connection.append(FOLDER, textMessage(subjectOf('sustain', i), `sustain.${i}.${process.pid}`)).then(
        ({ at }) => {
          appendAt[i] = at;
          appended++;
          inFlight--;
        },
        () => {
          failures++;
          inFlight--;
        },
      ),
    );
  }
  await Promise.all(pending);
  await Promise.all(appenders.map((a) => a.close()));
  const lastAppend = now();
  const appendSeconds = (lastAppend - start) / 1000;
  let drainSeconds: number | null = null;
  const drainDeadline = lastAppend + 120_000;
  while (now() < drainDeadline) {
    const { total: recorded } = ledgerStates(database);
    if (recorded >= appended && receiver.arrivals.size >= appended) {
      drainSeconds = (now() - lastAppend) / 1000;
      break;
    }
    await sleep(50);
  }
  clearInterval(sampler);
  sample();
  const lags = samples.map((s) => s.appended - s.recorded);
  const third = Math.max(1, Math.floor(lags.length / 3));
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  // Samples while appending only (the drain at the end would read as shrinking).
  const during = samples.filter((s) => s.t <= appendSeconds).map((s) => s.appended - s.recorded);
  const thirdDuring = Math.max(1, Math.floor(during.length / 3));
  const e2e: number[] = [];
  let missing = 0;
  for (let i = 0; i < total; i++) {
    const at = appendAt[i];
    if (at === undefined) continue;
    const hook = receiver.arrivals.get(subjectOf('sustain', i));
    if (hook === undefined) missing++;
    else e2e.push(hook - at);
  }
  const sorted = Float64Array.from(e2e).sort();
  return {
    rate,
    seconds,
    scheduled: total,
    appended,
    appendFailures: failures,
    appendRate: appended / appendSeconds,
    samples,
    slipped,
    maxLag: Math.max(0, ...lags),
    maxDeliveryLag: Math.max(0, ...samples.map((s) => s.appended - s.delivered)),
    lagGrowth:
      during.length >= 3
        ? mean(during.slice(-thirdDuring)) - mean(during.slice(0, thirdDuring))
        : mean(lags.slice(-third)) - mean(lags.slice(0, third)),
    drainSeconds,
    e2e: {
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
      missing,
    },
    ledger: ledgerStates(database).byState,
  };
}

async function teardown(): Promise<void> {
  await link?.close();
  link = undefined;
  receiver.reset();
}

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'setup': {
      await teardown();
      link = new FacteurLink(command);
      const { api } = link;
      const route = await api.routeEverythingTo(receiver.url);
      const mailbox = await api.createMailbox(dovecot.imapConfig(), FOLDER, {
        startFrom: 'new',
        afterHandled: { markSeen: command.markSeen },
      });
      mailboxId = mailbox.id;
      await api.waitForWatcher(mailboxId, 'idle', 30_000);
      return { ...route, mailboxId };
    }
    case 'paced':
      return paced(command.tag, command.count, command.intervalMs, command.waitHooks);
    case 'restart':
      return reconnect(command.tag);
    case 'sustain':
      return sustain(command.rate, command.seconds, command.sampleMs);
    case 'teardown':
      await teardown();
      return {};
    case 'usage':
      return { ...monitor.snapshot(), dovecotCpuSeconds: descendantsCpuSeconds() };
    case 'clock':
      return { now: now() };
    case 'close':
      await teardown();
      await appender.close();
      await dovecot.close();
      await receiver.close();
      return {};
  }
}

async function main(): Promise<void> {
  dovecot = await startDovecot();
  appender = new Appender(() => dovecot.imapConfig());
  // One message before anything watches, so that the folder exists and has a UID.
  await appender.append(FOLDER, textMessage('b6 seed', `seed.${process.pid}`));
  await receiver.start();
  report({ imap: dovecot.imapConfig(), folder: FOLDER });
  onParentMessage(async (message) => report(await handle(message as Command)));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
