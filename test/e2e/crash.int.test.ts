import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import { countRows, createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { startServe } from '../support/process.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

const skip = await databaseSkipReason();
const TOTAL = 1000;

/**
 * The outbox's promise under the worst crash: 1,000 messages queued toward a slow SMTP server,
 * `kill -9` of Facteur half way, a restart. Every message must arrive, none may stay `sending`,
 * and duplicates may not exceed the messages that were in flight at the kill.
 */
describe.skipIf(skip)('kill -9 while sending 1,000 messages', () => {
  let database: TestDatabase;
  let store: Store;
  let sink: SmtpSink;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    sink = await startSmtpSink();
    sink.script({ kind: 'delay', ms: 15 }); // a slow server: about 300 messages/s over 5 connections
  });
  afterAll(async () => {
    await sink?.close();
    await store?.close();
    await database?.drop();
  });

  it('delivers every message after a restart, with duplicates bounded by the in-flight window', async () => {
    const env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-crash-')),
      FACTEUR_SMTP_URL: sink.url,
      FACTEUR_SMTP_POOL_SIZE: '5',
      FACTEUR_SEND_CONCURRENCY: '10',
      FACTEUR_JOB_LEASE: '2s',
      FACTEUR_LOG_LEVEL: 'info',
    };
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'crash');
    const first = await startServe(env);

    const post = (i: number) =>
      fetch(`${first.url}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: [`member${i}@example.com`],
          subject: `Newsletter ${i}`,
          text: `Hello ${i}`,
        }),
      }).then((r) => r.status);
    for (let i = 0; i < TOTAL; i += 50) {
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, j) => post(i + j)));
      expect(statuses.every((s) => s === 202)).toBe(true);
    }
    await sink.waitForMessages(TOTAL / 4, 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const inFlight = await countRows(store, 'jobs', 'running');
    const receivedAtKill = sink.messages.length;
    expect(receivedAtKill).toBeLessThan(TOTAL); // the kill really happened mid-stream
    expect(inFlight).toBeLessThanOrEqual(10);

    const second = await startServe(env);
    try {
      await vi.waitFor(
        async () => {
          expect(await countRows(store, 'messages', 'sent', '!=')).toBe(0);
        },
        { timeout: 60_000, interval: 250 },
      );
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }

    const ids = sink.messages.map((m) => headerValue(m.raw, 'Message-ID'));
    const unique = new Set(ids);
    expect(unique.size).toBe(TOTAL);
    const duplicates = ids.length - unique.size;
    expect(duplicates).toBeLessThanOrEqual(inFlight);
    const sending = await store.db
      .selectFrom('messages')
      .select('id')
      .where('status', '=', 'sending')
      .execute();
    expect(sending).toEqual([]);
    const open = await store.db
      .selectFrom('message_attempts')
      .select('id')
      .where('outcome', '=', 'in_progress')
      .execute();
    expect(open).toEqual([]);
    console.info(
      `kill -9 run: ${receivedAtKill} received before the kill, ${inFlight} in flight, ${duplicates} duplicate(s)`,
    );
  });
});
