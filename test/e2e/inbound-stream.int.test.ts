import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../support/database.js';
import { difficultMessages } from '../support/difficult-mail.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../support/dovecot.js';
import {
  appendAll,
  createFolder,
  deleteRulesAndMailboxes,
  dovecotMailbox,
  streamMessage,
  withImap,
} from '../support/imap-stream.js';
import { serviceSkipReason } from '../support/services.js';
import { type Json, useWebhookSuite } from '../support/webhooks.js';

/**
 * Inbound mail under load and under trouble, end to end: a real Dovecot, a whole Facteur in the
 * test process (system clock), a real webhook receiver. A stream of 1,000 messages, a Dovecot
 * restart mid-stream, a folder re-created with new UIDs, the difficult-mail corpus and a
 * catastrophic regex: every message gets exactly one ledger row, is handled once, and none
 * holds up the ones behind it.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

const range = (count: number, from = 1): number[] => Array.from({ length: count }, (_, i) => from + i);

/** Ledger states by count, for readable failures. */
function tally(rows: Json[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.state] = (counts[row.state] ?? 0) + 1;
  return counts;
}

describe.skipIf(skip)('inbound mail streamed from Dovecot', () => {
  const suite = useWebhookSuite();
  let dovecot: DovecotInstance;
  let endpoint: Json;

  beforeAll(async () => {
    dovecot = await startDovecot();
    endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
  });
  afterAll(async () => {
    await dovecot?.close();
  });
  // Each test starts with no rules and no mailboxes (a failed test leaves none behind).
  afterEach(() => deleteRulesAndMailboxes(suite.app));

  async function createMailbox(folder: string): Promise<Json> {
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, folder),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  async function createRule(body: Json): Promise<Json> {
    const rule = await suite.app.request<Json>('POST', '/api/rules', { body });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    return rule.body;
  }

  const routeAll = () =>
    createRule({ name: 'everything', actions: [{ type: 'webhook', endpoints: [endpoint.id] }] });

  /** Every ledger row of a mailbox, through the API, page by page (500 a page). */
  async function ledger(mailboxId: string): Promise<Json[]> {
    const rows: Json[] = [];
    let before: string | null = null;
    do {
      const cursor: string = before ? `&before=${before}` : '';
      const page = await suite.app.request<Json>(
        'GET',
        `/api/inbound?mailbox=${mailboxId}&limit=500${cursor}`,
      );
      expect(page.status).toBe(200);
      rows.push(...page.body.messages);
      before = page.body.nextBefore;
    } while (before);
    return rows;
  }

  /** Waits until the mailbox's ledger holds `count` rows, tallied as `states`; returns them. */
  function ledgerSettles(mailboxId: string, count: number, states: Record<string, number>, timeout = 60_000) {
    return vi.waitFor(
      async () => {
        const rows = await ledger(mailboxId);
        expect(rows).toHaveLength(count);
        expect(tally(rows)).toEqual(states);
        return rows;
      },
      { timeout, interval: 200 },
    );
  }

  /** The events the receiver got: webhook-id, event type and payload. */
  function events(): Array<{ webhookId: string; type: string; data: Json }> {
    return suite.receiver.requests.map((r) => {
      const body = r.json<Json>();
      return { webhookId: String(r.headers['webhook-id']), type: body.type, data: body.data };
    });
  }

  /** Asserts that each row has its own (UIDVALIDITY, UID) and its own Message-ID. */
  function expectOneRowPerMessage(rows: Json[]): void {
    expect(new Set(rows.map((r) => `${r.uidvalidity}:${r.uid}`)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.messageId)).size).toBe(rows.length);
  }

  it('handles 1,000 messages appended while it watches: one row, one event and the \\Seen flag each', async () => {
    await routeAll();
    await createFolder(dovecot, 'Stream');
    const mailbox = await createMailbox('Stream');
    const started = Date.now();
    await appendAll(
      dovecot,
      'Stream',
      range(1000).map((n) => streamMessage('stream', n)),
    );
    const appendedMs = Date.now() - started;
    await suite.receiver.waitForRequests(1000, 120_000);
    const rows = await ledgerSettles(mailbox.id, 1000, { acknowledged: 1000 }, 60_000);
    console.info(
      `inbound stream: 1,000 appended in ${appendedMs} ms, all acknowledged after ${Date.now() - started} ms`,
    );

    expectOneRowPerMessage(rows);
    const received = events();
    expect(received).toHaveLength(1000);
    expect(new Set(received.map((e) => e.webhookId)).size).toBe(1000);
    expect(received.map((e) => e.data.subject).sort()).toEqual(
      range(1000)
        .map((n) => `stream ${n}`)
        .sort(),
    );
    expect(new Set(received.map((e) => e.data.email_id))).toEqual(new Set(rows.map((r) => r.id)));
    const unseen = await withImap(dovecot, async (client) => {
      const lock = await client.getMailboxLock('Stream');
      try {
        return (await client.search({ seen: false }, { uid: true })) || [];
      } finally {
        lock.release();
      }
    });
    expect(unseen).toEqual([]);
  }, 180_000);

  it('reconnects within 5 s of a Dovecot restart mid-stream and misses nothing', async () => {
    await routeAll();
    await createFolder(dovecot, 'Restart');
    const mailbox = await createMailbox('Restart');
    const messages = range(300).map((n) => streamMessage('restart', n));
    await appendAll(dovecot, 'Restart', messages.slice(0, 100));
    const restartedAt = Date.now();
    await dovecot.restart();
    const backAt = Date.now();
    const rest = appendAll(dovecot, 'Restart', messages.slice(100));
    const connectedAt = await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${mailbox.id}`);
        const since = view.body.watchers[0]?.connectedSince as string | null | undefined;
        expect(since).toBeTruthy();
        const at = Date.parse(since as string);
        expect(at).toBeGreaterThanOrEqual(restartedAt); // a connection made after the restart
        return at;
      },
      { timeout: 30_000, interval: 20 },
    );
    const reconnectMs = Math.max(0, connectedAt - backAt);
    console.info(
      `inbound restart: Dovecot down for ${backAt - restartedAt} ms, watcher reconnected ${reconnectMs} ms after it was back`,
    );
    expect(reconnectMs).toBeLessThan(5000);
    await rest;

    await suite.receiver.waitForRequests(300, 60_000);
    const rows = await ledgerSettles(mailbox.id, 300, { acknowledged: 300 });
    expectOneRowPerMessage(rows);
    const received = events();
    expect(received).toHaveLength(300);
    expect(new Set(received.map((e) => e.webhookId)).size).toBe(300);
    expect(received.map((e) => e.data.subject).sort()).toEqual(
      messages.map((_, i) => `restart ${i + 1}`).sort(),
    );
  }, 120_000);

  it('skips messages seen before when UIDVALIDITY changes or a copy is uploaded again', async () => {
    await routeAll();
    await createFolder(dovecot, 'Renumbered');
    const mailbox = await createMailbox('Renumbered');
    const originals = range(5).map((n) => streamMessage('renumbered', n));
    await appendAll(dovecot, 'Renumbered', originals);
    await suite.receiver.waitForRequests(5, 30_000);
    const handled = await ledgerSettles(mailbox.id, 5, { acknowledged: 5 });
    const firstRowOf = new Map(handled.map((r) => [r.messageId, r.id]));
    const oldValidity = handled[0]?.uidvalidity;

    // The folder is deleted and made again: the same messages come back under new UIDs.
    await withImap(dovecot, (client) => client.mailboxDelete('Renumbered'));
    await createFolder(dovecot, 'Renumbered');
    const fresh = [6, 7].map((n) => streamMessage('renumbered', n));
    await appendAll(dovecot, 'Renumbered', [...originals, ...fresh], { appenders: 1 });
    await suite.receiver.waitForRequests(7, 30_000);
    const rows = await ledgerSettles(mailbox.id, 12, { acknowledged: 7, skipped: 5 });
    const renumbered = rows.filter((r) => r.uidvalidity !== oldValidity);
    expect(renumbered).toHaveLength(7);
    const skipped = rows.filter((r) => r.state === 'skipped');
    expect(skipped.every((r) => r.uidvalidity !== oldValidity && r.skipReason === 'duplicate')).toBe(true);
    expect(skipped.map((r) => r.duplicateOf).sort()).toEqual(
      skipped.map((r) => firstRowOf.get(r.messageId)).sort(),
    );
    expect(skipped.map((r) => r.duplicateOf).every(Boolean)).toBe(true);
    // Only the two new messages raised events; the re-appended ones raised none.
    const subjects = events().map((e) => e.data.subject as string);
    expect(subjects.slice(5).sort()).toEqual(['renumbered 6', 'renumbered 7']);
    expect(subjects.slice(0, 5).sort()).toEqual(range(5).map((n) => `renumbered ${n}`));

    // A copy uploaded again in the same folder (a new UID, the same bytes) is a duplicate too. The
    // message after it is recorded after it: once that one's event is in, the copy had its chance.
    await appendAll(dovecot, 'Renumbered', [originals[2] as string, streamMessage('renumbered', 8)], {
      appenders: 1,
    });
    await suite.receiver.waitForRequests(8, 30_000);
    const after = await ledgerSettles(mailbox.id, 14, { acknowledged: 8, skipped: 6 });
    const third = 'renumbered-3@stream.example.org';
    const copies = after.filter((r) => r.messageId === third);
    expect(copies).toHaveLength(3); // the first, the one after the renumbering, the re-upload
    const duplicate = { skipReason: 'duplicate', duplicateOf: firstRowOf.get(third) };
    expect(copies.filter((r) => r.state === 'skipped')).toEqual([
      expect.objectContaining(duplicate),
      expect.objectContaining(duplicate),
    ]);
    expect(events()).toHaveLength(8);
    expect(events().at(-1)?.data.subject).toBe('renumbered 8');
  }, 120_000);

  it('records each difficult-mail message once, and none holds up the ones after it', async () => {
    await routeAll();
    await createFolder(dovecot, 'Difficult');
    const mailbox = await createMailbox('Difficult');
    const corpus = difficultMessages();
    const limitBytes = 25 * 1024 * 1024; // the mailbox's maxMessageMb (default 25)
    const tooLarge = corpus.filter((m) => m.raw.length > limitBytes);
    const parsable = corpus.filter((m) => m.raw.length <= limitBytes);
    // Replies and forwards are recorded and skipped (the rules' default skipRepliesAndForwards).
    const replies = parsable.filter((m) => /^(re|fwd?):/i.test(m.expect.subject ?? ''));
    // The corpus as this test knows it:
    expect(tooLarge.map((m) => m.name)).toEqual(['attachment-20mb']);
    expect(replies.map((m) => m.name)).toEqual(['subject-split-q']);
    // One connection: the corpus goes in in order, then a plain message that must not wait behind it.
    const after = streamMessage('difficult-after', 1);
    await appendAll(dovecot, 'Difficult', [...corpus.map((m) => m.raw), after], { appenders: 1 });
    const total = corpus.length + 1;
    const rows = await ledgerSettles(mailbox.id, total, {
      acknowledged: parsable.length - replies.length + 1,
      skipped: replies.length,
      fetched: tooLarge.length,
    });

    const [large] = rows.filter((r) => r.state === 'fetched');
    expect(large).toMatchObject({ errorCode: 'INBOUND_TOO_LARGE', mailboxAction: 'none' });
    expect(large?.size).toBe(tooLarge[0]?.raw.length);
    const skipped = rows.filter((r) => r.state === 'skipped');
    expect(skipped.map((r) => [r.subject, r.skipReason])).toEqual(
      replies.map((m) => [m.expect.subject, 'reply_or_forward']),
    );
    const parsed = rows.filter((r) => r.state !== 'fetched');
    expect(parsed.map((r) => r.subject).sort()).toEqual(
      [...parsable.map((m) => m.expect.subject), 'difficult-after 1'].sort(),
    );
    for (const message of parsable) {
      const row = parsed.find((r) => r.subject === message.expect.subject);
      expect(row?.messageId, message.name).toBe(message.expect.messageId);
    }
    const handled = rows.filter((r) => r.state === 'acknowledged');
    expectOneRowPerMessage(rows.filter((r) => r.messageId !== null));

    // One event per handled message, each once.
    await suite.receiver.waitForRequests(handled.length, 30_000);
    const received = events();
    expect(received).toHaveLength(handled.length);
    expect(new Set(received.map((e) => e.webhookId)).size).toBe(handled.length);
    expect(new Set(received.map((e) => e.data.email_id))).toEqual(new Set(handled.map((r) => r.id)));
  }, 120_000);

  it('runs catastrophic regexes over 100,000 characters in linear time, and the next messages flow', async () => {
    await createRule({
      name: 'catastrophic',
      when: {
        any: [
          { field: 'text', operator: 'regex', value: '(a+)+$' },
          { field: 'text', operator: 'regex', value: '(x+x+)+y' },
        ],
      },
      actions: [{ type: 'webhook', endpoints: [endpoint.id], eventType: 'inbound.catastrophic' }],
      stopProcessing: true,
    });
    const everything = await routeAll();
    await createFolder(dovecot, 'Regex');
    const mailbox = await createMailbox('Regex');
    const started = Date.now();
    await appendAll(
      dovecot,
      'Regex',
      [
        streamMessage('regex', 1, `${'a'.repeat(100_000)}b`), // (a+)+$ backtracks exponentially on a backtracking engine
        streamMessage('regex', 2, `${'x'.repeat(100_000)}b`), // so does (x+x+)+y
        streamMessage('regex', 3, 'a short text ending in xxy'), // matches (x+x+)+y
        ...range(3, 4).map((n) => streamMessage('regex', n)),
      ],
      { appenders: 1 },
    );
    const rows = await ledgerSettles(mailbox.id, 6, { acknowledged: 6 });
    await suite.receiver.waitForRequests(6, 30_000);
    console.info(
      `inbound regex: 6 messages (two of 100,000 characters) acknowledged in ${Date.now() - started} ms`,
    );

    const typeOf = new Map(events().map((e) => [e.data.subject, e.type]));
    expect(events()).toHaveLength(6);
    expect(Object.fromEntries(typeOf)).toEqual({
      'regex 1': 'inbound.email',
      'regex 2': 'inbound.email',
      'regex 3': 'inbound.catastrophic',
      'regex 4': 'inbound.email',
      'regex 5': 'inbound.email',
      'regex 6': 'inbound.email',
    });
    const long = rows.find((r) => r.subject === 'regex 1');
    expect(long?.matchedRules).toEqual([expect.objectContaining({ id: everything.id })]);
  }, 60_000);
});
