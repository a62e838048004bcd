import SqliteDatabase from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import type { RecordCheck, SinkEvent, SinkTally } from './b1-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B1's sink (pinned to core 1 by the parent): an smtp-server on 127.0.0.1 that accepts
 * everything (no AUTH, no STARTTLS, no reverse lookup) and counts the messages and their bytes.
 * Measured messages are those to `m<i>@`; the sink reports (unsolicited) `first` at the end of
 * DATA of the first one and `done` with its tally once it has every one of them, so that both
 * systems are timed the same way, here. It also reads Facteur's SQLite file (read-only) after a
 * drain to check that every send was recorded.
 *
 * Commands: `{cmd: 'reset', measured}` (a new run), `{cmd: 'usage'}`,
 * `{cmd: 'recorded', dbPath, expected, timeoutMs}`.
 */

const now = (): number => performance.timeOrigin + performance.now();
const monitor = new UsageMonitor();

let expected = 0;
let seen = new Uint8Array(0);
let measured = 0;
let duplicates = 0;
let warmup = 0;
let measuredBytes = 0;
let firstAt = 0;
let lastAt = 0;
let connections = 0;
let done = false;

function reset(count: number): void {
  expected = count;
  seen = new Uint8Array(count);
  measured = duplicates = warmup = measuredBytes = firstAt = lastAt = connections = 0;
  done = false;
}

function event(name: SinkEvent['event']): SinkEvent {
  return { event: name, at: now(), cpuSeconds: monitor.snapshot().cpuSeconds };
}

function received(to: string, bytes: number): void {
  if (to.startsWith('w')) {
    warmup++;
    return;
  }
  if (!to.startsWith('m')) return;
  const index = Number.parseInt(to.slice(1), 10);
  if (!(index >= 0 && index < expected)) return;
  if (seen[index] === 1) {
    duplicates++;
    return;
  }
  seen[index] = 1;
  const at = now();
  measured++;
  measuredBytes += bytes;
  if (measured === 1) {
    firstAt = at;
    report(event('first'));
  }
  lastAt = at;
  if (measured === expected && !done) {
    done = true;
    const tally: SinkTally = {
      ...event('done'),
      measured,
      duplicates,
      warmup,
      measuredBytes,
      firstAt,
      lastAt,
      connections,
    };
    report(tally);
  }
}

const server = new SMTPServer({
  disabledCommands: ['AUTH', 'STARTTLS'],
  authOptional: true,
  disableReverseLookup: true,
  logger: false,
  banner: 'B1 sink',
  onConnect(_session, callback) {
    connections++;
    callback();
  },
  onData(stream, session, callback) {
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    stream.on('end', () => {
      for (const rcpt of session.envelope.rcptTo) received(rcpt.address, bytes);
      callback();
    });
  },
});
server.on('error', (error) => process.stderr.write(`sink: ${String(error)}\n`));

function countBy(db: SqliteDatabase.Database, sql: string): Record<string, number> {
  const rows = db.prepare(sql).all() as Array<{ k: string; n: number }>;
  return Object.fromEntries(rows.map((r) => [r.k, r.n]));
}

/** Polls Facteur's database until `expected` messages are `sent`, then counts messages and attempts. */
async function recorded(dbPath: string, expectedSent: number, timeoutMs: number): Promise<RecordCheck> {
  const db = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const sent = db.prepare("select count(*) as n from messages where status = 'sent'");
    const deadline = now() + timeoutMs;
    let recordedAt: number | null = null;
    for (;;) {
      if ((sent.get() as { n: number }).n >= expectedSent) {
        recordedAt = now();
        break;
      }
      if (now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const byStatus = countBy(db, 'select status as k, count(*) as n from messages group by status');
    const attemptsByOutcome = countBy(
      db,
      'select outcome as k, count(*) as n from message_attempts group by outcome',
    );
    const notOne = db.prepare('select count(*) as n from messages where attempt_count <> 1').get() as {
      n: number;
    };
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
    return {
      recordedAt,
      messages: sum(byStatus),
      byStatus,
      attempts: sum(attemptsByOutcome),
      attemptsByOutcome,
      attemptCountNotOne: notOne.n,
    };
  } finally {
    db.close();
  }
}

server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  onParentMessage(async (message) => {
    const m = message as {
      cmd: string;
      measured?: number;
      dbPath?: string;
      expected?: number;
      timeoutMs?: number;
    };
    if (m.cmd === 'reset') {
      reset(m.measured ?? 0);
      report({ ok: true });
    }
    if (m.cmd === 'usage') report(monitor.snapshot());
    if (m.cmd === 'recorded') report(await recorded(m.dbPath ?? '', m.expected ?? 0, m.timeoutMs ?? 60_000));
  });
  report({ port });
});
