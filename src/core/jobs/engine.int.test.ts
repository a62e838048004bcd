import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  countRows,
  createTestDatabase,
  databaseSkipReason,
  type TestDatabase,
  testDialect,
} from '../../../test/support/database.js';
import { ManualClock } from '../clock.js';
import { openStore, type Store } from '../db/index.js';
import { AppError } from '../errors.js';
import { silentLogger } from '../observability/logger.js';
import { JobEngine, type QueueDefinition } from './engine.js';
import { JobDeferral, type RetryPolicy } from './model.js';
import { enqueueJob, getJob, replayJob } from './store.js';

const skip = await databaseSkipReason();
const LEASE_MS = 5000;
const fastRetries: RetryPolicy = { kind: 'schedule', delaysMs: [1000, 2000], jitter: 0 };

/** A handler's run that the test can finish when it wants. */
interface Gate {
  open(): void;
  promise: Promise<void>;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, promise };
}

describe.skipIf(skip)('JobEngine', () => {
  let database: TestDatabase;
  let store: Store;
  const engines: JobEngine[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config, { poolSize: 8 });
  });
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.stop(0);
    await store.db.deleteFrom('jobs').execute();
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  function makeEngine(
    clock: ManualClock,
    queues: QueueDefinition[],
    target: Store = store,
    instanceId?: string,
  ): JobEngine {
    const engine = new JobEngine({
      store: target,
      clock,
      logger: silentLogger(),
      leaseMs: LEASE_MS,
      pollIntervalMs: 3_600_000, // the safety poll never fires unless a test advances an hour
      metrics: new Registry(),
      random: () => 0.5,
      ...(instanceId !== undefined ? { instanceId } : {}),
    });
    for (const queue of queues) engine.register(queue);
    engines.push(engine);
    return engine;
  }

  it('starts a job as soon as it is committed, without waiting for a poll', async () => {
    const clock = new ManualClock(Date.now());
    const seen: string[] = [];
    const engine = makeEngine(clock, [
      { name: 'q', concurrency: 1, retry: fastRetries, handle: async (job) => void seen.push(job.id) },
    ]);
    await engine.start();
    const { job } = await engine.enqueue({ queue: 'q', payload: { n: 1 }, maxAttempts: 1 });
    await vi.waitFor(() => expect(seen).toEqual([job.id]), { timeout: 2000 });
    await vi.waitFor(async () => expect((await getJob(store.db, job.id))?.status).toBe('succeeded'));
  });

  it('enqueues inside the caller transaction: a rollback leaves no job and runs nothing', async () => {
    const clock = new ManualClock(Date.now());
    const ran: string[] = [];
    const engine = makeEngine(clock, [
      { name: 'q', concurrency: 1, retry: fastRetries, handle: async (j) => void ran.push(j.id) },
    ]);
    await engine.start();
    await expect(
      store.transaction(async (tx) => {
        await enqueueJob(tx, { queue: 'q', payload: {}, maxAttempts: 1 }, clock.now());
        throw new Error('domain write failed');
      }),
    ).rejects.toThrow('domain write failed');
    expect(await countRows(store, 'jobs')).toBe(0);
    // A committed job after it proves the engine was listening all along.
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 1 });
    await vi.waitFor(() => expect(ran).toEqual([job.id]));
  });

  it('returns the existing job for a repeated idempotency key', async () => {
    const clock = new ManualClock(Date.now());
    const engine = makeEngine(clock, []);
    const first = await engine.enqueue({
      queue: 'q',
      payload: { a: 1 },
      maxAttempts: 1,
      idempotencyKey: 'k1',
    });
    const second = await engine.enqueue({
      queue: 'q',
      payload: { a: 2 },
      maxAttempts: 1,
      idempotencyKey: 'k1',
    });
    const other = await engine.enqueue({ queue: 'other', payload: {}, maxAttempts: 1, idempotencyKey: 'k1' });
    expect(first.created).toBe(true);
    expect(second).toMatchObject({ created: false, job: { id: first.job.id, payload: { a: 1 } } });
    expect(other.created).toBe(true);
  });

  it('retries on its schedule, goes dead when attempts run out, and runs again on replay', async () => {
    const clock = new ManualClock(Date.now());
    const attemptsAt: number[] = [];
    let failing = true;
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 1,
        retry: fastRetries,
        handle: async () => {
          attemptsAt.push(clock.now());
          if (failing) throw new AppError('SMTP_TRANSIENT', '451 later');
          return { delivered: true };
        },
      },
    ]);
    await engine.start();
    const t0 = clock.now();
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 3 });
    await vi.waitFor(async () => expect((await getJob(store.db, job.id))?.status).toBe('queued'));
    await vi.waitFor(() => expect(attemptsAt).toHaveLength(1));
    await vi.waitFor(async () => expect((await getJob(store.db, job.id))?.runAt).toBe(t0 + 1000));
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(attemptsAt).toHaveLength(1); // not a millisecond early
    clock.advance(1);
    await vi.waitFor(() => expect(attemptsAt).toHaveLength(2));
    await vi.waitFor(async () => expect((await getJob(store.db, job.id))?.runAt).toBe(t0 + 1000 + 2000));
    clock.advance(2000);
    await vi.waitFor(async () => expect((await getJob(store.db, job.id))?.status).toBe('dead'));
    expect(attemptsAt).toEqual([t0, t0 + 1000, t0 + 3000]);
    const dead = await getJob(store.db, job.id);
    expect(dead).toMatchObject({ attempts: 3, lastError: { code: 'SMTP_TRANSIENT', message: '451 later' } });

    failing = false;
    const replayed = await store.transaction((tx) => replayJob(tx, job.id, clock.now()));
    expect(replayed).toMatchObject({ status: 'queued', attempts: 0, replays: 1 });
    await vi.waitFor(async () =>
      expect(await getJob(store.db, job.id)).toMatchObject({
        status: 'succeeded',
        result: { delivered: true },
      }),
    );
    expect(await store.transaction((tx) => replayJob(tx, job.id, clock.now()))).toBeUndefined(); // succeeded: not replayable
  });

  it('fails a job at once on a non-retryable error', async () => {
    const clock = new ManualClock(Date.now());
    let runs = 0;
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 1,
        retry: fastRetries,
        handle: async () => {
          runs++;
          throw new AppError('SMTP_REJECTED', '550 no such user');
        },
      },
    ]);
    await engine.start();
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 5 });
    await vi.waitFor(async () =>
      expect(await getJob(store.db, job.id)).toMatchObject({ status: 'failed', attempts: 1 }),
    );
    expect(runs).toBe(1);
  });

  it('defers without spending an attempt', async () => {
    const clock = new ManualClock(Date.now());
    let runs = 0;
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 1,
        retry: fastRetries,
        handle: async () => {
          runs++;
          if (runs === 1) throw new JobDeferral(clock.now() + 60_000, 'outside the window');
        },
      },
    ]);
    await engine.start();
    const t0 = clock.now();
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 1 });
    await vi.waitFor(async () =>
      expect(await getJob(store.db, job.id)).toMatchObject({
        status: 'queued',
        attempts: 0,
        runAt: t0 + 60_000,
      }),
    );
    expect(runs).toBe(1);
    clock.advance(60_000);
    await vi.waitFor(async () =>
      expect(await getJob(store.db, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 }),
    );
  });

  it('starts a scheduled job when its time comes, from a timer rather than the poll', async () => {
    const clock = new ManualClock(Date.now());
    const ran: number[] = [];
    const engine = makeEngine(clock, [
      { name: 'q', concurrency: 1, retry: fastRetries, handle: async () => void ran.push(clock.now()) },
    ]);
    await engine.start();
    const runAt = clock.now() + 30_000;
    await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 1, runAt });
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toEqual([]);
    clock.advance(30_000);
    await vi.waitFor(() => expect(ran).toEqual([runAt]));
  });

  it('limits concurrency per queue and per key, so a slow key does not hold up others', async () => {
    const clock = new ManualClock(Date.now());
    const gates = new Map<string, Gate>();
    const running = new Set<string>();
    let peak = 0;
    const started: string[] = [];
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 3,
        keyConcurrency: 1,
        retry: fastRetries,
        handle: async (job) => {
          const name = (job.payload as { name: string }).name;
          started.push(name);
          running.add(name);
          peak = Math.max(peak, running.size);
          const g = gate();
          gates.set(name, g);
          await g.promise;
          running.delete(name);
        },
      },
    ]);
    for (const [name, key] of [
      ['slow-1', 'slow'],
      ['slow-2', 'slow'],
      ['slow-3', 'slow'],
      ['fast-1', 'fast'],
      ['free-1', undefined],
      ['free-2', undefined],
    ] as const) {
      await engine.enqueue({
        queue: 'q',
        payload: { name },
        maxAttempts: 1,
        ...(key ? { concurrencyKey: key } : {}),
      });
    }
    await engine.start();
    await vi.waitFor(() => expect(started.length).toBe(3));
    // One job per key at most, three in all: the two other slow jobs wait, the others go ahead.
    expect(started).toEqual(['slow-1', 'fast-1', 'free-1']);
    gates.get('fast-1')?.open();
    await vi.waitFor(() => expect(started).toEqual(['slow-1', 'fast-1', 'free-1', 'free-2']));
    gates.get('slow-1')?.open();
    await vi.waitFor(() => expect(started).toContain('slow-2'));
    expect(started).not.toContain('slow-3');
    gates.get('slow-2')?.open();
    await vi.waitFor(() => expect(started).toContain('slow-3'));
    for (const g of gates.values()) g.open();
    await vi.waitFor(() => expect(engine.activeCounts().q).toBe(0));
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('never runs a job twice when two engines share the database', async () => {
    const clockA = new ManualClock(Date.now());
    const clockB = new ManualClock(Date.now());
    const runs = new Map<string, number>();
    const handler: QueueDefinition['handle'] = async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await new Promise((r) => setImmediate(r));
    };
    const second = openStore(database.config, { poolSize: 8 });
    try {
      const a = makeEngine(clockA, [{ name: 'q', concurrency: 16, retry: fastRetries, handle: handler }]);
      const b = makeEngine(
        clockB,
        [{ name: 'q', concurrency: 16, retry: fastRetries, handle: handler }],
        second,
      );
      await Promise.all([a.start(), b.start()]);
      const total = 600;
      for (let i = 0; i < total; i += 50) {
        await store.transaction(async (tx) => {
          for (let j = i; j < i + 50; j++)
            await enqueueJob(tx, { queue: 'q', payload: { j }, maxAttempts: 3 }, clockA.now());
        });
      }
      await vi.waitFor(
        async () => {
          expect(await countRows(store, 'jobs', 'succeeded')).toBe(total);
        },
        { timeout: 30_000, interval: 100 },
      );
      expect(runs.size).toBe(total);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      await a.stop(1000);
      await b.stop(1000);
    } finally {
      await second.close();
    }
  });

  it.skipIf(testDialect() !== 'postgres')(
    'wakes an engine on another connection through LISTEN/NOTIFY, without polling',
    async () => {
      const other = openStore(database.config, { poolSize: 2 });
      try {
        const ran: string[] = [];
        // The engine's poll never fires (manual clock): only a notification can wake it.
        const clock = new ManualClock(Date.now());
        const engine = makeEngine(
          clock,
          [{ name: 'q', concurrency: 1, retry: fastRetries, handle: async (j) => void ran.push(j.id) }],
          other,
        );
        await engine.start();
        const { job } = await store.transaction((tx) =>
          enqueueJob(tx, { queue: 'q', payload: {}, maxAttempts: 1 }, clock.now()),
        );
        await vi.waitFor(() => expect(ran).toEqual([job.id]), { timeout: 5000 });
        await engine.stop(1000);
      } finally {
        await other.close();
      }
    },
  );

  it('recovers a job whose worker stopped renewing its lease, and ignores the stale worker outcome', async () => {
    const clockA = new ManualClock(Date.now());
    const clockB = new ManualClock(Date.now());
    const stuck = gate();
    const runsBy: string[] = [];
    const queue = (name: string, wait: boolean): QueueDefinition => ({
      name: 'q',
      concurrency: 1,
      retry: fastRetries,
      handle: async () => {
        runsBy.push(name);
        if (wait) await stuck.promise;
        return { by: name };
      },
    });
    const a = makeEngine(clockA, [queue('A', true)]);
    const { job } = await a.enqueue({ queue: 'q', payload: {}, maxAttempts: 3 });
    await a.start();
    await vi.waitFor(() => expect(runsBy).toEqual(['A']));
    // B starts while A's lease is valid: it must not touch the job.
    const b = makeEngine(clockB, [queue('B', false)]);
    await b.start();
    clockB.advance(LEASE_MS - 1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(runsBy).toEqual(['A']);
    // A's clock stands still (a stalled process): its lease runs out in B's time.
    clockB.advance(3 * LEASE_MS);
    await vi.waitFor(() => expect(runsBy).toEqual(['A', 'B']));
    await vi.waitFor(async () =>
      expect(await getJob(store.db, job.id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        result: { by: 'B' },
      }),
    );
    stuck.open(); // A wakes up late: its outcome must not overwrite B's
    await vi.waitFor(() => expect(a.activeCounts().q).toBe(0));
    expect(await getJob(store.db, job.id)).toMatchObject({ status: 'succeeded', result: { by: 'B' } });
  });

  it('drains running jobs on stop, and puts back those still running at the deadline', async () => {
    const clock = new ManualClock(Date.now());
    const quick = gate();
    const slowStarted = gate();
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 2,
        retry: fastRetries,
        handle: async (job, ctx) => {
          if ((job.payload as { slow: boolean }).slow) {
            slowStarted.open();
            await new Promise((_, reject) =>
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
            );
          }
          await quick.promise;
        },
      },
    ]);
    const fast = await engine.enqueue({ queue: 'q', payload: { slow: false }, maxAttempts: 1 });
    const slow = await engine.enqueue({ queue: 'q', payload: { slow: true }, maxAttempts: 1 });
    await engine.start();
    await slowStarted.promise;
    const stopping = engine.stop(10_000);
    await new Promise((r) => setTimeout(r, 20));
    quick.open();
    await vi.waitFor(async () => expect((await getJob(store.db, fast.job.id))?.status).toBe('succeeded'));
    clock.advance(10_000);
    await stopping;
    expect(await getJob(store.db, slow.job.id)).toMatchObject({
      status: 'queued',
      attempts: 0,
      leaseOwner: null,
      lastError: { code: 'JOB_INTERRUPTED' },
    });
  });

  /** The engine of test/fixtures/engine-worker.ts in a child process, once its job runs. */
  async function spawnWorker(env: Record<string, string> = {}) {
    const fixture = fileURLToPath(new URL('../../../test/fixtures/engine-worker.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, FACTEUR_DATABASE_URL: database.url, LEASE_MS: String(LEASE_MS), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const ids: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.startsWith('started ')) ids.push(line.slice(8));
    });
    await vi.waitFor(() => expect(ids).toHaveLength(1), { timeout: 20_000 });
    expect(child.exitCode).toBeNull(); // it must die holding the lease, not finish
    return {
      child,
      ids,
      /** kill -9, resolved once the process is gone. */
      kill: async () => {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  it('puts back the job of a worker killed with SIGKILL once its lease expires', async () => {
    const { ids, kill } = await spawnWorker();
    const killedAt = Date.now();
    await kill();
    const orphan = await getJob(store.db, ids[0] as string);
    expect(orphan).toMatchObject({ status: 'running', attempts: 1 });

    const clock = new ManualClock(killedAt);
    const ran: string[] = [];
    const engine = makeEngine(clock, [
      { name: 'crash', concurrency: 1, retry: fastRetries, handle: async (job) => void ran.push(job.id) },
    ]);
    await engine.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toEqual([]); // the lease still holds
    // Drive time forward a second at a time until the maintenance pass finds the expired lease.
    await vi.waitFor(
      () => {
        clock.advance(1000);
        expect(ran).toEqual(ids);
      },
      { timeout: 5000, interval: 20 },
    );
    expect(clock.now()).toBeGreaterThan(orphan?.leaseExpiresAt ?? 0);
    await vi.waitFor(async () =>
      expect(await getJob(store.db, ids[0] as string)).toMatchObject({ status: 'succeeded', attempts: 2 }),
    );
  });

  it('puts back at start, without waiting for the lease, the jobs a killed run of the same instance held', async () => {
    const instanceId = 'test-host:/var/lib/facteur';
    const worker = await spawnWorker({ INSTANCE_ID: instanceId });
    const jobId = worker.ids[0] as string;
    const ran: string[] = [];
    const crashQueue: QueueDefinition = {
      name: 'crash',
      concurrency: 1,
      retry: fastRetries,
      handle: async (job) => void ran.push(job.id),
    };
    const held = await getJob(store.db, jobId);
    expect(held?.leaseOwner?.startsWith(`${instanceId}#${worker.child.pid}.`)).toBe(true);
    try {
      // While the worker lives, neither another instance nor a second process of the same
      // instance on this host touches its job (each start has finished its recovery pass).
      const other = makeEngine(new ManualClock(Date.now()), [crashQueue], store, 'another-host:/data');
      const twin = makeEngine(new ManualClock(Date.now()), [crashQueue], store, instanceId);
      await other.start();
      await twin.start();
      expect(await getJob(store.db, jobId)).toMatchObject({
        status: 'running',
        leaseOwner: held?.leaseOwner,
      });
      await other.stop(0);
      await twin.stop(0);
    } finally {
      await worker.kill();
    }
    expect(ran).toEqual([]);

    // Restarted: the time stands still, so the worker's lease has not expired; only the
    // recovery of the instance's own earlier run can put the job back.
    const clock = new ManualClock(Date.now());
    expect(clock.now()).toBeLessThan(held?.leaseExpiresAt ?? 0);
    const restarted = makeEngine(clock, [crashQueue], store, instanceId);
    await restarted.start();
    await vi.waitFor(() => expect(ran).toEqual([jobId]), { timeout: 2000 });
    // Counted like an expired lease: the killed run was attempt 1.
    await vi.waitFor(async () =>
      expect(await getJob(store.db, jobId)).toMatchObject({ status: 'succeeded', attempts: 2 }),
    );
  });
});
