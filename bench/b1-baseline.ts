import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { type B1RunSpec, bodyFor, FROM, RING, recipient, subjectFor } from './b1-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B1's baseline (pinned to core 0 by the parent): a raw nodemailer pool with the options
 * Facteur's SMTP transport uses (`pool`, C connections, `maxMessages: 500`, `maxRequeues: 0`,
 * the default connect, greeting and socket timeouts), sending the warm-up and then the measured
 * messages with W `sendMail` calls in flight. Every message is built before the clock (bodies
 * from the same ring as Facteur's); nothing is recorded.
 *
 * usage: b1-baseline.ts <port> '<B1RunSpec as JSON>'
 * Commands: `run` (answers `BaselineRun` once every send returned), `reset` (starts the measured
 * window; the parent sends it when the sink has the first measured message), `usage`.
 */

/** How the baseline's sends went. */
export interface BaselineRun {
  ok: number;
  failed: number;
  firstError?: string;
  /** From the first sendMail call to the last answer. */
  seconds: number;
}

const port = Number(process.argv[2]);
const spec = JSON.parse(process.argv[3] ?? '{}') as B1RunSpec;
const monitor = new UsageMonitor();

const bodies = Array.from({ length: Math.min(RING, spec.warmup + spec.measured) }, (_, slot) =>
  bodyFor(spec.variant, slot),
);
const total = spec.warmup + spec.measured;
const messages: Array<{ to: string; subject: string; messageId: string; body: string }> = new Array(total);
for (let i = 0; i < total; i++) {
  const kind = i < spec.warmup ? 'w' : 'm';
  const index = i < spec.warmup ? i : i - spec.warmup;
  messages[i] = {
    to: recipient(kind, index),
    subject: subjectFor(spec.variant, kind, index),
    messageId: `<b1-${kind}${index}@bench.test>`,
    body: bodies[i % RING] as string,
  };
}

// What Facteur's SmtpTransport (src/mail/transport.ts) passes for smtp://127.0.0.1:PORT?starttls=off.
const transporter = nodemailer.createTransport({
  pool: true,
  host: '127.0.0.1',
  port,
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
  dnsTimeout: 10_000,
  logger: false,
  debug: false,
} as SMTPPool.Options);

let running: Promise<BaselineRun> | undefined;

async function run(): Promise<BaselineRun> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const m = messages[next++] as (typeof messages)[number];
      try {
        await transporter.sendMail({
          from: FROM,
          to: [m.to],
          subject: m.subject,
          ...(spec.variant === 'text' ? { text: m.body } : { html: m.body }),
          headers: {},
          messageId: m.messageId,
          disableFileAccess: true,
          disableUrlAccess: true,
        });
        ok++;
      } catch (error) {
        failed++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.window }, worker));
  return { ok, failed, ...(firstError ? { firstError } : {}), seconds: (performance.now() - started) / 1000 };
}

onParentMessage(async (message) => {
  const { cmd } = message as { cmd: string };
  if (cmd === 'run') {
    running = run();
    report(await running);
  }
  if (cmd === 'reset') {
    monitor.resetPeak();
    report(monitor.snapshot());
  }
  if (cmd === 'usage') {
    await running;
    report(monitor.snapshot());
  }
});
report({ ready: true });
