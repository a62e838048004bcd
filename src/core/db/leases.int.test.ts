import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../../test/support/database.js';
import { ManualClock } from '../clock.js';
import { leaseIdentity } from '../instance.js';
import {
  acquireLease,
  LeaseHolder,
  type LeaseHolderOptions,
  openStore,
  releaseLease,
  type Store,
} from './index.js';

const skip = await databaseSkipReason();
const TTL = 30_000;
const gone = () => false;

/** Singleton leases (one watcher per mailbox folder) on both dialects. */
describe.skipIf(skip)('leases', () => {
  let database: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
  });
  afterEach(async () => {
    await store.db.deleteFrom('leases').execute();
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  const ownerOf = async (name: string) =>
    (await store.db.selectFrom('leases').select('owner').where('name', '=', name).executeTakeFirst())?.owner;

  it('is held by one owner until it expires or is released', async () => {
    const now = 1_000_000;
    expect(await acquireLease(store.db, { name: 'l', owner: 'a', ttlMs: TTL }, now)).toBe(true);
    expect(await acquireLease(store.db, { name: 'l', owner: 'b', ttlMs: TTL }, now + TTL - 1)).toBe(false);
    expect(await acquireLease(store.db, { name: 'l', owner: 'a', ttlMs: TTL }, now + 1000)).toBe(true); // renewed
    expect(await acquireLease(store.db, { name: 'l', owner: 'b', ttlMs: TTL }, now + TTL + 1)).toBe(false);
    expect(await acquireLease(store.db, { name: 'l', owner: 'b', ttlMs: TTL }, now + TTL + 1001)).toBe(true);
    await releaseLease(store.db, 'l', 'a'); // not a's any more: nothing happens
    expect(await ownerOf('l')).toBe('b');
    await releaseLease(store.db, 'l', 'b');
    expect(await acquireLease(store.db, { name: 'l', owner: 'a', ttlMs: TTL }, now + TTL + 1002)).toBe(true);
  });

  it('is taken back at once by a restarted instance, never early by another one', async () => {
    const now = 2_000_000;
    const crashed = leaseIdentity('host:/data', { pid: 10 });
    const restarted = leaseIdentity('host:/data', { pid: 11, isProcessAlive: gone });
    const other = leaseIdentity('other:/data', { pid: 12, isProcessAlive: gone });
    const take = (who: typeof crashed, at: number) =>
      acquireLease(
        store.db,
        { name: 'mailbox:m:INBOX', owner: who.owner, ttlMs: TTL, mayTakeOver: (o) => who.isEarlierRun(o) },
        at,
      );
    expect(await take(crashed, now)).toBe(true);
    // The crashed run's lease is still valid for 30 s: another instance waits it out...
    expect(await take(other, now + 1000)).toBe(false);
    expect(await ownerOf('mailbox:m:INBOX')).toBe(crashed.owner);
    // ...the same instance, restarted, takes it now, and then holds it against the other one.
    expect(await take(restarted, now + 1000)).toBe(true);
    expect(await ownerOf('mailbox:m:INBOX')).toBe(restarted.owner);
    expect(await take(other, now + 2000)).toBe(false);
    expect(await take(restarted, now + 3000)).toBe(true);
  });

  it('takes back a lease written with the bare instance id (before run ids)', async () => {
    const now = 3_000_000;
    expect(await acquireLease(store.db, { name: 'l', owner: 'host:/data', ttlMs: TTL }, now)).toBe(true);
    const restarted = leaseIdentity('host:/data');
    expect(
      await acquireLease(
        store.db,
        { name: 'l', owner: restarted.owner, ttlMs: TTL, mayTakeOver: (o) => restarted.isEarlierRun(o) },
        now + 1,
      ),
    ).toBe(true);
  });
  const expiryOf = async (name: string) =>
    Number(
      (await store.db.selectFrom('leases').select('expires_at').where('name', '=', name).executeTakeFirst())
        ?.expires_at,
    );

  describe('LeaseHolder', () => {
    function holder(clock: ManualClock, options: Partial<LeaseHolderOptions> = {}) {
      const lost: number[] = [];
      const lease = new LeaseHolder({
        db: store.db,
        clock,
        name: 'reports',
        owner: 'a',
        ttlMs: TTL,
        onLost: () => lost.push(clock.now()),
        ...options,
      });
      return { lease, lost };
    }

    it('renews the lease every third of its ttl on the clock, until paused', async () => {
      const clock = new ManualClock();
      const t0 = clock.now();
      const { lease, lost } = holder(clock);
      expect(await lease.acquire()).toBe(true);
      expect(lease.held).toBe(true);
      expect(await expiryOf('reports')).toBe(t0 + TTL);
      expect(clock.pendingTimers).toBe(1);
      clock.advance(TTL / 3 - 1);
      expect(await expiryOf('reports')).toBe(t0 + TTL); // not a millisecond early
      clock.advance(1);
      await vi.waitFor(async () => expect(await expiryOf('reports')).toBe(t0 + TTL / 3 + TTL));
      await vi.waitFor(() => expect(clock.pendingTimers).toBe(1)); // the next renewal is armed
      clock.advance(TTL / 3);
      await vi.waitFor(async () => expect(await expiryOf('reports')).toBe(t0 + (2 * TTL) / 3 + TTL));
      await vi.waitFor(() => expect(clock.pendingTimers).toBe(1));
      // Paused (between sessions, say): the row stays, nothing renews it, another owner waits.
      lease.pause();
      expect(clock.pendingTimers).toBe(0);
      clock.advance(TTL);
      expect(await expiryOf('reports')).toBe(t0 + (2 * TTL) / 3 + TTL);
      expect(await ownerOf('reports')).toBe('a');
      expect(lost).toEqual([]);
    });

    it('reports the loss when a renewal finds the lease taken, and stops renewing', async () => {
      const clock = new ManualClock();
      const { lease, lost } = holder(clock);
      expect(await lease.acquire()).toBe(true);
      // Another instance took it (the lease had lapsed while this process stalled).
      await store.db.updateTable('leases').set({ owner: 'b' }).where('name', '=', 'reports').execute();
      clock.advance(TTL / 3);
      await vi.waitFor(() => expect(lost).toEqual([clock.now()]));
      expect(lease.held).toBe(false);
      expect(clock.pendingTimers).toBe(0);
      expect(await ownerOf('reports')).toBe('b');
      // A later acquire finds it still taken; the holder stands by without timers.
      expect(await lease.acquire()).toBe(false);
      expect(clock.pendingTimers).toBe(0);
      await lease.release(); // not ours: b keeps it
      expect(await ownerOf('reports')).toBe('b');
      expect(lost).toHaveLength(1);
    });

    it('gives the lease up on release, even with a renewal in flight, so another owner takes it at once', async () => {
      const clock = new ManualClock();
      const { lease, lost } = holder(clock);
      expect(await lease.acquire()).toBe(true);
      clock.advance(TTL / 3); // a renewal starts and is still writing when release comes
      await lease.release();
      expect(lease.held).toBe(false);
      expect(await ownerOf('reports')).toBeUndefined();
      expect(clock.pendingTimers).toBe(0);
      expect(await acquireLease(store.db, { name: 'reports', owner: 'b', ttlMs: TTL }, clock.now())).toBe(
        true,
      );
      clock.advance(TTL);
      expect(await ownerOf('reports')).toBe('b');
      expect(lost).toEqual([]);
    });

    it('takes back at once the lease of an earlier run of its instance, never one of another instance', async () => {
      const clock = new ManualClock();
      const crashed = leaseIdentity('host:/data', { pid: 10 });
      const restarted = leaseIdentity('host:/data', { pid: 11, isProcessAlive: gone });
      const other = leaseIdentity('other:/data', { pid: 12, isProcessAlive: gone });
      const as = (who: typeof crashed) =>
        holder(clock, { owner: who.owner, mayTakeOver: (o) => who.isEarlierRun(o) }).lease;
      expect(await as(crashed).acquire()).toBe(true);
      clock.advance(1000);
      expect(await as(other).acquire()).toBe(false);
      const back = as(restarted);
      expect(await back.acquire()).toBe(true);
      expect(await ownerOf('reports')).toBe(restarted.owner);
      await back.release();
    });
  });
});
