import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { type B2Spec, FROM, type PlannedMessage } from './b2-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B2's baseline (pinned to core 0 by the parent): the naive scheduler such apps write by hand,
 * a loop that wakes every second, takes up to `rate` due messages (transactional first, oldest
 * first, and no more than the hour has left) from its SQLite table and sends them through a
 * nodemailer pool with Facteur's transport options, marking each `sent` once the server took
 * it. Durable like Facteur (WAL, the run's `synchronous`), so a kill -9 loses nothing but
 * repeats what was in flight. The parent kills and restarts it at the same points as Facteur.
 *
 * usage: b2-baseline.ts <dir> <port> <B2Spec JSON> <startAt> <full|normal>
 * On the first start it loads `<dir>/plan.json`. Commands: `status`.
 */

const [dir, port, specJson, startAtRaw, sync] = process.argv.slice(2);
if (!dir || !port || !specJson || !startAtRaw || !sync)
  throw new Error('usage: b2-baseline.ts <dir> <port> <spec> <startAt> <sync>');
const spec = JSON.parse(specJson) as B2Spec;
const startAt = Number(startAtRaw);
const monitor = new UsageMonitor();

const path = join(dir, 'baseline.db');
const fresh = !existsSync(path);
const db = new SqliteDatabase(path);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.pragma('busy_timeout = 5000');
if (fresh) {
  db.exec(`create table messages (key text primary key, bulk integer not null, run_at integer not null,
    status text not null, sent_at integer);
    create index due on messages (status, bulk, run_at);
    create table hours (start integer primary key, count integer not null);`);
  const planned = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as PlannedMessage[];
  const insert = db.prepare("insert into messages (key, bulk, run_at, status) values (?, ?, ?, 'queued')");
  db.transaction(() => {
    for (const m of planned) insert.run(m.key, m.bulk ? 1 : 0, startAt + m.offsetMs);
  })();
}
const due = db.prepare(
  "select key from messages where status = 'queued' and run_at <= ? order by bulk, run_at, key limit ?",
);
const markSent = db.prepare("update messages set status = 'sent', sent_at = ? where key = ?");
const countHour = db.prepare(
  'insert into hours (start, count) values (?, 1) on conflict (start) do update set count = count + 1',
);
const hourCount = db.prepare('select count from hours where start = ?');

// What Facteur's SmtpTransport passes for smtp://127.0.0.1:PORT?starttls=off.
const transporter = nodemailer.createTransport({
  pool: true,
  host: '127.0.0.1',
  port: Number(port),
  secure: false,
  requireTLS: false,
  ignoreTLS: true,
  tls: { rejectUnauthorized: true, servername: '127.0.0.1' },
  maxConnections: spec.connections,
  maxMessages: 500,
  maxRequeues: 0,
  connectionTimeout: 10_000,
  greetingTimeout: 10_000,
  socketTimeout: 30_000,
  logger: false,
  debug: false,
} as SMTPPool.Options);

let busy = false;
async function tick(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    const now = Date.now();
    const hour = Math.floor(now / 3_600_000) * 3_600_000;
    const used = (hourCount.get(hour) as { count: number } | undefined)?.count ?? 0;
    const room = Math.min(spec.rate, spec.hourly - used);
    if (room <= 0) return;
    const rows = due.all(now, room) as Array<{ key: string }>;
    await Promise.all(
      rows.map(async ({ key }) => {
        try {
          await transporter.sendMail({
            from: FROM,
            to: `${key}@bench.test`,
            subject: key,
            text: `B2 ${key}`,
          });
          db.transaction(() => {
            markSent.run(Date.now(), key);
            countHour.run(hour);
          })();
        } catch {
          // Left queued: the next tick takes it again.
        }
      }),
    );
  } finally {
    busy = false;
  }
}

setInterval(() => void tick(), 1000);
void tick();
// Usage every second, as Facteur's process reports it: a killed process's CPU is known to within a second.
setInterval(() => report({ usage: monitor.snapshot() }), 1000).unref();
onParentMessage((message) => {
  const { cmd } = message as { cmd: string };
  if (cmd === 'status') {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const queued = (
      db.prepare("select count(*) as n from messages where status = 'queued'").get() as { n: number }
    ).n;
    const used = (hourCount.get(hour) as { count: number } | undefined)?.count ?? 0;
    report({ queued, hourUsed: used });
  }
});
report({ ready: true, at: performance.timeOrigin + performance.now() });
