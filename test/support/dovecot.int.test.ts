import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DovecotInstance, probeDovecot, startDovecot } from './dovecot.js';
import { serviceSkipReason } from './services.js';

const skipReason = serviceSkipReason('dovecot', await probeDovecot());

const RAW = [
  'From: Sender <sender@test.local>',
  'To: alice@test.local',
  'Subject: Hello from the test',
  'Message-ID: <dovecot-smoke@test.local>',
  'Date: Mon, 01 Jan 2024 10:00:00 +0000',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'The body of the message.',
  '',
].join('\r\n');

async function fetchByUid(dovecot: DovecotInstance, folder: string, uid: number) {
  const client = new ImapFlow({ ...dovecot.imapConfig(), disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const lock = await client.getMailboxLock(folder);
    try {
      const message = await client.fetchOne(String(uid), { envelope: true, source: true }, { uid: true });
      if (!message) throw new Error(`no message with UID ${uid} in ${folder}`);
      return { subject: message.envelope?.subject, source: message.source?.toString('utf8') ?? '' };
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

describe.skipIf(skipReason)('private dovecot', () => {
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [
        { user: 'alice', password: 'secret' },
        { user: 'bob@test.local', password: 'hunter2' },
      ],
    });
  });
  afterAll(async () => {
    await dovecot?.close();
  });

  it('appends a message and fetches it by UID with imapflow', async () => {
    const { uid } = await dovecot.append('alice', 'INBOX', RAW);
    const fetched = await fetchByUid(dovecot, 'INBOX', uid);
    expect(fetched.subject).toBe('Hello from the test');
    expect(fetched.source).toContain('The body of the message.');
    expect(dovecot.imapConfig()).toEqual({
      host: '127.0.0.1',
      port: dovecot.port,
      secure: false,
      auth: { user: 'alice', pass: 'secret' },
      logger: false,
    });
  });

  it('creates a missing folder on append and keeps users apart', async () => {
    const { uid } = await dovecot.append('bob@test.local', 'Archive/2024', RAW);
    const client = new ImapFlow({ ...dovecot.imapConfig('bob@test.local'), disableAutoIdle: true });
    client.on('error', () => undefined);
    await client.connect();
    const status = await client.status('Archive/2024', { messages: true, uidNext: true });
    await client.logout();
    expect(status && [status.messages, status.uidNext]).toEqual([1, uid + 1]);
    const alice = new ImapFlow({ ...dovecot.imapConfig('alice'), disableAutoIdle: true });
    alice.on('error', () => undefined);
    await alice.connect();
    const folders = (await alice.list()).map((box) => box.path);
    await alice.logout();
    expect(folders).not.toContain('Archive/2024');
  });

  it('refuses a wrong password', async () => {
    const client = new ImapFlow({ ...dovecot.imapConfig(), auth: { user: 'alice', pass: 'wrong' } });
    client.on('error', () => undefined);
    await expect(client.connect()).rejects.toMatchObject({
      authenticationFailed: true,
      serverResponseCode: 'AUTHENTICATIONFAILED',
    });
  });

  it('restarts on the same port and keeps the mail', async () => {
    const { uid } = await dovecot.append(
      'alice',
      'INBOX',
      RAW.replace('Hello from the test', 'Before restart'),
    );
    const port = dovecot.port;
    await dovecot.stop();
    const refused = new ImapFlow({ ...dovecot.imapConfig(), connectionTimeout: 1000 });
    refused.on('error', () => undefined);
    await expect(refused.connect()).rejects.toThrow(/ECONNREFUSED|connect/i);
    await dovecot.restart();
    expect(dovecot.port).toBe(port);
    const fetched = await fetchByUid(dovecot, 'INBOX', uid);
    expect(fetched.subject).toBe('Before restart');
  });
});
