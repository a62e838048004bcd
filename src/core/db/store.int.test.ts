import { statSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createTestDatabase,
  databaseSkipReason,
  type TestDatabase,
  testDialect,
} from '../../../test/support/database.js';
import { openStore, type Store } from './index.js';

const skip = await databaseSkipReason();

describe.skipIf(skip)('store', () => {
  let database: TestDatabase;
  let store: Store;
  let reader: Store;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config, { poolSize: 4 });
    reader = openStore(database.config, { poolSize: 2 });
  });
  afterAll(async () => {
    await store?.close();
    await reader?.close();
    await database?.drop();
  });

  const keys = async () =>
    (await reader.db.selectFrom('settings').select('key').orderBy('key').execute()).map((r) => r.key);

  it('runs a transaction, with hooks and notifications only after commit, and none after a rollback', async () => {
    const heard: string[] = [];
    const unsubscribe = store.subscribe('test', (payload) => heard.push(payload));
    const hookSaw: string[][] = [];
    await store.transaction(async (tx) => {
      await tx.db.insertInto('settings').values({ key: 'a', value: '1', updated_at: 1 }).execute();
      tx.notify('test', 'committed');
      tx.afterCommit(() => void keys().then((k) => hookSaw.push(k)));
    });
    await expect(
      store.transaction(async (tx) => {
        await tx.db.insertInto('settings').values({ key: 'b', value: '1', updated_at: 1 }).execute();
        tx.notify('test', 'rolled back');
        tx.afterCommit(() => heard.push('hook of a rollback'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    // The hook's read and the notification are asynchronous: wait for them, not for a fixed
    // delay (20 ms was too short on a loaded machine).
    await vi.waitFor(() => {
      expect(hookSaw).toHaveLength(1);
      expect(heard).toContain('committed');
    });
    unsubscribe();
    expect(heard).toEqual(['committed']);
    expect(hookSaw).toEqual([['a']]); // visible from another connection when the hook ran
    expect(await keys()).toEqual(['a']);
    await store.db.deleteFrom('settings').execute();
  });

  it('group-commits concurrent calls: each isolated in a savepoint, each answered after the commit', async () => {
    const hooksRan: string[] = [];
    const calls = Array.from({ length: 40 }, (_, i) =>
      store.groupTransaction(async (tx) => {
        const key = `g${String(i).padStart(2, '0')}`;
        await tx.db
          .insertInto('settings')
          .values({ key, value: String(i), updated_at: 1 })
          .execute();
        tx.afterCommit(() => hooksRan.push(key));
        if (i % 10 === 3) throw new Error(`member ${i} fails`);
        return key;
      }),
    );
    const settled = await Promise.allSettled(calls);
    const failed = settled
      .filter((s) => s.status === 'rejected')
      .map((s) => String((s as PromiseRejectedResult).reason.message));
    expect(failed).toEqual(['member 3 fails', 'member 13 fails', 'member 23 fails', 'member 33 fails']);
    const written = await keys();
    expect(written).toHaveLength(36);
    expect(written).not.toContain('g03');
    expect(hooksRan.sort()).toEqual(written);
    // A value resolved by groupTransaction is already committed: another connection sees it.
    const key = await store.groupTransaction(async (tx) => {
      await tx.db.insertInto('settings').values({ key: 'late', value: 'x', updated_at: 1 }).execute();
      return 'late';
    });
    expect(await keys()).toContain(key);
    await store.db.deleteFrom('settings').execute();
  });

  it.skipIf(testDialect() !== 'sqlite')(
    'SQLite FULL: commits append to the WAL and each transaction waits for a shared fsync',
    async () => {
      if (database.config.kind !== 'sqlite') return;
      const full = openStore({ ...database.config, synchronous: 'full' });
      try {
        const mode = await sql<{ synchronous: number }>`pragma synchronous`.execute(full.db);
        expect(mode.rows[0]?.synchronous).toBe(1); // NORMAL on the connection; durability comes from WalSync
        const walSync = (full as unknown as { walSync: { syncs: number } }).walSync;
        const before = walSync.syncs;
        await full.transaction((tx) =>
          tx.db.insertInto('settings').values({ key: 'one', value: '1', updated_at: 1 }).execute(),
        );
        expect(walSync.syncs).toBe(before + 1);
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            full.transaction((tx) =>
              tx.db
                .insertInto('settings')
                .values({ key: `w${i}`, value: '1', updated_at: 1 })
                .execute(),
            ),
          ),
        );
        const shared = walSync.syncs - before - 1;
        expect(shared).toBeGreaterThanOrEqual(1);
        expect(shared).toBeLessThan(30); // commits that finished during a sync shared the next one
        await full.db.deleteFrom('settings').execute();
      } finally {
        await full.close();
      }
    },
  );

  it.skipIf(testDialect() !== 'sqlite')(
    'SQLite: the checkpoint thread moves the WAL into the database file',
    async () => {
      if (database.config.kind !== 'sqlite') return;
      const path = database.config.path;
      const checkpointed = openStore(database.config, { backgroundCheckpoint: true });
      try {
        const sizeBefore = statSync(path).size;
        for (let batch = 0; batch < 10; batch++) {
          await checkpointed.transaction(async (tx) => {
            for (let i = 0; i < 50; i++) {
              await tx.db
                .insertInto('settings')
                .values({ key: `c${batch}-${i}`, value: 'x'.repeat(500), updated_at: 1 })
                .execute();
            }
          });
        }
        // Automatic checkpoints are pushed far away; only the thread can have grown the file.
        await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(sizeBefore + 200_000), {
          timeout: 5000,
        });
        await checkpointed.db.deleteFrom('settings').execute();
      } finally {
        await checkpointed.close();
      }
    },
  );
});
