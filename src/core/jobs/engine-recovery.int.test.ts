import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../../test/support/database.js';
import { fastRetries, gate, LEASE_MS, useEngineTestbed } from '../../../test/support/jobs.js';
import { ManualClock } from '../clock.js';
import type { QueueDefinition } from './contract.js';
import { getJob } from './store.js';

const skip = await databaseSkipReason();

/** Recovery: lost leases, draining at stop, workers killed with SIGKILL, restarts. */
describe.skipIf(skip)('JobEngine recovery', () => {
  const bed = useEngineTestbed();
  const { makeEngine } = bed;

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
    await vi.waitFor(() => expect(runsBy).toEqual(['A', 'B']), { timeout: 5000 });
    await vi.waitFor(async () =>
      expect(await getJob(bed.store.db, job.id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        result: { by: 'B' },
      }),
    );
    stuck.open(); // A wakes up late: its outcome must not overwrite B's
    await vi.waitFor(() => expect(a.activeCounts().q).toBe(0));
    expect(await getJob(bed.store.db, job.id)).toMatchObject({ status: 'succeeded', result: { by: 'B' } });
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
    await vi.waitFor(async () => expect((await getJob(bed.store.db, fast.job.id))?.status).toBe('succeeded'));
    clock.advance(10_000);
    await stopping;
    expect(await getJob(bed.store.db, slow.job.id)).toMatchObject({
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
      env: { ...process.env, FACTEUR_DATABASE_URL: bed.database.url, LEASE_MS: String(LEASE_MS), ...env },
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
    const orphan = await getJob(bed.store.db, ids[0] as string);
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
      expect(await getJob(bed.store.db, ids[0] as string)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
      }),
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
    const held = await getJob(bed.store.db, jobId);
    expect(held?.leaseOwner?.startsWith(`${instanceId}#${worker.child.pid}.`)).toBe(true);
    try {
      // While the worker lives, neither another instance nor a second process of the same
      // instance on this host touches its job (each start has finished its recovery pass).
      const other = makeEngine(new ManualClock(Date.now()), [crashQueue], bed.store, 'another-host:/data');
      const twin = makeEngine(new ManualClock(Date.now()), [crashQueue], bed.store, instanceId);
      await other.start();
      await twin.start();
      expect(await getJob(bed.store.db, jobId)).toMatchObject({
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
    const restarted = makeEngine(clock, [crashQueue], bed.store, instanceId);
    await restarted.start();
    await vi.waitFor(() => expect(ran).toEqual([jobId]), { timeout: 2000 });
    // Counted like an expired lease: the killed run was attempt 1.
    await vi.waitFor(async () =>
      expect(await getJob(bed.store.db, jobId)).toMatchObject({ status: 'succeeded', attempts: 2 }),
    );
  });
});
