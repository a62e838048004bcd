import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import { parseDuration } from '../core/config/index.js';
import { parseOrThrow } from '../core/validation.js';
import { acceptMessage, getMessage, type MessageView, messageInputSchema } from '../mail/index.js';
import { badOption, commandLogger, configOrExit, openMigratedStore, print } from './shared.js';

/** Options of `facteur send`. */
export interface SendOptions {
  to: string[];
  cc?: string[];
  bcc?: string[];
  from?: string;
  replyTo?: string;
  subject: string;
  text?: string;
  textFile?: string;
  html?: string;
  htmlFile?: string;
  header?: string[];
  idempotencyKey?: string;
  wait: boolean;
  timeout: string;
  json?: boolean;
}

/**
 * `facteur send`: records a message in the outbox (like `POST /api/messages`) and follows it to
 * its final status, printing each attempt. The running `facteur serve` does the sending.
 * Exit 0 when sent, 1 when it failed or did not finish within --timeout.
 */
export async function sendCommand(options: SendOptions): Promise<number> {
  const config = configOrExit();
  const logger = commandLogger(config);
  const timeoutMs = parseTimeout(options.timeout);
  const input = parseOrThrow(messageInputSchema, buildInput(options), 'argument');
  const store = await openMigratedStore(config, logger);
  const deps = {
    store,
    clock: systemClock,
    logger,
    defaultFrom: config.mail.defaultFrom,
    retryScheduleMs: config.mail.retryScheduleMs,
  };
  try {
    const accepted = await acceptMessage(deps, input, { source: 'cli' });
    if (!options.json)
      print(
        `${accepted.created ? 'Queued' : 'Already queued (same idempotency key)'}: message ${accepted.id}`,
      );
    if (!options.wait) {
      if (options.json) print(JSON.stringify(accepted));
      return 0;
    }
    const final = await follow(() => getMessage(deps, accepted.id), timeoutMs, options.json ?? false);
    if (options.json) print(JSON.stringify(final.view));
    if (final.timedOut) {
      process.stderr.write(
        `message ${accepted.id} is still ${final.view.status} after ${options.timeout}; is \`facteur serve\` running against ${store.location}?\n`,
      );
      return 1;
    }
    return final.view.status === 'sent' ? 0 : 1;
  } finally {
    await store.close();
  }
}

function parseTimeout(raw: string): number {
  try {
    return parseDuration(raw);
  } catch (error) {
    return badOption('--timeout', (error as Error).message);
  }
}

function buildInput(options: SendOptions): Record<string, unknown> {
  if (options.text !== undefined && options.textFile !== undefined)
    badOption('--text-file', 'give --text or --text-file, not both');
  if (options.html !== undefined && options.htmlFile !== undefined)
    badOption('--html-file', 'give --html or --html-file, not both');
  const headers: Record<string, string> = {};
  for (const header of options.header ?? []) {
    const colon = header.indexOf(':');
    if (colon <= 0) badOption('--header', `expected "Name: value", got ${JSON.stringify(header)}`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  const text = options.textFile !== undefined ? readOption('--text-file', options.textFile) : options.text;
  const html = options.htmlFile !== undefined ? readOption('--html-file', options.htmlFile) : options.html;
  return {
    to: options.to,
    subject: options.subject,
    ...(options.cc ? { cc: options.cc } : {}),
    ...(options.bcc ? { bcc: options.bcc } : {}),
    ...(options.from ? { from: options.from } : {}),
    ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
  };
}

function readOption(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return badOption(option, `cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Polls the message until it is sent or failed, printing each new attempt. */
async function follow(
  read: () => Promise<MessageView>,
  timeoutMs: number,
  quiet: boolean,
): Promise<{ view: MessageView; timedOut: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let printedAttempts = 0;
  let lastStatus = '';
  for (;;) {
    const view = await read();
    if (!quiet) {
      for (const attempt of view.attempts.slice(printedAttempts)) {
        if (attempt.outcome === 'in_progress') break;
        const reply = attempt.smtpResponse ?? attempt.errorMessage ?? '';
        print(`  attempt ${attempt.number}: ${attempt.outcome}${reply ? ` (${reply})` : ''}`);
        printedAttempts = attempt.number;
      }
      if (view.status !== lastStatus) {
        const next =
          view.status === 'queued' && view.nextAttemptAt ? `, next attempt at ${view.nextAttemptAt}` : '';
        print(`  status: ${view.status}${next}`);
        lastStatus = view.status;
      }
    }
    if (view.status === 'sent' || view.status === 'failed') {
      if (!quiet) {
        print(
          view.status === 'sent'
            ? `Sent: ${view.messageId}`
            : `Failed: ${view.lastError?.code ?? ''} ${view.lastError?.message ?? ''}`,
        );
      }
      return { view, timedOut: false };
    }
    if (Date.now() >= deadline) return { view, timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
