import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import { countRows, createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { type HttpReceiver, startHttpReceiver } from '../support/http-receiver.js';
import { startServe } from '../support/process.js';

const skip = await databaseSkipReason();
const TOTAL = 5000;

/**
 * Webhook delivery under the worst crash: 5,000 deliveries toward a slow receiver, `kill -9`
 * a quarter of the way, a restart. Every event must reach the receiver, every delivery must
 * end `succeeded`, and repeats (same webhook-id) are bounded by what was in flight.
 */
describe.skipIf(skip)('kill -9 while delivering 5,000 webhooks', () => {
  let database: TestDatabase;
  let store: Store;
  let receiver: HttpReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    receiver = await startHttpReceiver();
    receiver.respond({ kind: 'delay', ms: 20, after: { status: 204 } }); // about 500 deliveries/s at concurrency 10
  });
  afterAll(async () => {
    await receiver?.close();
    await store?.close();
    await database?.drop();
  });

  it('delivers every event after a restart, with repeats bounded by the in-flight window', async () => {
    const env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-webhook-crash-')),
      FACTEUR_JOB_LEASE: '2s',
      FACTEUR_LOG_LEVEL: 'info',
    };
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'crash');
    const first = await startServe(env);
    const api = (path: string, body: unknown) =>
      fetch(`${first.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const created = await api('/api/endpoints', {
      name: 'crash receiver',
      url: `${receiver.url}/hook`,
      concurrency: 10,
    });
    expect(created.status).toBe(201);
    for (let i = 0; i < TOTAL; i += 100) {
      const statuses = await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          api('/api/events', { type: 'member.updated', payload: { member: i + j } }).then((r) => r.status),
        ),
      );
      expect(statuses.every((s) => s === 202)).toBe(true);
    }
    await receiver.waitForRequests(TOTAL / 4, 60_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const inFlight = await countRows(store, 'jobs', 'running');
    const receivedAtKill = receiver.requests.length;
    expect(receivedAtKill).toBeLessThan(TOTAL); // the kill really happened mid-stream
    expect(inFlight).toBeLessThanOrEqual(100); // claimed; at most the endpoint's 10 were sending

    const second = await startServe(env);
    try {
      await vi.waitFor(
        async () => expect(await countRows(store, 'webhook_deliveries', 'succeeded', '!=')).toBe(0),
        { timeout: 90_000, interval: 250 },
      );
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }

    const ids = receiver.requests.map((r) => String(r.headers['webhook-id']));
    const unique = new Set(ids);
    expect(unique.size).toBe(TOTAL);
    const members = new Set(receiver.requests.map((r) => r.json<{ data: { member: number } }>().data.member));
    expect(members.size).toBe(TOTAL);
    const repeats = ids.length - unique.size;
    expect(repeats).toBeLessThanOrEqual(10); // the endpoint's concurrency: what can be in flight
    expect(await countRows(store, 'webhook_deliveries')).toBe(TOTAL);
    console.info(
      `webhook kill -9 run: ${receivedAtKill} received before the kill, ${inFlight} in flight, ${repeats} repeat(s)`,
    );
  }, 240_000); // 5,000 published over HTTP, delivered, killed, restarted: minutes on a busy PostgreSQL
});
