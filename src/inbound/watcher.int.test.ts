import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { createFolder, deleteRulesAndMailboxes, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import { advanceTo, type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * The mailbox watcher against a private Dovecot: mail appended while it runs is recorded and
 * delivered; a message is marked seen only after its deliveries succeeded (a failing one stays
 * unread and visible); outside the mailbox schedule mail waits, then flows when it opens.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

function message(n: number, subject = `Order ${n}`): string {
  return [
    `From: "Shop" <shop@example.org>`,
    'To: alice@test.local',
    `Subject: ${subject}`,
    `Message-ID: <watch-${n}-${subject.length}@example.org>`,
    'Date: Tue, 24 Nov 2026 09:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Order number ${n}.`,
    '',
  ].join('\r\n');
}

/** The flags of every message of `folder`, by UID. */
async function flagsOf(dovecot: DovecotInstance, folder: string): Promise<Map<number, string[]>> {
  const client = new ImapFlow({ ...dovecot.imapConfig(), disableAutoIdle: true });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const lock = await client.getMailboxLock(folder);
    try {
      const flags = new Map<number, string[]>();
      for await (const m of client.fetch('1:*', { uid: true, flags: true }, { uid: true })) {
        flags.set(m.uid, [...(m.flags ?? [])]);
      }
      return flags;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

describe.skipIf(skip)('mailbox watcher', () => {
  // Tuesday 2026-11-24 10:00 in Paris
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 9, 0, 0));
  const logLines: string[] = [];
  const suite = useWebhookSuite({}, { clock, logLines });
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot?.close();
  });
  // Each test starts with no rules and no mailboxes (a failed test leaves none behind).
  afterEach(() => deleteRulesAndMailboxes(suite.app));

  async function createMailbox(folder: string, extra: Json = {}): Promise<Json> {
    // The folder exists before the watcher connects: a watcher that finds no folder backs off,
    // and its backoff runs on this test's manual clock, which only the test moves.
    await createFolder(dovecot, folder);
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, folder, extra),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('secret"');
    return created.body;
  }

  async function ledger(mailboxId: string): Promise<Json[]> {
    const page = await suite.app.request<Json>('GET', `/api/inbound?mailbox=${mailboxId}&limit=500`);
    expect(page.status).toBe(200);
    return page.body.messages;
  }

  async function routeAllTo(endpointId: string): Promise<Json> {
    const rule = await suite.app.request<Json>('POST', '/api/rules', {
      body: { name: 'everything', actions: [{ type: 'webhook', endpoints: [endpointId] }] },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    return rule.body;
  }

  it('records mail appended while it watches, delivers it, then marks it seen', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    await routeAllTo(endpoint.id);
    await dovecot.append('alice', 'Orders', message(1)); // there before the watcher: startFrom all
    const mailbox = await createMailbox('Orders');
    for (let n = 2; n <= 5; n++) await dovecot.append('alice', 'Orders', message(n));

    await suite.receiver.waitForRequests(5, 20_000);
    await vi.waitFor(
      async () =>
        expect((await ledger(mailbox.id)).map((m) => m.state)).toEqual(Array(5).fill('acknowledged')),
      { timeout: 20_000, interval: 50 },
    );
    const subjects = suite.receiver.requests.map((r) => ((r.json() as Json).data as Json).subject).sort();
    expect(subjects).toEqual(['Order 1', 'Order 2', 'Order 3', 'Order 4', 'Order 5']);
    const flags = await flagsOf(dovecot, 'Orders');
    expect([...flags.values()].every((f) => f.includes('\\Seen'))).toBe(true);

    const view = await suite.app.request<Json>('GET', `/api/mailboxes/${mailbox.id}`);
    expect(view.body.watchers).toEqual([
      expect.objectContaining({ folder: 'Orders', state: 'idle', recorded: 5 }),
    ]);
    const ready = await suite.app.request<Json>('GET', '/readyz', { auth: false });
    expect(ready.body.checks.inbound.status).toBe('ok');
  });

  it('leaves a message unread while its delivery fails, and marks it once a replay succeeds', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'], retrySchedule: [] });
    await routeAllTo(endpoint.id);
    suite.receiver.respond({ status: 422, body: 'no' });
    const mailbox = await createMailbox('Failing');
    const { uid } = await dovecot.append('alice', 'Failing', message(10));

    await vi.waitFor(
      async () => {
        const [row] = await ledger(mailbox.id);
        expect(row?.state).toBe('matched');
        expect(row?.mailboxAction).toBe('waiting');
        const detail = await suite.app.request<Json>('GET', `/api/inbound/${row?.id}`);
        expect(detail.body.deliveries).toEqual([expect.objectContaining({ status: 'failed' })]);
      },
      { timeout: 20_000, interval: 50 },
    );
    expect((await flagsOf(dovecot, 'Failing')).get(uid)).not.toContain('\\Seen');

    suite.receiver.respond({ status: 200, body: { success: true } });
    const [row] = await ledger(mailbox.id);
    const detail = await suite.app.request<Json>('GET', `/api/inbound/${row?.id}`);
    const replay = await suite.app.request('POST', `/api/deliveries/${detail.body.deliveries[0].id}/replay`);
    expect(replay.status).toBe(202);
    await vi.waitFor(async () => expect((await ledger(mailbox.id))[0]?.state).toBe('acknowledged'), {
      timeout: 20_000,
      interval: 50,
    });
    expect((await flagsOf(dovecot, 'Failing')).get(uid)).toContain('\\Seen');
  });

  it('holds mail outside the mailbox schedule and handles it when the schedule opens', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    await routeAllTo(endpoint.id);
    // Tuesday 10:00 in Paris; the mailbox works from 14:00.
    const mailbox = await createMailbox('Afternoon', {
      schedule: { weekdays: ['tuesday'], hours: { start: '14:00', end: '18:00' }, timeZone: 'Europe/Paris' },
    });
    await dovecot.append('alice', 'Afternoon', message(20));
    await vi.waitFor(async () => expect((await ledger(mailbox.id))[0]?.state).toBe('parsed'), {
      timeout: 20_000,
      interval: 50,
    });
    const before = suite.receiver.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(suite.receiver.requests.length).toBe(before);
    const job = await suite.app.request<Json>('GET', '/api/inbound?state=parsed');
    expect(job.body.messages).toHaveLength(1);

    advanceTo(clock, '2026-11-24T13:00:00Z'); // 14:00 in Paris
    await vi.waitFor(async () => expect((await ledger(mailbox.id))[0]?.state).toBe('acknowledged'), {
      timeout: 20_000,
      interval: 50,
    });
    expect(suite.receiver.requests.length).toBe(before + 1);
    // The heartbeat (every 5 minutes) names each watcher with its state and last success. (Its
    // last error is the folder that did not exist yet when the mailbox was created.)
    const beats = logLines.map((line) => JSON.parse(line) as Json).filter((l) => l.event === 'heartbeat');
    expect(beats.at(-1)?.watchers[0].lastSuccessAt).toBeGreaterThanOrEqual(
      Date.parse('2026-11-24T09:00:00Z'),
    );
    expect(beats.at(-1)?.watchers).toEqual([
      expect.objectContaining({ mailbox: 'alice Afternoon', folder: 'Afternoon', state: 'idle' }),
    ]);
  });

  it('polls every pollInterval when set to poll, on the injected clock', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    await routeAllTo(endpoint.id);
    const mailbox = await createMailbox('Polled', { mode: 'poll', pollInterval: '10m' });
    await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${mailbox.id}`);
        expect(view.body.watchers[0]?.state).toBe('polling');
      },
      { timeout: 15_000, interval: 50 },
    );
    await dovecot.append('alice', 'Polled', message(30));
    // No IDLE: the message waits for the next poll.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await ledger(mailbox.id)).toEqual([]);
    clock.advance(10 * 60_000);
    await vi.waitFor(async () => expect((await ledger(mailbox.id))[0]?.state).toBe('acknowledged'), {
      timeout: 15_000,
      interval: 50,
    });
  });
});
