import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { countRows, databaseSkipReason, testDialect } from '../../../test/support/database.js';
import { fastRetries, type Gate, gate, useEngineTestbed } from '../../../test/support/jobs.js';
import { ManualClock } from '../clock.js';
import { openStore } from '../db/index.js';
import { AppError } from '../errors.js';
import type { QueueDefinition } from './contract.js';
import type { JobEngine } from './engine.js';
import { JobDeferral } from './model.js';
import { claimJobs, enqueueJob, getJob, renewLeases, replayJob } from './store.js';

const skip = await databaseSkipReason();

/** Running jobs: wake-up, retries, deferrals, schedules, concurrency, several engines. */
describe.skipIf(skip)('JobEngine', () => {
  const bed = useEngineTestbed();
  const { makeEngine } = bed;

  it('starts a job as soon as it is committed, without waiting for a poll', async () => {
    const clock = new ManualClock(Date.now());
    const seen: string[] = [];
    const engine = makeEngine(clock, [
      { name: 'q', concurrency: 1, retry: fastRetries, handle: async (job) => void seen.push(job.id) },
    ]);
    await engine.start();
    const { job } = await engine.enqueue({ queue: 'q', payload: { n: 1 }, maxAttempts: 1 });
    await vi.waitFor(() => expect(seen).toEqual([job.id]), { timeout: 2000 });
    await vi.waitFor(async () => expect((await getJob(bed.store.db, job.id))?.status).toBe('succeeded'));
  });

  it('enqueues inside the caller transaction: a rollback leaves no job and runs nothing', async () => {
    const clock = new ManualClock(Date.now());
    const ran: string[] = [];
    const engine = makeEngine(clock, [
      { name: 'q', concurrency: 1, retry: fastRetries, handle: async (j) => void ran.push(j.id) },
    ]);
    await engine.start();
    await expect(
      bed.store.transaction(async (tx) => {
        await enqueueJob(tx, { queue: 'q', payload: {}, maxAttempts: 1 }, clock.now());
        throw new Error('domain write failed');
      }),
    ).rejects.toThrow('domain write failed');
    expect(await countRows(bed.store, 'jobs')).toBe(0);
    // A committed job after it proves the engine was listening all along.
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 1 });
    await vi.waitFor(() => expect(ran).toEqual([job.id]));
  });

  it('writes outcomes finishing over many turns in a few shared transactions while many jobs run', async () => {
    const clock = new ManualClock(Date.now());
    const count = 40;
    const releases = new Map<number, () => void>();
    const transactions = new Set<unknown>();
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: count,
        retry: fastRetries,
        handle: (job) =>
          new Promise<void>((resolve) => releases.set((job.payload as { n: number }).n, resolve)),
        onSettled: async (tx) => void transactions.add(tx),
      },
    ]);
    await engine.start();
    for (let n = 0; n < count; n++) await engine.enqueue({ queue: 'q', payload: { n }, maxAttempts: 1 });
    await vi.waitFor(() => expect(releases.size).toBe(count));
    // One job finishes per turn of the event loop: without the linger, one commit each.
    for (let n = 0; n < count; n++) {
      releases.get(n)?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await vi.waitFor(async () => expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(count));
    expect(transactions.size).toBeGreaterThan(0);
    expect(transactions.size).toBeLessThanOrEqual(count / 4);
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
    await vi.waitFor(async () => expect((await getJob(bed.store.db, job.id))?.status).toBe('queued'));
    await vi.waitFor(() => expect(attemptsAt).toHaveLength(1));
    await vi.waitFor(async () => expect((await getJob(bed.store.db, job.id))?.runAt).toBe(t0 + 1000));
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(attemptsAt).toHaveLength(1); // not a millisecond early
    clock.advance(1);
    await vi.waitFor(() => expect(attemptsAt).toHaveLength(2));
    await vi.waitFor(async () => expect((await getJob(bed.store.db, job.id))?.runAt).toBe(t0 + 1000 + 2000));
    clock.advance(2000);
    await vi.waitFor(async () => expect((await getJob(bed.store.db, job.id))?.status).toBe('dead'));
    expect(attemptsAt).toEqual([t0, t0 + 1000, t0 + 3000]);
    const dead = await getJob(bed.store.db, job.id);
    expect(dead).toMatchObject({ attempts: 3, lastError: { code: 'SMTP_TRANSIENT', message: '451 later' } });

    failing = false;
    const replayed = await bed.store.transaction((tx) => replayJob(tx, job.id, clock.now()));
    expect(replayed).toMatchObject({ status: 'queued', attempts: 0, replays: 1 });
    await vi.waitFor(async () =>
      expect(await getJob(bed.store.db, job.id)).toMatchObject({
        status: 'succeeded',
        result: { delivered: true },
      }),
    );
    expect(await bed.store.transaction((tx) => replayJob(tx, job.id, clock.now()))).toBeUndefined(); // succeeded: not replayable
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
      expect(await getJob(bed.store.db, job.id)).toMatchObject({ status: 'failed', attempts: 1 }),
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
      expect(await getJob(bed.store.db, job.id)).toMatchObject({
        status: 'queued',
        attempts: 0,
        runAt: t0 + 60_000,
      }),
    );
    expect(runs).toBe(1);
    clock.advance(60_000);
    await vi.waitFor(async () =>
      expect(await getJob(bed.store.db, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 }),
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
    const second = openStore(bed.database.config, { poolSize: 8 });
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
        await bed.store.transaction(async (tx) => {
          for (let j = i; j < i + 50; j++)
            await enqueueJob(tx, { queue: 'q', payload: { j }, maxAttempts: 3 }, clockA.now());
        });
      }
      await vi.waitFor(
        async () => {
          expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(total);
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
      const other = openStore(bed.database.config, { poolSize: 2 });
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
        const { job } = await bed.store.transaction((tx) =>
          enqueueJob(tx, { queue: 'q', payload: {}, maxAttempts: 1 }, clock.now()),
        );
        await vi.waitFor(() => expect(ran).toEqual([job.id]), { timeout: 5000 });
        await engine.stop(1000);
      } finally {
        await other.close();
      }
    },
  );

  // PostgreSQL locks rows; SQLite has one writer, so the renewal simply runs after the batch.
  it.skipIf(testDialect() !== 'postgres')(
    'renews leases without waiting for a row that a settlement holds, and still counts it as held',
    async () => {
      const now = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 2; i++)
        ids.push(
          (
            await bed.store.transaction((tx) =>
              enqueueJob(tx, { queue: 'r', payload: { i }, maxAttempts: 1 }, now),
            )
          ).job.id,
        );
      const claim = { queue: 'r', limit: 2, owner: 'w1', leaseMs: 1000, now, excludeKeys: [] };
      expect(await claimJobs(bed.store, claim)).toHaveLength(2);
      const [locked, free] = ids as [string, string];
      // A settlement batch in progress: it holds the row of `locked` until it commits.
      const release = gate();
      const lockHeld = gate();
      const holder = bed.store.transaction(async (tx) => {
        await sql`update jobs set updated_at = ${now} where id = ${locked}`.execute(tx.db);
        lockHeld.open();
        await release.promise;
      });
      await lockHeld.promise;
      try {
        const renewal = renewLeases(bed.store, 'w1', now + 500, 1000);
        const blocked = new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 3000));
        const held = await Promise.race([renewal, blocked]);
        expect(held).toEqual(new Set(ids));
        expect((await getJob(bed.store.db, free))?.leaseExpiresAt).toBe(now + 1500);
        // Not renewed this pass (the next one does), and not abandoned either.
        expect((await getJob(bed.store.db, locked))?.leaseExpiresAt).toBe(now + 1000);
      } finally {
        release.open();
        await holder;
      }
    },
  );

  it('waits for a deferral still in the settlement batch before bringing deferred jobs forward', async () => {
    const clock = new ManualClock(Date.now());
    const t0 = clock.now();
    let runs = 0;
    const brought: Array<Promise<number>> = [];
    const engine: JobEngine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 1,
        retry: fastRetries,
        handle: async () => {
          runs++;
          if (runs > 1) return;
          // The breaker's probe succeeds right after this run was refused: the bring-forward
          // comes while the deferral (30 s away) is pending, before its batch is written.
          setImmediate(() => brought.push(engine.runDeferredNow('q', 'SMTP_UNAVAILABLE')));
          const error = new AppError('SMTP_UNAVAILABLE', 'the circuit breaker is open');
          throw new JobDeferral(clock.now() + 30_000, error.message, error);
        },
      },
    ]);
    await engine.start();
    const { job } = await engine.enqueue({ queue: 'q', payload: {}, maxAttempts: 1 });
    await vi.waitFor(() => expect(brought).toHaveLength(1));
    // The deferral was recorded first, then brought forward: the job runs now, not in 30 s.
    expect(await brought[0]).toBe(1);
    await vi.waitFor(async () =>
      expect(await getJob(bed.store.db, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 }),
    );
    expect(runs).toBe(2);
    expect(clock.now()).toBe(t0);
  });
});
