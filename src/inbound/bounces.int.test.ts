import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { LOOPBACK_TARGETS } from '../../test/support/facteur.js';
import { createFolder, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import { type Feedback, parseDsn } from '../campaigns/index.js';
import { ManualClock } from '../core/clock.js';
import { migrateToLatest, openStore, type Store } from '../core/db/index.js';
import { JobEngine } from '../core/jobs/index.js';
import { parseTargetPolicy, TargetGuard } from '../core/net/ssrf.js';
import { silentLogger } from '../core/observability/index.js';
import { RuleStore } from '../rules/index.js';
import { Webhooks } from '../webhooks/index.js';
import { type FeedbackOrigin, handOverFeedback } from './feedback.js';
import { routeQueue } from './jobs.js';
import { mailboxCreateSchema } from './mailbox-model.js';
import type { Mailbox } from './mailboxes.js';
import { Inbound } from './service.js';
import { type LedgerEntry, ledgerPage } from './views.js';

/**
 * A bounce mailbox (`purpose: "bounces"`) against a private Dovecot, on the run's database: a
 * DSN appended to it reaches the `feedback` handler of the route queue with what it reports
 * (hard bounce, address, status, the original Message-ID), normal mail and auto-replies do not,
 * a handler that throws is retried with the message left unread meanwhile, a forged bounce
 * from a sender the allowlist refuses is not handed over, a message with feedback and no handler
 * fails for good, and a mailbox of the default purpose routes a DSN through the rules like any mail. main.ts wires the handler to campaigns; here the
 * test is the handler, so the whole inbound path runs with nothing else from campaigns.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

/**
 * A DSN fixture as on the wire, marked with the test's folder: the ledger outlives each test's
 * mailbox, and the same bytes again would be recorded as a duplicate of the earlier copy.
 */
function fixture(name: string, folder: string): string {
  const text = readFileSync(new URL(`../../test/fixtures/dsn/${name}`, import.meta.url), 'utf8');
  return `X-Test-Folder: ${folder}\r\n${text.replace(/\r?\n/g, '\r\n')}`;
}

const normalMail = [
  'From: "Jean Dupont" <jean.dupont@example.net>',
  'To: bounces@club.example.org',
  'Subject: Question about the meeting',
  'Message-ID: <question-1@example.net>',
  'Date: Tue, 24 Nov 2026 10:10:00 +0100',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Is the meeting still on Thursday?',
  '',
].join('\r\n');

describe.skipIf(skip)('bounce mailbox', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 9, 0, 0));
  const received: Array<{ items: Feedback[]; origin: FeedbackOrigin }> = [];
  let calls = 0;
  let failuresLeft = 0;
  let dovecot: DovecotInstance;
  let database: TestDatabase;
  let store: Store;
  let engine: JobEngine;
  let webhooks: Webhooks;
  let rules: RuleStore;
  let inbound: Inbound;

  beforeAll(async () => {
    dovecot = await startDovecot();
    database = await createTestDatabase();
    store = openStore(database.config, { poolSize: 8 });
    await migrateToLatest(store);
    const logger = silentLogger();
    const guard = new TargetGuard(parseTargetPolicy(LOOPBACK_TARGETS));
    const secretKey = randomBytes(32);
    const mail = { defaultFrom: 'facteur@club.example.org', retryScheduleMs: [1000] };
    webhooks = new Webhooks({
      store,
      clock,
      logger,
      secretKey,
      concurrency: 1,
      alertEmailTo: [],
      mail,
      guard,
    });
    rules = new RuleStore({ store, clock, logger });
    inbound = new Inbound({ store, clock, logger, secretKey, webhooks, rules, parseWorkers: 0, guard });
    engine = new JobEngine({
      store,
      clock,
      logger,
      leaseMs: 15_000,
      pollIntervalMs: 3_600_000,
      random: () => 0.5,
    });
    engine.register(
      routeQueue({
        store,
        clock,
        logger,
        rules,
        webhooks,
        mail,
        mailbox: (id) => inbound.routingMailbox(id),
        feedback: async (items, origin) => {
          calls += 1;
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('the campaigns ledger is unavailable');
          }
          received.push({ items, origin });
        },
      }),
    );
    await webhooks.start();
    await engine.start();
    await inbound.start();
  });
  afterAll(async () => {
    await inbound?.stop();
    await engine?.stop(0);
    await webhooks?.stop();
    rules?.close();
    await store?.close();
    await database?.drop();
    await dovecot?.close();
  });
  afterEach(async () => {
    for (const mailbox of await inbound.mailboxes.list()) await inbound.mailboxes.remove(mailbox.id);
    received.length = 0;
    calls = 0;
    failuresLeft = 0;
  });

  /** A mailbox watching `folder` (created first: a watcher that finds none backs off on the manual clock). */
  async function createMailbox(folder: string, extra: Record<string, unknown> = {}): Promise<Mailbox> {
    await createFolder(dovecot, folder);
    return inbound.mailboxes.create(mailboxCreateSchema.parse(dovecotMailbox(dovecot, folder, extra)));
  }

  async function ledger(mailboxId: string): Promise<LedgerEntry[]> {
    return (await ledgerPage(store.db, { mailbox: mailboxId, limit: 50 })).messages.reverse();
  }

  async function seen(folder: string, uid: number): Promise<boolean> {
    const client = new ImapFlow({ ...dovecot.imapConfig(), disableAutoIdle: true });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const lock = await client.getMailboxLock(folder);
      try {
        const message = await client.fetchOne(String(uid), { flags: true }, { uid: true });
        return message ? (message.flags?.has('\\Seen') ?? false) : false;
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  }

  it('hands a DSN over as a hard bounce, and normal mail and auto-replies not at all', async () => {
    const mailbox = await createMailbox('Bounces', { purpose: 'bounces' });
    expect(mailbox.settings.purpose).toBe('bounces');
    const dsn = await dovecot.append('alice', 'Bounces', fixture('postfix-hard.eml', 'Bounces'));
    await dovecot.append('alice', 'Bounces', normalMail);
    await dovecot.append('alice', 'Bounces', fixture('auto-reply.eml', 'Bounces'));

    await vi.waitFor(
      async () =>
        expect((await ledger(mailbox.id)).map((row) => [row.state, row.mailboxAction])).toEqual([
          ['acknowledged', 'done'],
          ['skipped', 'done'],
          ['skipped', 'done'],
        ]),
      { timeout: 20_000, interval: 50 },
    );
    const [bounce, normal, reply] = await ledger(mailbox.id);
    expect(bounce).toMatchObject({ tags: ['feedback:hard_bounce'], skipReason: null, errorCode: null });
    expect(normal).toMatchObject({ skipReason: 'no_feedback', tags: [] });
    expect(reply).toMatchObject({ skipReason: 'no_feedback', tags: [] });
    expect(received).toEqual([
      {
        items: [
          {
            kind: 'hard_bounce',
            address: 'jean.dupont@example.net',
            source: 'dsn',
            messageIdHeader: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
            status: '5.1.1',
            diagnostic:
              '550 5.1.1 <jean.dupont@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
            occurredAt: Date.parse('2026-11-24T09:02:09Z'),
          },
        ],
        origin: { mailboxId: mailbox.id, inboundMessageId: bounce?.id },
      },
    ]);
    expect(await seen('Bounces', dsn.uid)).toBe(true);
  });

  it('retries a handler that throws, leaving the message unread until the handler took it', async () => {
    failuresLeft = 1;
    const mailbox = await createMailbox('Retried', { purpose: 'bounces' });
    const dsn = await dovecot.append('alice', 'Retried', fixture('exim-two-recipients.eml', 'Retried'));

    await vi.waitFor(() => expect(calls).toBe(1), { timeout: 20_000, interval: 50 });
    const [waiting] = await ledger(mailbox.id);
    expect(waiting).toMatchObject({ state: 'parsed', mailboxAction: 'none' });
    expect(await seen('Retried', dsn.uid)).toBe(false);

    // The route queue retries after 5 s (exponential from 5 s), on the injected clock.
    await vi.waitFor(
      () => {
        if (calls < 2) clock.advance(6_000);
        expect(received).toHaveLength(1);
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(received[0]?.items.map((item) => [item.kind, item.address, item.status])).toEqual([
      ['hard_bounce', 'paul@old.example.com', '5.1.1'],
      ['soft_bounce', 'anne@far.example.com', '4.0.0'],
    ]);
    await vi.waitFor(async () => expect((await ledger(mailbox.id))[0]?.state).toBe('acknowledged'), {
      timeout: 20_000,
      interval: 50,
    });
    expect((await ledger(mailbox.id))[0]?.tags).toEqual(['feedback:hard_bounce', 'feedback:soft_bounce']);
    expect(await seen('Retried', dsn.uid)).toBe(true);
  });

  it("hands nothing over from a sender the mailbox's allowlist refuses", async () => {
    const mailbox = await createMailbox('Allowlisted', {
      purpose: 'bounces',
      senderAllowlist: ['@relay.example.org'],
    });
    await dovecot.append('alice', 'Allowlisted', fixture('postfix-hard.eml', 'Allowlisted')); // from mail.club.example.org
    await dovecot.append('alice', 'Allowlisted', fixture('exim-two-recipients.eml', 'Allowlisted')); // from relay.example.org
    await vi.waitFor(
      async () =>
        expect((await ledger(mailbox.id)).map((row) => [row.state, row.skipReason])).toEqual([
          ['skipped', 'sender_not_allowed'],
          ['acknowledged', null],
        ]),
      { timeout: 20_000, interval: 50 },
    );
    expect(received.map((call) => call.items.map((item) => item.address))).toEqual([
      ['paul@old.example.com', 'anne@far.example.com'],
    ]);
  });

  it('fails for good, naming the cause, when no feedback handler is configured', async () => {
    const items = parseDsn(fixture('postfix-hard.eml', 'NoHandler'));
    expect(items).toHaveLength(1);
    const row = { id: 'no-handler', uid: null, mailbox_id: 'some-mailbox', from_address: null };
    await expect(handOverFeedback({ store }, row, undefined, items, clock.now())).rejects.toMatchObject({
      code: 'INBOUND_FEEDBACK_FAILED',
      retryable: false,
    });
  });

  it('reads a raw push to a bounce mailbox; a mailbox of the default purpose runs the rules instead', async () => {
    const bounces = await createMailbox('Pushed', { purpose: 'bounces' });
    const pushed = await inbound.ingestRaw(Buffer.from(fixture('gmail-hard.eml', 'Pushed')), bounces.id);
    await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 20_000, interval: 50 });
    expect(received[0]).toEqual({
      items: [
        expect.objectContaining({
          kind: 'hard_bounce',
          address: 'nobody.here@gmail.com',
          messageIdHeader: '0193a1b2-cccc-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
          status: '5.1.1',
        }),
      ],
      origin: { mailboxId: bounces.id, inboundMessageId: pushed.id },
    });
    await vi.waitFor(
      async () =>
        expect((await ledger(bounces.id))[0]).toMatchObject({ state: 'delivered', mailboxAction: 'none' }),
      { timeout: 20_000, interval: 50 },
    );

    const ordinary = await createMailbox('Ordinary');
    expect(ordinary.settings.purpose).toBe('rules');
    await dovecot.append('alice', 'Ordinary', fixture('exchange-base64.eml', 'Ordinary'));
    // No rule: the DSN is routed like any message, unmatched, and marked.
    await vi.waitFor(
      async () =>
        expect((await ledger(ordinary.id)).map((row) => [row.state, row.mailboxAction])).toEqual([
          ['unmatched', 'done'],
        ]),
      { timeout: 20_000, interval: 50 },
    );
    expect((await ledger(ordinary.id))[0]?.tags).toEqual([]);
    expect(received).toHaveLength(1);
  });
});
