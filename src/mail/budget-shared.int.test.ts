import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../test/support/database.js';
import { ManualClock } from '../core/clock.js';
import { openStore, type Store } from '../core/db/index.js';
import { JobDeferral } from '../core/jobs/index.js';
import { silentLogger } from '../core/observability/index.js';
import { type BudgetGrant, SendBudget } from './budget.js';
import { BudgetMetrics } from './budget-metrics.js';
import type { BudgetLimits } from './budget-model.js';

const skip = await databaseSkipReason();

/**
 * Budgets as instances share them: several `SendBudget`s (one per instance) on one row, each
 * with its own store connection, on one manual clock.
 */
describe.skipIf(skip)('a rate budget shared through the database', () => {
  let database: TestDatabase;
  const stores: Store[] = [];
  const budgets: SendBudget[] = [];
  let transport = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterEach(() => {
    for (const budget of budgets.splice(0)) budget.close();
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await database?.drop();
  });

  /** `count` instances' budgets of one transport (a fresh name per test, so a fresh row). */
  const instances = (
    count: number,
    limits: BudgetLimits,
    clock: ManualClock,
    maxWaitMs?: number,
  ): SendBudget[] => {
    const name = `t${++transport}`;
    return Array.from({ length: count }, () => {
      const store = openStore(database.config);
      stores.push(store);
      const budget = new SendBudget(name, limits, {
        store,
        clock,
        logger: silentLogger(),
        metrics: new BudgetMetrics(new Registry()),
        ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
      });
      budgets.push(budget);
      return budget;
    });
  };
  const signal = () => new AbortController().signal;

  it('never grants more than the rate in any window, whichever instance asks', async () => {
    const clock = new ManualClock(Date.now());
    const [a, b, c] = instances(3, { rate: { count: 3, windowMs: 1000 } }, clock, 60_000) as [
      SendBudget,
      SendBudget,
      SendBudget,
    ];
    const grants: number[] = [];
    const send = async (budget: SendBudget) => {
      const grant = await budget.acquire({ urgent: true, signal: signal() });
      grants.push(clock.now());
      budget.release(grant, { taken: true });
    };
    const all = Promise.all(Array.from({ length: 15 }, (_, i) => send([a, b, c][i % 3] as SendBudget)));
    for (let i = 0; i < 400 && grants.length < 15; i++) {
      clock.advance(25);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await all;
    grants.sort((x, y) => x - y);
    for (let i = 3; i < grants.length; i++)
      expect((grants[i] as number) - (grants[i - 3] as number)).toBeGreaterThanOrEqual(1000);
  });

  it('defers a send whose token is further off than the wait allowed, to the time it comes', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 30, 0));
    const [budget] = instances(1, { hourly: 1 }, clock) as [SendBudget];
    await budget.acquire({ urgent: true, signal: signal() });
    const refused = await budget.acquire({ urgent: true, signal: signal() }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(JobDeferral);
    expect(refused).toMatchObject({
      runAt: Date.UTC(2026, 0, 5, 10, 0, 0),
      error: { code: 'BUDGET_EXHAUSTED', details: { reason: 'hourly' } },
    });
  });

  it("keeps an urgent send's token from bulk sends of another instance that ask first", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 59, 0));
    const tenOClock = Date.UTC(2026, 0, 5, 10, 0, 0);
    const [bulkSide, urgentSide] = instances(2, { hourly: 2 }, clock) as [SendBudget, SendBudget];
    await urgentSide.acquire({ urgent: true, signal: signal() });
    await urgentSide.acquire({ urgent: true, signal: signal() });
    // The hour is used up: an urgent send is deferred to 10:00 and holds a token of that hour.
    const deferred = await urgentSide.acquire({ urgent: true, signal: signal() }).catch((e: unknown) => e);
    expect(deferred).toMatchObject({ runAt: tenOClock });

    clock.set(tenOClock);
    // Two bulk sends of the other instance ask first: one gets a token, the other waits.
    const bulkGrants: BudgetGrant[] = [];
    const bulk1 = bulkSide.acquire({ urgent: false, signal: signal() }).then((g) => bulkGrants.push(g));
    const bulk2 = bulkSide.acquire({ urgent: false, signal: signal() }).then(
      (g) => bulkGrants.push(g),
      (e) => e,
    );
    await vi.waitFor(() => expect(bulkGrants).toHaveLength(1));
    // The urgent one comes back (as its job would, at 10:00) and gets the token it held.
    await expect(
      urgentSide.acquire({ urgent: true, signal: signal(), holding: true }),
    ).resolves.toMatchObject({
      at: tenOClock,
    });
    await bulk1;
    // The second bulk send waited for the hold to lapse, then found the hour used up.
    clock.advance(1000);
    await expect(bulk2).resolves.toBeInstanceOf(JobDeferral);
    expect(bulkGrants).toHaveLength(1);
  });

  it('serves an urgent waiter before bulk ones; an aborted one leaves the queue and its hold', async () => {
    const clock = new ManualClock(Date.now());
    const [budget] = instances(1, { rate: { count: 1, windowMs: 1000 } }, clock) as [SendBudget];
    const first = await budget.acquire({ urgent: false, signal: signal() });
    const order: string[] = [];
    const aborted = new AbortController();
    const gone = budget.acquire({ urgent: true, signal: aborted.signal }).catch((e: unknown) => e);
    const send = (urgent: boolean) =>
      budget.acquire({ urgent, signal: signal() }).then((grant) => {
        order.push(urgent ? 'urgent' : 'bulk');
        budget.release(grant, { taken: true });
      });
    const bulk = send(false);
    const urgent = send(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    aborted.abort(new Error('shutting down'));
    await expect(gone).resolves.toMatchObject({ message: 'shutting down' });
    budget.release(first, { taken: true });
    for (let i = 0; i < 40 && order.length < 2; i++) {
      clock.advance(100);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all([bulk, urgent]);
    expect(order).toEqual(['urgent', 'bulk']);
  });
});
