import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../core/clock.js';
import { openStore, type Store } from '../core/db/index.js';
import { silentLogger } from '../core/observability/index.js';
import { REDACTED } from './model.js';
import { AuditLog } from './service.js';

/**
 * The audit log on the test dialect (SQLite, then PostgreSQL): recording alone and inside a
 * transaction, listing with filters and keyset pagination, the check constraints, and the
 * retention sweep on an injected clock.
 */

const skip = await databaseSkipReason();
const DAY = 86_400_000;

describe.skipIf(skip)('the audit log store', () => {
  let database: TestDatabase;
  let store: Store;
  const clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
  let audit: AuditLog;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    audit = new AuditLog({ store, clock, logger: silentLogger(), retentionMs: 30 * DAY, sweepBatch: 3 });
  });
  afterEach(async () => {
    await audit.stop();
    await store.db.deleteFrom('audit_log').execute();
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  const user = { kind: 'user' as const, id: 'u1', name: 'ada@example.com', role: 'admin' };
  const key = { kind: 'api_key' as const, id: 'k1', name: 'deploy', role: 'operator' };

  it('records an entry alone and lists it with every field, its documents redacted', async () => {
    await audit.record(store.db, {
      actor: user,
      action: 'user.updated',
      target: { type: 'user', id: 'u2' },
      address: '203.0.113.9',
      requestId: 'req-1',
      before: { role: 'viewer', password: 'old' },
      after: { role: 'operator', password: 'new' },
    });
    const page = await audit.list({ limit: 10 });
    expect(page).toEqual({
      items: [
        {
          id: expect.any(String),
          at: clock.now(),
          actor: user,
          action: 'user.updated',
          target: { type: 'user', id: 'u2' },
          address: '203.0.113.9',
          requestId: 'req-1',
          before: { role: 'viewer', password: REDACTED },
          after: { role: 'operator', password: REDACTED },
          outcome: 'ok',
        },
      ],
      nextCursor: null,
    });
  });

  it('writes inside a transaction: an entry rolls back with its change', async () => {
    await store
      .transaction(async (tx) => {
        await audit.record(tx.db, {
          actor: key,
          action: 'thing.deleted',
          target: { type: 'thing', id: 't' },
        });
        throw new Error('the change failed');
      })
      .catch(() => undefined);
    await store.transaction((tx) =>
      audit.record(tx.db, { actor: key, action: 'thing.created', target: { type: 'thing', id: 't' } }),
    );
    expect((await audit.list({ limit: 10 })).items.map((e) => e.action)).toEqual(['thing.created']);
  });

  it('lists newest first, filtered by action, actor, target and time, a page at a time', async () => {
    const start = clock.now();
    // 7 entries over 7 minutes, two of them in the same millisecond (the id breaks the tie).
    const plan: Array<[number, typeof user | typeof key, string, string]> = [
      [0, user, 'settings.endpoint.created', 'e1'],
      [60_000, key, 'settings.endpoint.updated', 'e1'],
      [120_000, user, 'settings.endpoint.updated', 'e2'],
      [120_000, key, 'settings.endpoint.updated', 'e1'],
      [180_000, user, 'user.created', 'u9'],
      [240_000, key, 'settings.endpoint.deleted', 'e1'],
      [300_000, user, 'settings.endpoint.updated', 'e1'],
    ];
    for (const [offset, actor, action, id] of plan)
      await audit.record(store.db, {
        actor,
        action,
        target: { type: action.startsWith('user') ? 'user' : 'endpoint', id },
        at: start + offset,
      });

    const all = await audit.list({ limit: 100 });
    expect(all.items.map((e) => e.at - start)).toEqual([
      300_000, 240_000, 180_000, 120_000, 120_000, 60_000, 0,
    ]);
    const [tieA, tieB] = all.items.slice(3, 5).map((e) => e.id) as [string, string];
    expect(tieA > tieB).toBe(true);

    // Pages of 2 walk the same order without gaps or repeats, across the tie.
    const walked: string[] = [];
    let cursor: { at: number; id: string } | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await audit.list({ limit: 2, ...(cursor ? { after: cursor } : {}) });
      walked.push(...page.items.map((e) => e.id));
      if (!page.nextCursor) break;
      const [at, id] = [
        Number(page.nextCursor.split('.')[0]),
        page.nextCursor.slice(page.nextCursor.indexOf('.') + 1),
      ];
      cursor = { at, id };
    }
    expect(walked).toEqual(all.items.map((e) => e.id));

    const actions = (filters: Parameters<AuditLog['list']>[0]) =>
      audit.list(filters).then((p) => p.items.map((e) => `${e.action}@${(e.at - start) / 60_000}`));
    expect(await actions({ limit: 10, action: 'settings.endpoint.updated' })).toEqual([
      'settings.endpoint.updated@5',
      'settings.endpoint.updated@2',
      'settings.endpoint.updated@2',
      'settings.endpoint.updated@1',
    ]);
    expect(await actions({ limit: 10, actorId: 'k1' })).toEqual([
      'settings.endpoint.deleted@4',
      'settings.endpoint.updated@2',
      'settings.endpoint.updated@1',
    ]);
    expect(await actions({ limit: 10, targetType: 'endpoint', targetId: 'e2' })).toEqual([
      'settings.endpoint.updated@2',
    ]);
    expect(await actions({ limit: 10, targetType: 'user' })).toEqual(['user.created@3']);
    expect(await actions({ limit: 10, since: start + 120_000, until: start + 240_000 })).toEqual([
      'user.created@3',
      'settings.endpoint.updated@2',
      'settings.endpoint.updated@2',
    ]);
    const filtered = await audit.list({ limit: 1, actorId: 'u1', action: 'settings.endpoint.updated' });
    expect(filtered.items).toHaveLength(1);
    expect(filtered.nextCursor).not.toBeNull();
  });

  it('refuses an actor kind or an outcome outside the lists, on both databases', async () => {
    const row = {
      id: '019b0000-0000-7000-8000-000000000001',
      at: clock.now(),
      actor_kind: 'user' as const,
      actor_id: null,
      actor_name: null,
      actor_role: null,
      action: 'x',
      target_type: 'x',
      target_id: null,
      address: null,
      request_id: null,
      before_json: null,
      after_json: null,
      outcome: 'ok' as const,
    };
    const badKind = { ...row, actor_kind: 'robot' } as unknown as typeof row;
    await expect(store.db.insertInto('audit_log').values(badKind).execute()).rejects.toThrow(
      /check|constraint/i,
    );
    const badOutcome = { ...row, outcome: 'maybe' } as unknown as typeof row;
    await expect(store.db.insertInto('audit_log').values(badOutcome).execute()).rejects.toThrow(
      /check|constraint/i,
    );
    await store.db.insertInto('audit_log').values(row).execute();
    expect((await audit.list({ limit: 10 })).items).toHaveLength(1);
  });

  it('sweeps entries past the retention in batches, at start and then every hour of the injected clock', async () => {
    const now = clock.now();
    // 7 old entries (more than two batches of 3) and 2 recent ones.
    for (let i = 0; i < 7; i++)
      await audit.record(store.db, {
        actor: { kind: 'system' },
        action: 'old',
        target: { type: 'x' },
        at: now - 31 * DAY - i,
      });
    await audit.record(store.db, {
      actor: { kind: 'system' },
      action: 'recent',
      target: { type: 'x' },
      at: now - 29 * DAY,
    });
    await audit.record(store.db, {
      actor: { kind: 'system' },
      action: 'recent',
      target: { type: 'x' },
      at: now,
    });

    audit.start();
    clock.advance(0); // the first sweep runs at start
    await audit.settled();
    expect((await audit.list({ limit: 100 })).items.map((e) => e.action)).toEqual(['recent', 'recent']);

    // Two days later the entry of 29 days ago is past the retention; the next hourly sweep takes it.
    // (A sweep is armed again when the one before it ends, so a long jump of the clock runs one.)
    clock.advance(2 * DAY);
    await audit.settled();
    expect((await audit.list({ limit: 100 })).items).toHaveLength(2);
    clock.advance(3_600_000);
    await audit.settled();
    const left = (await audit.list({ limit: 100 })).items;
    expect(left.map((e) => e.at)).toEqual([now]);

    // Stopped: no sweep runs any more.
    await audit.stop();
    await audit.record(store.db, { actor: { kind: 'system' }, action: 'old', target: { type: 'x' }, at: 0 });
    clock.advance(2 * DAY);
    await audit.settled();
    expect((await audit.list({ limit: 100 })).items).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
  });

  it('records after the fact without throwing, and settles', async () => {
    audit.recordLater({ actor: key, action: 'http.POST /api/x', target: { type: 'x', id: null } });
    audit.recordLater({ actor: key, action: 'http.POST /api/y', target: { type: 'y', id: null } });
    await audit.settled();
    expect((await audit.list({ limit: 10 })).items.map((e) => e.action).sort()).toEqual([
      'http.POST /api/x',
      'http.POST /api/y',
    ]);
  });
});
