import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import { openStore, type Store } from '../../src/core/db/index.js';
import { JobEngine, type QueueDefinition, type RetryPolicy } from '../../src/core/jobs/index.js';
import { silentLogger } from '../../src/core/observability/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** Helpers for the job engine's tests: a database, engines on manual clocks, gates. */

export const LEASE_MS = 5000;
export const fastRetries: RetryPolicy = { kind: 'schedule', delaysMs: [1000, 2000], jitter: 0 };

/** A handler's run that the test can finish when it wants. */
export interface Gate {
  open(): void;
  promise: Promise<void>;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, promise };
}

/** What a describe block gets from `useEngineTestbed`. */
export interface EngineTestbed {
  readonly database: TestDatabase;
  readonly store: Store;
  /** An engine on `clock` serving `queues`, stopped (deadline 0) after the test. */
  makeEngine(clock: ManualClock, queues: QueueDefinition[], target?: Store, instanceId?: string): JobEngine;
}

/**
 * Registers the hooks of a describe block: a fresh database (a store with 8 connections) for
 * the block, engines stopped and jobs deleted after each test.
 */
export function useEngineTestbed(): EngineTestbed {
  let database: TestDatabase | undefined;
  let store: Store | undefined;
  const engines: JobEngine[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config, { poolSize: 8 });
  });
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.stop(0);
    await store?.db.deleteFrom('jobs').execute();
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  const testbed: EngineTestbed = {
    get database() {
      if (!database) throw new Error('the test database is not ready (use it inside a test)');
      return database;
    },
    get store() {
      if (!store) throw new Error('the test store is not ready (use it inside a test)');
      return store;
    },
    makeEngine(clock, queues, target, instanceId) {
      const engine = new JobEngine({
        store: target ?? testbed.store,
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
    },
  };
  return testbed;
}
