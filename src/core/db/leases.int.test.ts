import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../../test/support/database.js';
import { leaseIdentity } from '../instance.js';
import { acquireLease, openStore, releaseLease, type Store } from './index.js';

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
});
