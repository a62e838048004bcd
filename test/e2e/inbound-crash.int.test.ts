import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import { countRows, createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../support/dovecot.js';
import { type HttpReceiver, startHttpReceiver } from '../support/http-receiver.js';
import { appendAll, createFolder, streamMessage } from '../support/imap-stream.js';
import { type FacteurProcess, spawnFacteur, startServe } from '../support/process.js';
import { serviceSkipReason } from '../support/services.js';

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());
const TOTAL = 500;
const ENDPOINT_CONCURRENCY = 10;

/**
 * `facteur serve` started again on the same database, like `startServe`, with a longer wait: it
 * recovers the dead process's expired job leases before it listens, and this file runs two
 * Facteur processes while another test file runs beside it.
 */
async function restartServe(env: Record<string, string>): Promise<FacteurProcess & { url: string }> {
  const run = spawnFacteur(['serve'], { FACTEUR_PORT: '0', FACTEUR_CATCHER_PORT: '0', ...env });
  const line = await run.waitForLine(/"event":"facteur\.started"/, 45_000);
  return Object.assign(run, { url: (JSON.parse(line) as { url: string }).url });
}

/**
 * Inbound mail under the worst crash: a `facteur serve` process watches a Dovecot folder while
 * 500 messages arrive, is killed with SIGKILL when about a third of the events reached the
 * receiver, and is started again on the same database. Every message must be recorded once,
 * routed once and acknowledged; the receiver may see an event twice (same webhook-id) only if
 * it was in flight at the kill.
 */
describe.skipIf(skip)('kill -9 while watching a mailbox that receives 500 messages', () => {
  let database: TestDatabase;
  let store: Store;
  let receiver: HttpReceiver;
  let dovecot: DovecotInstance;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    receiver = await startHttpReceiver();
    receiver.respond({ kind: 'delay', ms: 20, after: { status: 204 } }); // a slow receiver: deliveries in flight
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot?.close();
    await receiver?.close();
    await store?.close();
    await database?.drop();
  });

  /** Ledger rows of the mailbox, by state. */
  async function ledgerStates(mailboxId: string): Promise<Record<string, number>> {
    const rows = await store.db
      .selectFrom('inbound_messages')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('mailbox_id', '=', mailboxId)
      .groupBy('state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  it('records, routes and acknowledges every message once after a restart', async () => {
    const env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-inbound-crash-')),
      FACTEUR_JOB_LEASE: '2s',
      FACTEUR_LOG_LEVEL: 'info',
    };
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'crash');
    const first = await startServe(env);
    const api = async (path: string, body: unknown) => {
      const response = await fetch(`${first.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await response.json()) as { id: string };
      expect(response.status, JSON.stringify(json)).toBe(201);
      return json;
    };
    const endpoint = await api('/api/endpoints', {
      name: 'crash receiver',
      url: `${receiver.url}/hook`,
      concurrency: ENDPOINT_CONCURRENCY,
    });
    await api('/api/rules', { name: 'everything', actions: [{ type: 'webhook', endpoints: [endpoint.id] }] });
    await createFolder(dovecot, 'Crash');
    const mailbox = await api('/api/mailboxes', {
      name: 'crash',
      host: '127.0.0.1',
      port: dovecot.port,
      tls: 'none',
      auth: { type: 'password', user: 'alice', password: 'secret' },
      folders: ['Crash'],
      startFrom: 'all',
    });

    // Mail keeps arriving while Facteur is killed and while it is down.
    let appended = 0;
    const subjects = Array.from({ length: TOTAL }, (_, i) => `crash ${i + 1}`);
    const appending = appendAll(
      dovecot,
      'Crash',
      subjects.map((_, i) => streamMessage('crash', i + 1)),
      { appenders: 1, onAppended: (done) => (appended = done) },
    );
    await receiver.waitForRequests(Math.round(TOTAL / 3), 45_000);
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await first.exited).toBe('SIGKILL');

    const receivedAtKill = receiver.requests.length;
    const appendedAtKill = appended;
    const atKill = await ledgerStates(mailbox.id);
    const recordedAtKill = Object.values(atKill).reduce((sum, n) => sum + n, 0);
    const inFlight = await countRows(store, 'jobs', 'running');
    expect(receivedAtKill).toBeLessThan(TOTAL); // the kill really happened mid-stream
    await appending;

    const restartedAt = Date.now();
    const second = await restartServe(env);
    const startupMs = Date.now() - restartedAt;
    const recoveredJobs = second.stdout
      .split('\n')
      .filter((line) => line.includes('"event":"job.recovered"')).length;
    let watcherBackMs: number | null = null;
    try {
      await vi.waitFor(
        async () => {
          if (watcherBackMs === null) {
            // The same instance restarted: it takes its dead run's folder lease back at once.
            const view = await fetch(`${second.url}/api/mailboxes/${mailbox.id}`, {
              headers: { authorization: `Bearer ${key}` },
            }).then((r) => r.json() as Promise<{ watchers: Array<{ connectedSince: string | null }> }>);
            const since = view.watchers[0]?.connectedSince;
            if (since) watcherBackMs = Date.parse(since) - killedAt;
          }
          expect(await ledgerStates(mailbox.id)).toEqual({ acknowledged: TOTAL });
        },
        { timeout: 140_000, interval: 250 },
      );
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }

    // Nothing lost: every message reached the receiver.
    const received = receiver.requests.map((r) => ({
      webhookId: String(r.headers['webhook-id']),
      subject: r.json<{ data: { subject: string } }>().data.subject,
    }));
    expect(new Set(received.map((r) => r.subject))).toEqual(new Set(subjects));
    // Nothing handled twice: one ledger row per message and per (UIDVALIDITY, UID), one routing each.
    const rows = await store.db
      .selectFrom('inbound_messages')
      .select(['id', 'uidvalidity', 'uid', 'message_id', 'skip_reason'])
      .where('mailbox_id', '=', mailbox.id)
      .execute();
    expect(rows).toHaveLength(TOTAL);
    expect(new Set(rows.map((r) => `${r.uidvalidity}:${r.uid}`)).size).toBe(TOTAL);
    expect(rows.map((r) => Number(r.uid)).sort((a, b) => a - b)).toEqual(subjects.map((_, i) => i + 1));
    expect(new Set(rows.map((r) => r.message_id)).size).toBe(TOTAL);
    expect(rows.filter((r) => r.skip_reason !== null)).toEqual([]);
    const routed = await store.db
      .selectFrom('inbound_message_events')
      .select(['inbound_id', 'event_id'])
      .execute();
    expect(routed).toHaveLength(TOTAL);
    expect(new Set(routed.map((r) => r.inbound_id)).size).toBe(TOTAL);
    const jobs = await store.db
      .selectFrom('jobs')
      .select(['status', 'result'])
      .where('queue', '=', 'inbound.route')
      .execute();
    expect(jobs).toHaveLength(TOTAL);
    expect(jobs.filter((j) => j.status !== 'succeeded')).toEqual([]);
    const rerunsFindingWorkDone = jobs.filter((j) => j.result?.includes('alreadyRouted')).length;
    expect(await countRows(store, 'webhook_deliveries')).toBe(TOTAL);
    expect(await countRows(store, 'webhook_deliveries', 'succeeded')).toBe(TOTAL);
    // Repeats at the receiver: the same event (same webhook-id), only what was in flight.
    const ids = received.map((r) => r.webhookId);
    const unique = new Set(ids);
    expect(unique.size).toBe(TOTAL);
    const repeats = ids.length - unique.size;
    expect(repeats).toBeLessThanOrEqual(ENDPOINT_CONCURRENCY);
    console.info(
      `inbound kill -9 run: before the kill ${appendedAtKill} appended, ${recordedAtKill} recorded ` +
        `(${JSON.stringify(atKill)}), ${receivedAtKill} received, ${inFlight} job(s) running; ` +
        `restarted in ${startupMs} ms (${recoveredJobs} expired job lease(s) recovered first); ` +
        `watcher connected again ${watcherBackMs} ms after the kill; ` +
        `${rerunsFindingWorkDone} route re-run(s) found the work done; ${repeats} repeat(s); ` +
        `all acknowledged ${Date.now() - killedAt} ms after the kill`,
    );
  }, 240_000);
});
