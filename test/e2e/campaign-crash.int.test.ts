import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { startServe } from '../support/process.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

const skip = await databaseSkipReason();
const TOTAL = 5000;

/**
 * A campaign's promise under the worst crash: 5,000 recipients, `kill -9` three times while it
 * sends, a restart after each. Every recipient receives it, repeats stay within what was in
 * flight at the kills, and the campaign ends `finished` with counts that match the sink's.
 */
describe.skipIf(skip)('kill -9 three times during a 5,000-recipient campaign', () => {
  let database: TestDatabase;
  let store: Store;
  let sink: SmtpSink;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink?.close();
    await store?.close();
    await database?.drop();
  });

  it('resumes where it stopped each time and finishes with every recipient served once', async () => {
    const env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-campaign-crash-')),
      FACTEUR_SMTP_URL: sink.url,
      FACTEUR_SMTP_POOL_SIZE: '10',
      FACTEUR_SEND_CONCURRENCY: '20',
      FACTEUR_JOB_LEASE: '2s',
      FACTEUR_CAMPAIGN_WINDOW: '200',
      FACTEUR_LOG_LEVEL: 'info',
    };
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'crash');
    let run = await startServe(env);
    const recipients = Array.from({ length: TOTAL }, (_, i) => ({
      address: `m${i}@example.org`,
      fields: { n: i },
    }));
    const created = await fetch(`${run.url}/api/campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Crash',
        subject: 'Hello {{ n }}',
        text: 'Hi {{ email }}',
        recipients,
        start: 'now',
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    let inFlight = 0;
    for (const share of [0.15, 0.4, 0.65]) {
      const started = Date.now();
      await sink.waitForMessages(Math.floor(TOTAL * share), 60_000);
      console.info(`reached ${share} in ${Date.now() - started} ms`);
      run.child.kill('SIGKILL');
      expect(await run.exited).toBe('SIGKILL');
      inFlight += await store.db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('queue', '=', 'mail.send')
        .where('status', '=', 'running')
        .executeTakeFirstOrThrow()
        .then((r) => Number(r.n));
      expect(sink.messages.length).toBeLessThan(TOTAL); // the kill really happened mid-campaign
      run = await startServe(env);
    }
    try {
      await vi.waitFor(
        async () => {
          const row = await store.db
            .selectFrom('campaigns')
            .select('status')
            .where('id', '=', id)
            .executeTakeFirstOrThrow();
          expect(row.status).toBe('finished');
        },
        { timeout: 180_000, interval: 250 },
      );
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    }
    const to = sink.messages.map((m) => m.to[0]);
    const unique = new Set(to);
    expect(unique.size).toBe(TOTAL);
    const repeats = to.length - unique.size;
    expect(repeats).toBeLessThanOrEqual(inFlight);
    // Each repeat is the same message (same Message-ID) sent again, never a second rendering.
    const ids = new Set(sink.messages.map((m) => headerValue(m.raw, 'Message-ID')));
    expect(ids.size).toBe(TOTAL);
    const counts = await store.db
      .selectFrom('campaign_recipients')
      .select((eb) => ['state', eb.fn.countAll<number | string>().as('n')])
      .where('campaign_id', '=', id)
      .groupBy('state')
      .execute();
    expect(counts.map((c) => [c.state, Number(c.n)])).toEqual([['sent', TOTAL]]);
    const unsent = await store.db
      .selectFrom('messages')
      .leftJoin('jobs', 'jobs.id', 'messages.job_id')
      .select([
        'messages.id',
        'messages.status',
        'messages.to_addresses',
        'messages.last_error_code',
        'jobs.status as job',
        'jobs.attempts',
        'jobs.last_error_code as job_error',
      ])
      .where('messages.status', '!=', 'sent')
      .execute();
    expect(unsent).toEqual([]);
    console.info(`campaign kill -9 x3: ${inFlight} in flight at the kills, ${repeats} repeat(s)`);
  }, 330_000);
});
