import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { countRows, databaseSkipReason } from '../../../test/support/database.js';
import { fastRetries, gate, useEngineTestbed } from '../../../test/support/jobs.js';
import { ManualClock } from '../clock.js';
import { Claimer } from './claimer.js';
import { getJob } from './store.js';

const skip = await databaseSkipReason();

/** The batch-shaped contract: one read ahead per claim, one hook call per settled batch. */
describe.skipIf(skip)('JobEngine batches', () => {
  const bed = useEngineTestbed();
  const { makeEngine } = bed;

  it('records a batch of successes in one statement with each job its own result, leaving out a job whose lease was lost', async () => {
    const clock = new ManualClock(Date.now());
    const release = gate();
    const started: number[] = [];
    const hookCalls: number[][] = [];
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 5,
        retry: fastRetries,
        handle: async (job) => {
          const { n } = job.payload as { n: number };
          started.push(n);
          await release.promise;
          return { n, text: `result of ${n}` };
        },
        onSettled: async (_tx, settled) =>
          void hookCalls.push(settled.map(({ job }) => (job.payload as { n: number }).n)),
      },
    ]);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++)
      ids.push((await engine.enqueue({ queue: 'q', payload: { n }, maxAttempts: 1 })).job.id);
    await engine.start();
    await vi.waitFor(() => expect(started).toHaveLength(5));
    // Another worker took job 2 over (its lease expired, say): its outcome here must not count.
    await sql`update jobs set lease_owner = 'thief' where id = ${ids[2]}`.execute(bed.store.db);
    release.open();
    await vi.waitFor(async () => expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(4));
    expect(hookCalls.flat().sort()).toEqual([0, 1, 3, 4]);
    // Finished in the same turn: one transaction, so one call of the hook.
    expect(hookCalls).toHaveLength(1);
    for (const n of [0, 1, 3, 4])
      expect((await getJob(bed.store.db, ids[n] as string))?.result).toEqual({ n, text: `result of ${n}` });
    expect(await getJob(bed.store.db, ids[2] as string)).toMatchObject({
      status: 'running',
      leaseOwner: 'thief',
      result: null,
    });
  });

  it('reads ahead once per claim before the handlers start, and runs the jobs even when the read fails', async () => {
    const clock = new ManualClock(Date.now());
    const events: string[] = [];
    let failRead = false;
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 10,
        retry: fastRetries,
        handle: async (job) => void events.push(`run ${(job.payload as { n: number }).n}`),
        onClaimed: async (_db, jobs) => {
          events.push(`read ${jobs.map((job) => (job.payload as { n: number }).n).join(',')}`);
          if (failRead) throw new Error('the read-ahead failed');
        },
      },
    ]);
    for (let n = 0; n < 3; n++) await engine.enqueue({ queue: 'q', payload: { n }, maxAttempts: 1 });
    await engine.start();
    await vi.waitFor(async () => expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(3));
    expect(events[0]).toBe('read 0,1,2');
    expect(events.slice(1).sort()).toEqual(['run 0', 'run 1', 'run 2']);

    failRead = true;
    await engine.enqueue({ queue: 'q', payload: { n: 3 }, maxAttempts: 1 });
    await vi.waitFor(async () => expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(4));
    expect(events.slice(4)).toEqual(['read 3', 'run 3']);
  });

  it('claims the jobs that take a batch’s slots in the batch’s own transaction, and starts them after it', async () => {
    const clock = new ManualClock(Date.now());
    const events: string[] = [];
    // Called through: each call's third argument collects what that settlement claimed.
    const spy = vi.spyOn(Claimer.prototype, 'claimInSettlement');
    const engine = makeEngine(clock, [
      {
        name: 'q',
        concurrency: 2,
        retry: fastRetries,
        handle: async (job) => void events.push(`run ${(job.payload as { n: number }).n}`),
        onSettled: async (_tx, settled) =>
          void events.push(`settled ${settled.map(({ job }) => (job.payload as { n: number }).n).join(',')}`),
      },
      {
        name: 'keyed',
        concurrency: 2,
        keyConcurrency: 1,
        retry: fastRetries,
        handle: async () => undefined,
      },
    ]);
    try {
      for (let n = 0; n < 8; n++) await engine.enqueue({ queue: 'q', payload: { n }, maxAttempts: 1 });
      for (let n = 0; n < 4; n++)
        await engine.enqueue({ queue: 'keyed', payload: { n }, concurrencyKey: `k${n % 2}`, maxAttempts: 1 });
      await engine.start();
      await vi.waitFor(async () => expect(await countRows(bed.store, 'jobs', 'succeeded')).toBe(12));
      const claims = spy.mock.calls.flatMap((call) => call[2]);
      const claimed = claims.flatMap((claim) => claim.jobs.map((job) => (job.payload as { n: number }).n));
      // The first two were claimed by the engine's pump; the later ones mostly by settlements.
      expect(claimed.length).toBeGreaterThanOrEqual(2);
      expect(claims.every((claim) => claim.queue.def.name === 'q')).toBe(true);
      expect(events.filter((e) => e.startsWith('run')).sort()).toEqual(
        Array.from({ length: 8 }, (_, n) => `run ${n}`).sort(),
      );
      for (const n of claimed) {
        // The batch whose transaction claimed job n was settled before job n ran.
        const ran = events.indexOf(`run ${n}`);
        const settledBefore = events.slice(0, ran).filter((e) => e.startsWith('settled'));
        expect(settledBefore.length).toBeGreaterThan(0);
      }
    } finally {
      spy.mockRestore();
    }
  });
});
