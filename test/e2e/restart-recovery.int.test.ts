import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { getJob } from '../../src/core/jobs/index.js';
import { silentLogger } from '../../src/core/observability/index.js';
import {
  createTestDatabase,
  databaseSkipReason,
  type TestDatabase,
  testDialect,
} from '../support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../support/dovecot.js';
import { createFolder, dovecotMailbox } from '../support/imap-stream.js';
import { type FacteurProcess, startServe } from '../support/process.js';
import { serviceSkipReason } from '../support/services.js';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

const skip = await databaseSkipReason();
/** Much longer than the test: only the recovery of the instance's own earlier run explains a quick pickup. */
const LEASE = '30s';
/** How soon after the restarted instance is ready its interrupted work must be running again. */
const PICKUP_MS = 2000;
const SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

/**
 * Restart after kill -9 (issue 9, item 8): the restarted process is the same instance (same
 * host and data directory), so it takes back what its dead run held at once, jobs and mailbox
 * folder leases, instead of waiting for the leases to expire. Another instance never does.
 */
describe.skipIf(skip)('restart after kill -9', () => {
  let database: TestDatabase;
  let store: Store;
  let sink: SmtpSink;
  let key: string;
  const running: FacteurProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    sink = await startSmtpSink();
    ({ key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'restart'));
  });
  afterEach(async () => {
    for (const instance of running.splice(0)) {
      instance.child.kill('SIGKILL');
      await instance.exited;
    }
    sink.reset();
  });
  afterAll(async () => {
    await sink?.close();
    await store?.close();
    await database?.drop();
  });

  const env = (dataDir: string, extra: Record<string, string> = {}) => ({
    FACTEUR_DATABASE_URL: database.url,
    FACTEUR_DATA_DIR: dataDir,
    FACTEUR_SMTP_URL: sink.url,
    FACTEUR_JOB_LEASE: LEASE,
    // Instances sharing a database share the secret key (Facteur refuses to start otherwise).
    FACTEUR_SECRET_KEY: SECRET_KEY,
    FACTEUR_LOG_LEVEL: 'info',
    ...extra,
  });
  const serve = async (variables: Record<string, string>) => {
    const instance = await startServe(variables);
    running.push(instance);
    return instance;
  };
  const kill9 = async (instance: FacteurProcess) => {
    instance.child.kill('SIGKILL');
    expect(await instance.exited).toBe('SIGKILL');
    running.splice(running.indexOf(instance), 1);
  };
  const send = async (url: string, subject: string) => {
    const response = await fetch(`${url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: ['member@example.com'], subject, text: 'hello' }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status, JSON.stringify(body)).toBe(202);
    const row = await store.db
      .selectFrom('messages')
      .select('job_id')
      .where('id', '=', body.id)
      .executeTakeFirstOrThrow();
    return { id: body.id, jobId: row.job_id };
  };
  const dataAttemptsFor = (subject: string) => sink.attempts.filter((a) => a.subject === subject);

  it('runs the interrupted send again within 2 s of the restarted instance being ready', async () => {
    // The first DATA is never answered: the send hangs, holding its job's 30 s lease, until the kill.
    sink.script((ctx) => (ctx.attempt === 1 ? 'hang' : 'accept'));
    const variables = env(mkdtempSync(join(tmpdir(), 'facteur-restart-')));
    const first = await serve(variables);
    const message = await send(first.url, 'interrupted');
    await sink.waitForAttempts(1, 20_000);
    const held = await getJob(store.db, message.jobId);
    expect(held).toMatchObject({ status: 'running', attempts: 1 });
    await kill9(first);

    const second = await serve(variables);
    const readyAt = Date.now();
    // Polled with a deadline: the second DATA of the same message, sent by the restarted process.
    await vi.waitFor(() => expect(dataAttemptsFor('interrupted')).toHaveLength(2), {
      timeout: PICKUP_MS,
      interval: 20,
    });
    const pickedUpAt = Date.now();
    // The dead run's lease was still valid: waiting it out would have taken until then.
    expect(pickedUpAt).toBeLessThan(held?.leaseExpiresAt ?? 0);
    const [before, after] = dataAttemptsFor('interrupted');
    expect(after?.messageId).toBe(before?.messageId);

    await vi.waitFor(
      async () =>
        expect(await getJob(store.db, message.jobId)).toMatchObject({ status: 'succeeded', attempts: 2 }),
      { timeout: 10_000, interval: 50 },
    );
    const attempts = await store.db
      .selectFrom('message_attempts')
      .select(['number', 'outcome', 'error_code'])
      .where('message_id', '=', message.id)
      .orderBy('number')
      .execute();
    // The killed run counts as an attempt, as when an expired lease is recovered.
    expect(attempts).toMatchObject([
      { number: 1, outcome: 'interrupted', error_code: 'JOB_LEASE_EXPIRED' },
      { number: 2, outcome: 'sent' },
    ]);
    const recovered = await second.waitForLine(/"event":"engine\.recovered_own"/, 1000);
    expect(JSON.parse(recovered)).toMatchObject({ count: 1 });
    console.info(
      `restart after kill -9: interrupted send running again ${pickedUpAt - readyAt} ms after ready`,
    );
  });

  it.skipIf(testDialect() !== 'postgres')(
    'leaves the jobs of another live instance alone, even when it starts',
    async () => {
      sink.script((ctx) => (ctx.attempt === 1 ? 'hang' : 'accept'));
      // One send slot: while its send hangs, the first instance can claim nothing else.
      const first = await serve(
        env(mkdtempSync(join(tmpdir(), 'facteur-live-a-')), { FACTEUR_SEND_CONCURRENCY: '1' }),
      );
      const stuck = await send(first.url, 'held by a live instance');
      await sink.waitForAttempts(1, 20_000);
      const held = await getJob(store.db, stuck.jobId);
      expect(held?.status).toBe('running');

      // Another instance (another data directory) starts: its start-up recovery is done once it is ready.
      const other = await serve(env(mkdtempSync(join(tmpdir(), 'facteur-live-b-'))));
      expect(other.stdout).not.toContain('"event":"engine.recovered_own"');
      // It works (it sends the next message, which only it can claim)...
      await send(other.url, 'sent by the other instance');
      await sink.waitForMessages(1, 20_000);
      expect(sink.messages.map((m) => m.subject)).toEqual(['sent by the other instance']);
      // ...and the first instance's job is still its own, sent once.
      expect(await getJob(store.db, stuck.jobId)).toMatchObject({
        status: 'running',
        attempts: 1,
        leaseOwner: held?.leaseOwner,
      });
      expect(dataAttemptsFor('held by a live instance')).toHaveLength(1);
    },
  );
});

const dovecotSkip = skip || serviceSkipReason('dovecot', await probeDovecot());

/** The mailbox side of the same rule: one watcher per folder, its lease taken back at once by the restarted instance. */
describe.skipIf(dovecotSkip)('restart after kill -9 with a mailbox watched', () => {
  let database: TestDatabase;
  let store: Store;
  let dovecot: DovecotInstance;
  const running: FacteurProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    dovecot = await startDovecot();
    await createFolder(dovecot, 'Restart');
  });
  afterAll(async () => {
    for (const instance of running) instance.child.kill('SIGKILL');
    await dovecot?.close();
    await store?.close();
    await database?.drop();
  });

  const folderLease = () =>
    store.db
      .selectFrom('leases')
      .select(['owner', 'expires_at'])
      .where('name', 'like', 'mailbox:%:Restart')
      .executeTakeFirst();

  it('takes the folder lease of its dead run back within 2 s of being ready, not after its 30 s', async () => {
    const { key } = await createApiKey({ store, clock: systemClock, logger: silentLogger() }, 'restart');
    const variables = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-restart-watch-')),
      FACTEUR_LOG_LEVEL: 'info',
    };
    const first = await startServe(variables);
    running.push(first);
    const api = (url: string, method: string, path: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const created = await api(first.url, 'POST', '/api/mailboxes', dovecotMailbox(dovecot, 'Restart'));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const connected = async (url: string) => {
      const view = await api(url, 'GET', `/api/mailboxes/${created.body.id as string}`);
      return (view.body.watchers as Array<{ connectedSince: string | null }>)[0]?.connectedSince ?? null;
    };
    await vi.waitFor(async () => expect(await connected(first.url)).not.toBeNull(), { timeout: 20_000 });
    const held = await folderLease();
    expect(held?.owner).toContain('#');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = await startServe(variables);
    running.push(second);
    const readyAt = Date.now();
    await vi.waitFor(
      async () => {
        expect((await folderLease())?.owner).not.toBe(held?.owner);
        expect(await connected(second.url)).not.toBeNull();
      },
      { timeout: PICKUP_MS, interval: 50 },
    );
    const backAt = Date.now();
    expect(backAt).toBeLessThan(Number(held?.expires_at));
    // The same instance (host and data directory), another run.
    const instanceOf = (owner: string | undefined) => owner?.slice(0, owner.lastIndexOf('#'));
    expect(instanceOf((await folderLease())?.owner)).toBe(instanceOf(held?.owner));
    await second.waitForLine(/"event":"watcher\.lease_recovered"/, 1000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.info(`restart after kill -9: folder watched again ${backAt - readyAt} ms after ready`);
  });
});
