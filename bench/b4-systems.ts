import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { systemClock } from '../src/core/clock.js';
import type { DatabaseConfig } from '../src/core/config/index.js';
import { migrateToLatest, openStore, type Store } from '../src/core/db/index.js';
import { enqueueJobs, JobEngine, type JobSpec } from '../src/core/jobs/index.js';
import { silentLogger } from '../src/core/observability/logger.js';

/**
 * The two job systems B4 compares, behind one interface: Facteur's engine (SQLite or
 * PostgreSQL) and BullMQ on Redis. Each has an add-only queue nobody consumes (single adds) and
 * a processing queue consumed at concurrency 100 by a no-op handler.
 */

/** Payload of a benchmark job; `t` is `performance.now()` just before the enqueue call. */
export interface BenchPayload {
  i: number;
  t?: number;
}

/** What B4 does with a job system. */
export interface JobSystem {
  /** Enqueues one job on the add-only queue (one call, one job). */
  addSingle(payload: BenchPayload): Promise<void>;
  /** Enqueues jobs on the processing queue in one call (one transaction / one addBulk). */
  addBulk(payloads: BenchPayload[]): Promise<void>;
  /** Enqueues one job on the processing queue. */
  addOne(payload: BenchPayload): Promise<void>;
  /** Starts consuming the processing queue; `onStart` runs first thing in each handler. */
  startProcessing(onStart: (payload: BenchPayload) => void): Promise<void>;
  /** Resolves once `count` jobs (in total, since start) have completed and been recorded. */
  waitCompleted(count: number): Promise<void>;
  /** Server-side CPU seconds so far (Redis), or undefined when the system runs in-process. */
  externalCpuSeconds(): Promise<number | undefined>;
  /** Server-side RSS (Redis), or undefined. */
  externalRssBytes(): Promise<number | undefined>;
  /** Stops consuming and releases every connection (and removes BullMQ's keys). */
  close(): Promise<void>;
}

/** Concurrency of the processing queue. */
export const CONCURRENCY = 100;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Facteur's job engine on the given database (migrated here). */
export async function openFacteurSystem(database: DatabaseConfig, prefix: string): Promise<JobSystem> {
  const store: Store = openStore(database, { logger: silentLogger() });
  await migrateToLatest(store);
  const engine = new JobEngine({
    store,
    clock: systemClock,
    logger: silentLogger(),
    leaseMs: 30_000,
    pollIntervalMs: 1000,
  });
  const singleQueue = `${prefix}.single`;
  const processQueue = `${prefix}.process`;
  let onStart: (payload: BenchPayload) => void = () => undefined;
  let started = 0;
  engine.register<BenchPayload>({
    name: processQueue,
    concurrency: CONCURRENCY,
    retry: { kind: 'exponential', initialDelayMs: 1000, maxDelayMs: 60_000 },
    handle: async (job) => {
      onStart(job.payload);
      started++;
      return undefined;
    },
  });
  const spec = (queue: string, payload: BenchPayload): JobSpec<BenchPayload> => ({
    queue,
    payload,
    maxAttempts: 3,
  });
  return {
    async addSingle(payload) {
      await engine.enqueue(spec(singleQueue, payload));
    },
    async addBulk(payloads) {
      const specs = payloads.map((p) => spec(processQueue, p));
      await store.transaction((tx) => enqueueJobs(tx, specs, systemClock.now()));
    },
    async addOne(payload) {
      await engine.enqueue(spec(processQueue, payload));
    },
    async startProcessing(handler) {
      onStart = handler;
      await engine.start();
    },
    async waitCompleted(count) {
      // A job is complete once its outcome is committed; the engine then frees its slot.
      while (started < count || engine.health().running > 0) await pause(1);
    },
    externalCpuSeconds: async () => undefined,
    externalRssBytes: async () => undefined,
    async close() {
      await engine.stop(10_000);
      await store.close();
    },
  };
}

function redisInfoNumber(info: string, field: string): number {
  const match = new RegExp(`^${field}:([0-9.]+)`, 'm').exec(info);
  return match ? Number(match[1]) : Number.NaN;
}

/** BullMQ on the Redis at `host:port`, with queue names unique to this run. */
export async function openBullmqSystem(host: string, port: number, prefix: string): Promise<JobSystem> {
  const connection = { host, port };
  const unique = `${prefix}-${process.pid}-${Date.now()}`;
  const singleQueue = new Queue<BenchPayload>(`${unique}-single`, { connection });
  const processQueue = new Queue<BenchPayload>(`${unique}-process`, { connection });
  const admin = new Redis({ host, port });
  await Promise.all([singleQueue.waitUntilReady(), processQueue.waitUntilReady()]);
  let worker: Worker<BenchPayload> | undefined;
  let completed = 0;
  let waiter: { count: number; resolve: () => void } | undefined;
  return {
    async addSingle(payload) {
      await singleQueue.add('job', payload);
    },
    async addBulk(payloads) {
      await processQueue.addBulk(payloads.map((data) => ({ name: 'job', data })));
    },
    async addOne(payload) {
      await processQueue.add('job', payload);
    },
    async startProcessing(onStart) {
      worker = new Worker<BenchPayload>(
        processQueue.name,
        async (job) => {
          onStart(job.data);
          return undefined;
        },
        { connection: { ...connection, maxRetriesPerRequest: null }, concurrency: CONCURRENCY },
      );
      worker.on('completed', () => {
        completed++;
        if (waiter && completed >= waiter.count) waiter.resolve();
      });
      worker.on('error', (error) => process.stderr.write(`bullmq worker: ${error.message}\n`));
      await worker.waitUntilReady();
    },
    waitCompleted(count) {
      if (completed >= count) return Promise.resolve();
      return new Promise((resolve) => {
        waiter = { count, resolve };
      });
    },
    async externalCpuSeconds() {
      const info = await admin.info('cpu');
      return redisInfoNumber(info, 'used_cpu_user') + redisInfoNumber(info, 'used_cpu_sys');
    },
    async externalRssBytes() {
      return redisInfoNumber(await admin.info('memory'), 'used_memory_rss');
    },
    async close() {
      await worker?.close();
      for (const queue of [singleQueue, processQueue]) {
        await queue.obliterate({ force: true });
        await queue.close();
      }
      await admin.quit();
    },
  };
}
