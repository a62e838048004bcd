import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import {
  countRows,
  createTestDatabase,
  databaseSkipReason,
  type TestDatabase,
  testDialect,
} from '../support/database.js';
import { type FacteurProcess, startServe } from '../support/process.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

const skip =
  testDialect() === 'postgres'
    ? await databaseSkipReason()
    : 'several instances share a PostgreSQL database (this run is SQLite)';
const TOTAL = 5000;

/** Two Facteur processes on one PostgreSQL share the outbox: every message is sent exactly once. */
describe.skipIf(skip)('two instances on one PostgreSQL', () => {
  let database: TestDatabase;
  let store: Store;
  let sink: SmtpSink;
  const instances: Array<FacteurProcess & { url: string }> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    for (const instance of instances) instance.child.kill('SIGKILL');
    await sink?.close();
    await store?.close();
    await database?.drop();
  });

  it(`send ${TOTAL} messages with none sent twice`, async () => {
    const env = (name: string) => ({
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), `facteur-${name}-`)),
      FACTEUR_SMTP_URL: sink.url,
      FACTEUR_SEND_CONCURRENCY: '20',
      // Instances sharing a database share the secret key (Facteur refuses to start otherwise).
      FACTEUR_SECRET_KEY: Buffer.alloc(32, 9).toString('base64'),
      FACTEUR_LOG_LEVEL: 'info',
    });
    instances.push(await startServe(env('a')), await startServe(env('b')));
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'multi');
    const post = (i: number) =>
      fetch(`${instances[i % 2]?.url}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: [`m${i}@example.com`], subject: `n${i}`, text: 'x' }),
      }).then((r) => r.status);
    for (let i = 0; i < TOTAL; i += 100) {
      const statuses = await Promise.all(Array.from({ length: 100 }, (_, j) => post(i + j)));
      expect(statuses.every((s) => s === 202)).toBe(true);
    }
    await sink.waitForMessages(TOTAL, 120_000);
    await vi.waitFor(
      async () => {
        expect(await countRows(store, 'messages', 'sent')).toBe(TOTAL);
      },
      { timeout: 30_000, interval: 200 },
    );

    // Both processes did part of the work. (A message is marked sent just before its job's
    // settlement is recorded and counted, so the counters may trail for a moment.)
    const settledBy = () =>
      Promise.all(
        instances.map(async (instance) => {
          const metrics = await (await fetch(`${instance.url}/metrics`)).text();
          return Number(
            /facteur_jobs_settled_total\{queue="mail\.send",outcome="succeeded"\} (\d+)/.exec(metrics)?.[1] ??
              0,
          );
        }),
      );
    await vi.waitFor(async () => expect((await settledBy()).reduce((a, b) => a + b, 0)).toBe(TOTAL), {
      timeout: 10_000,
    });
    expect((await settledBy()).every((n) => n > 0)).toBe(true);

    for (const instance of instances.splice(0)) {
      instance.child.kill('SIGTERM');
      expect(await instance.exited).toBe(0);
    }
    const ids = sink.messages.map((m) => headerValue(m.raw, 'Message-ID'));
    expect(ids).toHaveLength(TOTAL);
    expect(new Set(ids).size).toBe(TOTAL);
  }, 150_000); // a correctness test: 5,000 sends through two processes, slower on a loaded CI machine
});
