import { ImapFlow } from 'imapflow';
import type { DovecotInstance } from './dovecot.js';
import type { TestFacteur } from './facteur.js';

/**
 * Streams of test mail into a private Dovecot: numbered messages with distinct Message-IDs, a
 * folder created up front, and appends spread over a few connections (one APPEND per message
 * over a connection that stays open, instead of a connection per message).
 */

/** A plain message numbered `n` of the stream `tag`; subject `${tag} ${n}`, Message-ID unique to both. */
export function streamMessage(tag: string, n: number, text = `Message ${n} of the ${tag} stream.`): string {
  return [
    'From: "Stream" <stream@example.org>',
    'To: alice@test.local',
    `Subject: ${tag} ${n}`,
    `Message-ID: <${tag}-${n}@stream.example.org>`,
    'Date: Tue, 24 Nov 2026 09:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '',
  ].join('\r\n');
}

/** An IMAP client of `user` (default the first one), connected. */
export async function connectImap(dovecot: DovecotInstance, user?: string): Promise<ImapFlow> {
  const client = new ImapFlow({ ...dovecot.imapConfig(user), disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs `fn` with a connected client, then logs out. */
export async function withImap<T>(
  dovecot: DovecotInstance,
  fn: (client: ImapFlow) => Promise<T>,
): Promise<T> {
  const client = await connectImap(dovecot);
  try {
    return await fn(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Creates `folder` (nothing when it exists). */
export async function createFolder(dovecot: DovecotInstance, folder: string): Promise<void> {
  await withImap(dovecot, async (client) => {
    await client.mailboxCreate(folder);
  });
}

/**
 * Appends `messages` to `folder` (which must exist) over `appenders` connections at once;
 * `onAppended` is called after each APPEND with the number done so far.
 */
export async function appendAll(
  dovecot: DovecotInstance,
  folder: string,
  messages: ReadonlyArray<string | Buffer>,
  options: { appenders?: number; onAppended?: (done: number) => void } = {},
): Promise<void> {
  let next = 0;
  let done = 0;
  const appender = async (): Promise<void> => {
    const client = await connectImap(dovecot);
    try {
      while (next < messages.length) {
        const message = messages[next++] as string | Buffer;
        const appended = await client.append(folder, message);
        if (!appended || appended.uid === undefined) throw new Error(`APPEND to ${folder} returned no UID`);
        options.onAppended?.(++done);
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.appenders ?? 4, messages.length) }, appender));
}

/** Deletes every rule and mailbox of `app`, so each inbound test starts from none. */
export async function deleteRulesAndMailboxes(app: TestFacteur): Promise<void> {
  const rules = await app.request<{ rules: { id: string }[] }>('GET', '/api/rules');
  for (const rule of rules.body.rules) await app.request('DELETE', `/api/rules/${rule.id}`);
  const mailboxes = await app.request<{ mailboxes: { id: string }[] }>('GET', '/api/mailboxes');
  for (const mailbox of mailboxes.body.mailboxes) await app.request('DELETE', `/api/mailboxes/${mailbox.id}`);
}

/** The `POST /api/mailboxes` body for `folder` of the instance's user alice (no TLS, from the first message). */
export function dovecotMailbox(
  dovecot: DovecotInstance,
  folder: string,
  extra: Record<string, unknown> = {},
) {
  return {
    name: `alice ${folder}`,
    host: '127.0.0.1',
    port: dovecot.port,
    tls: 'none',
    auth: { type: 'password', user: 'alice', password: 'secret' },
    folders: [folder],
    startFrom: 'all',
    ...extra,
  };
}
